"""ROS 2 glue shared by the Actionable Models nodes: parameters <-> core configs, messages, QoS."""

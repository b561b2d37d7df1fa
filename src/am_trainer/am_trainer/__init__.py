"""The trainer node: offline Actionable Models training behind ROS 2 topics."""

"""ROS 2 nodes of the simulated cell: the sim node and a scripted pick-and-place demo."""

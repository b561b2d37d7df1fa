"""Launch files, configurations and the embedded runner that starts them without a ROS install."""

"""Episode recorder: camera, poses and commands into one rosbag2 bag per episode."""

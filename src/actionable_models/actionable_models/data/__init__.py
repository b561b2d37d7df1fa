"""Recorded robot experience: episode bags (rosbag2, MCAP) and the training dataset built from them."""

"""Actionable Models core library: simulation, data, learning. Imports no ROS."""

__version__ = "0.1.0"

"""Message building and QoS profiles shared by the cell's nodes (and the tests that talk to them)."""

from __future__ import annotations

import numpy as np
from builtin_interfaces.msg import Time as TimeMsg
from geometry_msgs.msg import PoseStamped
from rclpy.qos import QoSDurabilityPolicy, QoSProfile, QoSReliabilityPolicy

from actionable_models.geometry import quat_from_yaw

# Reliable + transient local: a late subscriber still gets the latest message (states, announcements).
LATCHED = QoSProfile(depth=1, reliability=QoSReliabilityPolicy.RELIABLE,
                     durability=QoSDurabilityPolicy.TRANSIENT_LOCAL)


def pose_stamped(pos: np.ndarray, quat_wxyz: np.ndarray, frame_id: str, stamp: TimeMsg | None = None) -> PoseStamped:
    """A PoseStamped from a position (3,) and a (w, x, y, z) quaternion."""
    msg = PoseStamped()
    msg.header.frame_id = frame_id
    if stamp is not None:
        msg.header.stamp = stamp
    msg.pose.position.x, msg.pose.position.y, msg.pose.position.z = (float(v) for v in pos)
    o = msg.pose.orientation
    o.w, o.x, o.y, o.z = (float(v) for v in quat_wxyz)
    return msg


def pose_command(pos: np.ndarray, yaw: float, frame_id: str, stamp: TimeMsg | None = None) -> PoseStamped:
    """A Cartesian command: gripper pointing down at ``yaw`` about the vertical axis, at ``pos``."""
    return pose_stamped(pos, quat_from_yaw(yaw), frame_id, stamp)

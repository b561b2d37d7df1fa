"""Pose conventions shared by the cell, the nodes and the learner.

The end effector always points down; its orientation is a yaw angle about the world's vertical axis.
As a quaternion (w, x, y, z) that is ``Rz(yaw) * R_down`` with ``R_down`` a half turn about x, the frame of
the gripper's pinch point. :func:`yaw_from_quat` reads the yaw of any quaternion from where it sends the
x axis, so a plain ``Rz(yaw)`` (a user who forgets the half turn) means the same yaw.
"""

from __future__ import annotations

import math

import numpy as np

# Half turn about x: gripper z axis points down at yaw 0 (w, x, y, z).
QUAT_DOWN = np.array([0.0, 1.0, 0.0, 0.0])


def quat_mul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Hamilton product of two (w, x, y, z) quaternions."""
    aw, ax, ay, az = a
    bw, bx, by, bz = b
    return np.array([
        aw * bw - ax * bx - ay * by - az * bz,
        aw * bx + ax * bw + ay * bz - az * by,
        aw * by - ax * bz + ay * bw + az * bx,
        aw * bz + ax * by - ay * bx + az * bw,
    ])


def quat_from_yaw(yaw: float) -> np.ndarray:
    """Orientation (w, x, y, z) of the downward-pointing gripper rotated by ``yaw`` about world z."""
    rz = np.array([math.cos(yaw / 2.0), 0.0, 0.0, math.sin(yaw / 2.0)])
    return quat_mul(rz, QUAT_DOWN)


def yaw_from_quat(quat: np.ndarray) -> float:
    """Yaw about world z of a (w, x, y, z) quaternion, read from the image of the x axis."""
    w, x, y, z = (float(v) for v in quat)
    r00 = 1.0 - 2.0 * (y * y + z * z)
    r10 = 2.0 * (x * y + w * z)
    return math.atan2(r10, r00)


def yaw_from_matrix(mat: np.ndarray) -> float:
    """Yaw about world z of a 3x3 rotation matrix (row-major, as MuJoCo's ``xmat`` reshaped)."""
    m = np.asarray(mat).reshape(3, 3)
    return math.atan2(m[1, 0], m[0, 0])


def wrap_angle(angle: float) -> float:
    """Angle wrapped into [-pi, pi)."""
    return (angle + math.pi) % (2.0 * math.pi) - math.pi


def wrap_half_turn(angle: float) -> float:
    """Angle wrapped into [-pi/2, pi/2): the parallel gripper looks the same after a half turn."""
    return (angle + math.pi / 2.0) % math.pi - math.pi / 2.0

"""The proprio input of the Q-network (``LearnerConfig.use_proprio``): the measured gripper pose and closure.

[x, y, z, yaw, closure] of the current state, each mapped to about [-1, 1] by fixed constants: x, y, z
by the centre and half-size of the cell's default workspace box (``CellConfig.workspace_min`` /
``workspace_max``), yaw by half the range of ``CellConfig.yaw_limits``, closure 0 (open) .. 1 (closed) to
-1 .. +1. Fixed constants, not data statistics, so a checkpoint needs nothing else to be deployed: the
policy scales the pose and closure it measures with the same numbers. The constants are written out here
(the learner does not import the simulator); a test checks them against ``CellConfig``'s defaults. A pose
outside the box scales past +-1; nothing is clipped.

Never the goal's: a goal is an image only (a goal PNG holds no pose).
"""

from __future__ import annotations

import math

import numpy as np

PROPRIO_DIM = 5
"""x, y, z, yaw, closure."""
WORKSPACE_MIN = (0.25, -0.30, 0.005)
"""CellConfig.workspace_min (m, base frame)."""
WORKSPACE_MAX = (0.65, 0.30, 0.35)
"""CellConfig.workspace_max (m, base frame)."""
YAW_LIMITS = (-math.pi / 2, math.pi / 2)
"""CellConfig.yaw_limits (rad)."""

_CENTRE = np.array([(lo + hi) / 2 for lo, hi in zip(WORKSPACE_MIN, WORKSPACE_MAX)]
                   + [(YAW_LIMITS[0] + YAW_LIMITS[1]) / 2, 0.5], dtype=np.float32)
_HALF = np.array([(hi - lo) / 2 for lo, hi in zip(WORKSPACE_MIN, WORKSPACE_MAX)]
                 + [(YAW_LIMITS[1] - YAW_LIMITS[0]) / 2, 0.5], dtype=np.float32)


def proprio_vector(ee_pose: np.ndarray, closure: np.ndarray | float) -> np.ndarray:
    """Scaled proprio (..., 5) float32 from measured poses (..., 4: x, y, z, yaw) and closures (...,) 0..1."""
    ee_pose = np.asarray(ee_pose, dtype=np.float32)
    closure = np.asarray(closure, dtype=np.float32)
    if ee_pose.shape[-1] != 4 or ee_pose.shape[:-1] != closure.shape:
        raise ValueError(f"proprio needs poses (..., 4) and closures (...,), got {ee_pose.shape} and {closure.shape}")
    raw = np.concatenate([ee_pose, closure[..., None]], axis=-1)
    return ((raw - _CENTRE) / _HALF).astype(np.float32)

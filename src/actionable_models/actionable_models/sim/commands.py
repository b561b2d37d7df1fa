"""Checks on incoming arm commands: reject what cannot be executed, clamp what can, say why.

Used by the sim node (and later the real-arm adapter) so that every driver treats bad commands alike.
A rejected command leaves the previous target in place; the sim keeps running.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from actionable_models.geometry import yaw_from_quat
from actionable_models.sim.config import CellConfig


@dataclass
class CheckedPose:
    """Outcome of :func:`check_pose_command`: the pose to use (None when rejected) and the problems found."""

    pos: np.ndarray | None
    yaw: float | None
    problems: list[str] = field(default_factory=list)

    @property
    def accepted(self) -> bool:
        """True when the command (possibly clamped) should be executed."""
        return self.pos is not None


@dataclass
class CheckedGripper:
    """Outcome of :func:`check_gripper_command`."""

    value: float | None
    problems: list[str] = field(default_factory=list)

    @property
    def accepted(self) -> bool:
        """True when the command (possibly clamped) should be executed."""
        return self.value is not None


def check_pose_command(position: np.ndarray, quat_wxyz: np.ndarray, frame_id: str, expected_frame: str,
                       config: CellConfig) -> CheckedPose:
    """Validate a target pose: frame, finite numbers, a usable quaternion; clamp to the workspace and yaw limits."""
    position = np.asarray(position, dtype=float)
    quat = np.asarray(quat_wxyz, dtype=float)
    if frame_id != expected_frame:
        return CheckedPose(None, None, [f"pose command in frame_id {frame_id!r}, expected {expected_frame!r}; "
                                        "ignored (transform it to the arm's base frame first)"])
    if not (np.all(np.isfinite(position)) and np.all(np.isfinite(quat))):
        return CheckedPose(None, None, [f"pose command has non-finite values (position {position.tolist()}, "
                                        f"orientation {quat.tolist()}); ignored"])
    norm = float(np.linalg.norm(quat))
    if norm < 1e-6:
        return CheckedPose(None, None, ["pose command has a zero quaternion; ignored (use w=1 for yaw 0)"])
    problems = []
    lo, hi = np.asarray(config.workspace_min), np.asarray(config.workspace_max)
    clamped = np.clip(position, lo, hi)
    if not np.array_equal(clamped, position):
        problems.append(f"pose command position {np.round(position, 4).tolist()} is outside the workspace box "
                        f"{lo.tolist()}..{hi.tolist()}; clamped to {np.round(clamped, 4).tolist()}")
    yaw = yaw_from_quat(quat / norm)
    ylo, yhi = config.yaw_limits
    clamped_yaw = min(max(yaw, ylo), yhi)
    if clamped_yaw != yaw:
        problems.append(f"pose command yaw {yaw:.3f} rad is outside [{ylo:.3f}, {yhi:.3f}]; "
                        f"clamped to {clamped_yaw:.3f}")
    return CheckedPose(clamped, clamped_yaw, problems)


def check_gripper_command(value: float) -> CheckedGripper:
    """Validate a gripper closure: finite, clamped to 0 (open) .. 1 (closed)."""
    value = float(value)
    if not math.isfinite(value):
        return CheckedGripper(None, [f"gripper command {value} is not finite; ignored"])
    clamped = min(max(value, 0.0), 1.0)
    if clamped != value:
        return CheckedGripper(clamped, [f"gripper command {value} is outside 0 (open) .. 1 (closed); "
                                        f"clamped to {clamped}"])
    return CheckedGripper(value)

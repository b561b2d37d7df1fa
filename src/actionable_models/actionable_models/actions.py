"""The action space shared by the dataset, the learner and the policy (QT-Opt lineage, DESIGN.md).

A normalised action in [-1, 1]^6: Cartesian translation of the pinch point (3), rotation about the
vertical axis (1), gripper closure (1: -1 open .. +1 closed) and terminate (1: > 0 ends the episode).
Translation and yaw are deltas from the *measured* pose, scaled by what the cell can do in one control
step, so an action always maps to an absolute target the arm can reach in a step.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from actionable_models.errors import ConfigError
from actionable_models.geometry import wrap_angle

ACTION_DIM = 6
TRANSLATION = slice(0, 3)
YAW = 3
GRIPPER = 4
TERMINATE = 5


@dataclass(frozen=True)
class ActionSpec:
    """Scales between normalised actions and metric deltas."""

    max_translation_m: float = 0.10
    """Translation per step at action 1.0; the cell's default max_linear_speed (0.5 m/s) over 5 Hz."""
    max_yaw_rad: float = 0.6
    """Yaw change per step at action 1.0 (the cell turns at most 3 rad/s over 5 Hz)."""

    def __post_init__(self) -> None:
        for name in ("max_translation_m", "max_yaw_rad"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"{name} must be positive, got {getattr(self, name)!r}")

    def normalize(self, target_pos: np.ndarray, target_yaw: float, gripper: float, ee_pos: np.ndarray,
                  ee_yaw: float, terminate: bool = False) -> np.ndarray:
        """Normalised action (6,) float32 that moves from the measured pose toward the commanded one."""
        action = np.empty(ACTION_DIM, dtype=np.float32)
        delta = np.asarray(target_pos, dtype=float) - np.asarray(ee_pos, dtype=float)
        length = float(np.linalg.norm(delta))
        if length > self.max_translation_m:
            # A far target: the cell covers max_translation_m along the line to it in one step. Shorten the
            # delta, keeping its direction, instead of clipping each axis on its own.
            delta *= self.max_translation_m / length
        action[TRANSLATION] = delta / self.max_translation_m
        action[YAW] = wrap_angle(float(target_yaw) - float(ee_yaw)) / self.max_yaw_rad
        action[GRIPPER] = 2.0 * float(gripper) - 1.0
        action[TERMINATE] = 1.0 if terminate else -1.0
        return np.clip(action, -1.0, 1.0)

    def from_command(self, target_pos: np.ndarray, target_yaw: float, gripper: float, ee_pos: np.ndarray,
                     ee_yaw: float) -> np.ndarray:
        """The normalised action (6,) float32 whose :meth:`to_command` is this command, exactly, for a target
        within one step of the measured pose (per axis): unlike :meth:`normalize`, which shortens a far
        target's delta to one step's length, it keeps each axis's delta, so a policy's own commands are
        recorded as the actions it chose. Axes beyond one step are clipped to +-1; terminate is off."""
        action = np.empty(ACTION_DIM, dtype=np.float32)
        action[TRANSLATION] = (np.asarray(target_pos, dtype=float) - np.asarray(ee_pos, dtype=float)) \
            / self.max_translation_m
        action[YAW] = (float(target_yaw) - float(ee_yaw)) / self.max_yaw_rad
        action[GRIPPER] = 2.0 * float(gripper) - 1.0
        action[TERMINATE] = -1.0
        return np.clip(action, -1.0, 1.0)

    def to_command(self, action: np.ndarray, ee_pos: np.ndarray,
                   ee_yaw: float) -> tuple[np.ndarray, float, float, bool]:
        """Absolute target (position, yaw), gripper closure 0..1 and terminate flag of a normalised action."""
        action = np.clip(np.asarray(action, dtype=float), -1.0, 1.0)
        pos = np.asarray(ee_pos, dtype=float) + action[TRANSLATION] * self.max_translation_m
        yaw = float(ee_yaw) + float(action[YAW]) * self.max_yaw_rad
        return pos, yaw, 0.5 * (float(action[GRIPPER]) + 1.0), bool(action[TERMINATE] > 0.0)

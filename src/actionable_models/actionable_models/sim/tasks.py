"""Privileged success checks and goal specifications for the paper's three tasks, and arm reaching.

Tasks (Chebotar et al. 2021, Sec. 6): instance grasping (hold a named object up), rearrangement (a named
object at a place on the table), container placing (a named object inside the open container). Reaching
(the gripper at a place in the air, objects untouched) is the simplest visual goal: a sanity check of a
learned policy that needs no object interaction.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from actionable_models.errors import UnknownNameError
from actionable_models.sim import scene
from actionable_models.sim.layouts import get_object
from actionable_models.sim.state import SceneState

PAPER_TASKS = ("instance_grasping", "rearrangement", "container_placing")
TASKS = PAPER_TASKS + ("reaching",)

LIFT_HEIGHT = 0.05  # m above the object's resting height that counts as lifted
HOLD_DISTANCE = 0.06  # m between object centre and pinch point that counts as held
POSITION_TOLERANCE = 0.04  # m, rearrangement
REST_TOLERANCE = 0.015  # m above resting height that still counts as lying on the table
STACK_ALLOWANCE = 0.03  # m above the container rim an object may rest (on another object inside)
REACH_TOLERANCE = 0.04  # m between the pinch point and the reaching target


def check_task(name: str) -> str:
    """``name`` if it is a known task, else :class:`UnknownNameError` naming the known ones."""
    if name not in TASKS:
        raise UnknownNameError(f"unknown task {name!r}; known tasks: {', '.join(TASKS)}")
    return name


def is_grasped_and_lifted(state: SceneState, obj: str, lift_height: float = LIFT_HEIGHT) -> bool:
    """Object raised ``lift_height`` above its resting height and held between the fingers."""
    pos = state.object_pos(obj)
    lifted = pos[2] >= get_object(obj).rest_height + lift_height
    held = np.linalg.norm(pos - state.ee_pos) <= HOLD_DISTANCE and state.gripper > 0.05
    return bool(lifted and held)


def is_ee_at(state: SceneState, xyz: np.ndarray, tolerance: float = REACH_TOLERANCE) -> bool:
    """The gripper's pinch point within ``tolerance`` of ``xyz``."""
    return bool(np.linalg.norm(state.ee_pos - np.asarray(xyz, dtype=float)) <= tolerance)


def is_at_position(state: SceneState, obj: str, xy: np.ndarray, tolerance: float = POSITION_TOLERANCE) -> bool:
    """Object resting on the table with its centre within ``tolerance`` of ``xy``."""
    pos = state.object_pos(obj)
    resting = pos[2] <= get_object(obj).rest_height + REST_TOLERANCE
    return bool(resting and np.linalg.norm(pos[:2] - np.asarray(xy)[:2]) <= tolerance)


def is_in_container(state: SceneState, obj: str) -> bool:
    """Object centre inside the container's walls, no higher than one object above the rim, not held."""
    pos = state.object_pos(obj)
    inner = scene.CONTAINER_HALF - scene.CONTAINER_WALL
    dx, dy = np.abs(pos[:2] - state.container[:2])
    low_enough = pos[2] <= state.container[2] + scene.CONTAINER_WALL_HEIGHT + STACK_ALLOWANCE
    held = state.finger_contacts.get(obj, 0) >= 2
    return bool(dx < inner and dy < inner and low_enough and not held)


@dataclass(frozen=True)
class GoalSpec:
    """What a goal asks for, enough to test success from a privileged state."""

    task: str
    object: str | None  # None for reaching
    seed: int
    layout: str
    target_xy: tuple[float, float] | None = None  # rearrangement only
    target_xyz: tuple[float, float, float] | None = None  # reaching only: where the pinch point goes

    def __post_init__(self) -> None:
        check_task(self.task)
        if self.task == "reaching":
            if self.target_xyz is None:
                raise ValueError("a reaching goal needs target_xyz")
            return
        get_object(self.object)
        if self.task == "rearrangement" and self.target_xy is None:
            raise ValueError("a rearrangement goal needs target_xy")

    def is_success(self, state: SceneState) -> bool:
        """The privileged success test of this goal."""
        if self.task == "reaching":
            return is_ee_at(state, np.asarray(self.target_xyz))
        if self.task == "instance_grasping":
            return is_grasped_and_lifted(state, self.object)
        if self.task == "rearrangement":
            return is_at_position(state, self.object, np.asarray(self.target_xy))
        return is_in_container(state, self.object)

    def to_dict(self) -> dict:
        """Plain dict for JSON."""
        return asdict(self)

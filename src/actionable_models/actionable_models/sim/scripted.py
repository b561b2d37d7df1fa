"""A scripted pick-and-place controller that reads privileged poses: the oracle behind goal images and demos.

It maps a :class:`SceneState` to the next Cartesian command, phase by phase (hover over the object,
descend, close, lift, then carry and place on the table or drop into the container). The same script runs
directly on a :class:`~actionable_models.sim.cell.Cell` and, through ROS topics, in the demo node.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from actionable_models.geometry import wrap_half_turn
from actionable_models.sim.layouts import get_object
from actionable_models.sim.state import SceneState

HOVER_Z = 0.14  # pinch height over an object before descending, m
CARRY_Z = 0.20  # pinch height while carrying, m
DROP_Z = 0.16  # pinch height over the container when opening, m
REACH_TOL = 0.012  # m: a waypoint counts as reached
PASS_TOL = 0.03  # m: a waypoint the gripper only passes on its way (hover, carry) counts as reached
CLOSE_STEPS = 2  # control steps the fingers get to close (the 2F-85 closes on an object in about 0.3 s)
RELEASE_STEPS = 2  # control steps the fingers get to open before the gripper retreats
FINGER_WAIT_STEPS = 10  # longest the script waits for the fingers to close on or open off an object
GRASP_DEPTH = 0.006  # m below the object's centre the pinch point goes, floor-limited
MIN_GRASP_Z = 0.012


@dataclass
class Command:
    """One Cartesian command: target pinch position (3,), yaw (rad), gripper closure 0..1."""

    pos: np.ndarray
    yaw: float
    gripper: float


@dataclass
class _Phase:
    name: str
    gripper: float
    min_steps: int = 0  # hold at least this long
    max_steps: int = 40  # give up waiting for the waypoint after this long
    needs_reach: bool = True
    tol: float = REACH_TOL  # m: the waypoint counts as reached


class PickPlaceScript:
    """Pick ``obj`` then ``finish``: 'lift' (hold it up), 'place' (at ``place_xy``) or 'container'.

    Call :meth:`act` once per control step with the latest state; it returns None when the script is over.
    """

    def __init__(self, obj: str, finish: str = "lift", place_xy: tuple[float, float] | None = None) -> None:
        if finish not in ("lift", "place", "container"):
            raise ValueError(f"finish must be 'lift', 'place' or 'container', got {finish!r}")
        if finish == "place" and place_xy is None:
            raise ValueError("finish='place' needs place_xy")
        self.obj = obj
        self.finish = finish
        self.place_xy = None if place_xy is None else np.asarray(place_xy, dtype=float)
        self._spec = get_object(obj)
        # Like a person at the controls: pass through the approach points without stopping, wait only for
        # the fingers (timings at the cell's default 5 Hz).
        phases = [_Phase("hover", 0.0, max_steps=20, tol=PASS_TOL), _Phase("descend", 0.0, max_steps=12),
                  _Phase("close", 1.0, min_steps=CLOSE_STEPS, needs_reach=False),
                  _Phase("lift", 1.0, max_steps=15, tol=PASS_TOL)]
        if finish == "lift":
            phases.append(_Phase("hold", 1.0, min_steps=1, needs_reach=False))
        else:
            phases += [_Phase("carry", 1.0, max_steps=25, tol=PASS_TOL), _Phase("lower", 1.0, max_steps=12),
                       _Phase("release", 0.0, min_steps=RELEASE_STEPS, needs_reach=False),
                       _Phase("retreat", 0.0, max_steps=12, tol=PASS_TOL)]
        self._phases = phases
        self._index = 0
        self._steps_in_phase = 0
        self._grasp_xy: np.ndarray | None = None
        self._grasp_yaw = 0.0
        self.phase_log: list[tuple[str, int]] = []  # (phase, steps spent)

    @property
    def phase(self) -> str:
        """Name of the current phase, or 'done'."""
        return self._phases[self._index].name if self._index < len(self._phases) else "done"

    @property
    def done(self) -> bool:
        """True once every phase has run."""
        return self._index >= len(self._phases)

    def _target(self, name: str, state: SceneState) -> tuple[np.ndarray, float]:
        obj_pos = state.object_pos(self.obj)
        if name in ("hover", "descend") or self._grasp_xy is None:
            # Track the object until the fingers close on it.
            self._grasp_xy = obj_pos[:2].copy()
            self._grasp_yaw = wrap_half_turn(state.object_yaw(self.obj))  # fingers close across local y
        xy, yaw = self._grasp_xy, self._grasp_yaw
        grasp_z = max(obj_pos[2] - GRASP_DEPTH, MIN_GRASP_Z) if name == "descend" else None
        if name == "hover":
            return np.array([*xy, HOVER_Z]), yaw
        if name in ("descend", "close"):
            z = grasp_z if grasp_z is not None else max(self._spec.rest_height - GRASP_DEPTH, MIN_GRASP_Z)
            return np.array([*xy, z]), yaw
        if name in ("lift", "hold"):
            return np.array([*xy, CARRY_Z]), yaw
        goal_xy = state.container[:2] if self.finish == "container" else self.place_xy
        if name == "carry":
            return np.array([*goal_xy, CARRY_Z]), yaw
        if name in ("lower", "release"):
            z = DROP_Z if self.finish == "container" else self._spec.rest_height + 0.01
            return np.array([*goal_xy, z]), yaw
        return np.array([*goal_xy, CARRY_Z]), yaw  # retreat

    def _fingers_done(self, phase: str, state: SceneState) -> bool:
        """Whether the fingers have finished closing on (or opening off) the object, so that the timings
        hold at control rates other than the default 5 Hz too (there the fingers take more steps)."""
        contacts = state.finger_contacts.get(self.obj, 0)
        if phase == "close":
            return contacts >= 2 or state.gripper >= 0.95 or self._steps_in_phase >= FINGER_WAIT_STEPS
        if phase == "release":
            return contacts == 0 or self._steps_in_phase >= FINGER_WAIT_STEPS
        return True

    def act(self, state: SceneState) -> Command | None:
        """The command for this control step, or None when the script has finished."""
        while self._index < len(self._phases):
            phase = self._phases[self._index]
            pos, yaw = self._target(phase.name, state)
            reached = np.linalg.norm(state.ee_pos - pos) <= phase.tol
            held_enough = self._steps_in_phase >= phase.min_steps and self._fingers_done(phase.name, state)
            timed_out = self._steps_in_phase >= phase.max_steps
            if held_enough and (reached or not phase.needs_reach or timed_out) and self._steps_in_phase > 0:
                self.phase_log.append((phase.name, self._steps_in_phase))
                self._index += 1
                self._steps_in_phase = 0
                continue
            self._steps_in_phase += 1
            return Command(pos, yaw, phase.gripper)
        return None


def run_script(cell, script: PickPlaceScript, max_steps: int = 300, on_step=None) -> SceneState:
    """Drive ``cell`` with ``script`` until it finishes (or ``max_steps``); returns the final privileged state.

    ``on_step(cell, command)`` is called after every control step, for example to record frames.
    """
    for _ in range(max_steps):
        command = script.act(cell.scene_state())
        if command is None:
            break
        cell.set_command(command.pos, command.yaw, command.gripper)
        cell.step()
        if on_step is not None:
            on_step(cell, command)
    return cell.scene_state()


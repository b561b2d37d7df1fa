"""Scripted, noisy play: varied unlabelled robot experience for the offline dataset.

Actionable Models (Chebotar et al. 2021, Sec. 5) learns goal reaching offline from the experience of
earlier tasks, relabelled with hindsight goals; it needs varied data, not task labels. This script stands
in for that data. Each episode is a random sequence of short primitives (grasp and lift, place on the
table, drop into the container, push, reach, random motion, release) until its budget of control steps is
used up. Every command gets Gaussian position and yaw noise and, now and then, a flipped gripper for one
step, and a share of the grasps is botched on purpose (offset grasp point, early close, aborted descent).

Like :mod:`~actionable_models.sim.scripted`, whose pick-and-place script it reuses, it reads privileged
poses, never images. All randomness comes from the generator it is given: the same seed and the same
states give the same commands.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np

from actionable_models.errors import ConfigError
from actionable_models.geometry import wrap_half_turn
from actionable_models.sim import scene
from actionable_models.sim.cell import CONTAINER_CLEARANCE, MIN_OBJECT_GAP, OBJECT_AREA
from actionable_models.sim.config import CellConfig
from actionable_models.sim.layouts import OBJECTS, get_object
from actionable_models.sim.scripted import (CARRY_Z, CLOSE_STEPS, DROP_Z, HOVER_Z, REACH_TOL, RELEASE_STEPS, Command,
                                            PickPlaceScript)
from actionable_models.sim.state import SceneState
from actionable_models.sim.tasks import is_at_position, is_grasped_and_lifted, is_in_container

PRIMITIVES = ("grasp_lift", "place", "container", "push", "reach", "random_motion", "release")
OBJECT_PRIMITIVES = ("grasp_lift", "place", "container", "push")  # need an object inside the workspace box
BOTCHES = ("offset", "early_close", "abort")

# Magnitudes below are not fixed by the paper (its data came from RL policies); chosen in this cell.
OFFSET_GRASP_M = (0.02, 0.035)  # botched grasp point this far past the object's end (fingers are ~20 mm wide)
EARLY_CLOSE_ABOVE_M = (0.015, 0.04)  # botched: the fingers close this far above the object's top
ABORT_AFTER_STEPS = (1, 2)  # botched: descent steps before the attempt is given up
PUSH_APPROACH_M = 0.09  # a push starts this far before the object's centre: longest half length (46 mm) + fingers
PUSH_Z = 0.022  # pinch height of a push: closed fingertips touch the table at 17.5 mm, object centres are >= 18 mm
PUSH_CLEAR_Z = 0.09  # pinch height to and from a push, over the objects (<= 56 mm) and the container (55 mm)
PUSH_TOL = 0.02  # m: a push waypoint counts as reached (looser than REACH_TOL: it only shapes the stroke)
REACH_Z = (0.07, 0.30)  # height range of random reach targets: over the objects (<= 45 mm) and container (55 mm)
RANDOM_YAW_STEP_RAD = 0.6  # largest yaw change of one random-motion step: what the cell turns in a 5 Hz step
PLACE_CLEARANCE_M = 0.01  # a carried object is let go this far above its resting height, as scripted.py does
MISS_OFFSET_M = (0.04, 0.20)  # a missed approach ends this far beside the object (xy), as a learning policy's does
MISS_Z = (0.012, 0.04)  # pinch height range of a missed approach: at the table, where the fingers would close


def default_primitive_weights() -> dict[str, float]:
    """The default mix of primitives: relative weights by name."""
    return {"grasp_lift": 2.0, "place": 2.0, "container": 1.5, "push": 2.0, "reach": 1.0, "random_motion": 1.0,
            "release": 0.5}


def weights_of(primitives: list[str]) -> dict[str, float]:
    """The default weights of just the named primitives (a restricted mix); ConfigError naming unknown ones."""
    unknown = sorted(set(primitives) - set(PRIMITIVES))
    if unknown or not primitives:
        raise ConfigError(f"primitives must name some of {', '.join(PRIMITIVES)}; got {list(primitives)}"
                          + (f" (unknown: {', '.join(unknown)})" if unknown else ""))
    defaults = default_primitive_weights()
    return {name: defaults[name] for name in primitives}


@dataclass
class PlayConfig:
    """What shapes a play episode: its length, the noise on commands, failures and the mix of primitives."""

    episode_steps: int = 60
    """Control steps per episode; the script returns None after this many commands."""
    position_noise_m: float = 0.01
    """Standard deviation of the Gaussian noise added to each axis of every commanded position, m."""
    yaw_noise_rad: float = 0.1
    """Standard deviation of the Gaussian noise added to every commanded yaw, rad."""
    gripper_flip_prob: float = 0.02
    """Probability that the gripper command of one step is flipped (open <-> closed)."""
    failure_prob: float = 0.2
    """Probability that a grasp attempt is botched on purpose (offset grasp point, early close or aborted descent)."""
    primitive_weights: dict[str, float] = field(default_factory=default_primitive_weights)
    """Relative weights of the primitives the next one is drawn from (names in PRIMITIVES; missing means 0)."""
    object_weights: dict[str, float] = field(default_factory=dict)
    """Relative weights of the objects a grasp or push picks (missing means 1; empty: uniform), to aim play
    at one object more often, e.g. for a task dataset with more of its successes. Names must be known
    objects; one the layout lacks is never picked. Any non-empty dict draws from the generator in another
    way than the uniform default, so it gives other episodes even where its weights are all equal."""
    random_motion_steps: tuple[int, int] = (3, 8)
    """Inclusive range of the number of steps of one random-motion primitive."""
    random_motion_step_m: float = 0.06
    """Largest per-axis change of the target in one random-motion step, m (uniform)."""
    push_through_m: tuple[float, float] = (0.0, 0.04)
    """Range of how far past the object's centre a push ends, m (uniform); the object moves ~4 cm more."""
    miss_approach_prob: float = 0.0
    """Probability that a grasp starts with a missed approach, then recovers: the open gripper heads straight
    down to the table 4-20 cm beside the object, half the time closes and reopens there, then rises and
    grasps as scripted. A learning policy makes that mistake (a person at the controls too); without it the
    data hardly shows the gripper low beside an object and what to do there. At 0.3 it did not mend either
    method's approach on the state rung (docs/learning.md), so it is off. 0 (the default) draws nothing
    more from the generator: the same episodes as before the option existed."""

    def __post_init__(self) -> None:
        if isinstance(self.episode_steps, bool) or not isinstance(self.episode_steps, (int, np.integer)) \
                or self.episode_steps < 1:
            raise ConfigError(f"episode_steps must be a positive integer, got {self.episode_steps!r}")
        self.episode_steps = int(self.episode_steps)
        for name in ("position_noise_m", "yaw_noise_rad", "random_motion_step_m"):
            value = getattr(self, name)
            if not _is_real(value) or not 0.0 <= value < math.inf:
                raise ConfigError(f"{name} must be a finite number >= 0, got {value!r}")
            setattr(self, name, float(value))
        for name in ("gripper_flip_prob", "failure_prob", "miss_approach_prob"):
            value = getattr(self, name)
            if not _is_real(value) or not 0.0 <= value <= 1.0:
                raise ConfigError(f"{name} must be a probability in [0, 1], got {value!r}")
            setattr(self, name, float(value))
        weights = self.primitive_weights
        if not isinstance(weights, dict) or not weights:
            raise ConfigError(f"primitive_weights must be a non-empty dict of primitive -> weight, got {weights!r}")
        unknown = sorted(set(weights) - set(PRIMITIVES))
        if unknown:
            raise ConfigError(f"primitive_weights has unknown primitives {unknown}; known: {', '.join(PRIMITIVES)}")
        for name, value in weights.items():
            if not _is_real(value) or not 0.0 <= value < math.inf:
                raise ConfigError(f"primitive_weights[{name!r}] must be a finite number >= 0, got {value!r}")
        if sum(weights.values()) <= 0.0:
            raise ConfigError(f"primitive_weights must have a positive weight, got {weights!r}")
        self.primitive_weights = {name: float(value) for name, value in weights.items()}
        if not isinstance(self.object_weights, dict):
            raise ConfigError(f"object_weights must be a dict of object -> weight, got {self.object_weights!r}")
        unknown = sorted(set(self.object_weights) - set(OBJECTS))
        if unknown:
            raise ConfigError(f"object_weights has unknown objects {unknown}; known: {', '.join(sorted(OBJECTS))}")
        for name, value in self.object_weights.items():
            if not _is_real(value) or not 0.0 < value < math.inf:
                raise ConfigError(f"object_weights[{name!r}] must be a finite number > 0, got {value!r}")
        self.object_weights = {name: float(value) for name, value in self.object_weights.items()}
        lo, hi = self._pair("random_motion_steps")
        if lo != int(lo) or hi != int(hi) or not 1 <= lo <= hi:
            raise ConfigError(
                f"random_motion_steps must be integers 1 <= low <= high, got {self.random_motion_steps!r}")
        self.random_motion_steps = (int(lo), int(hi))
        lo, hi = self._pair("push_through_m")
        if not 0.0 <= lo <= hi <= 0.2:
            raise ConfigError(f"push_through_m must be 0 <= low <= high <= 0.2 m, got {self.push_through_m!r}")
        self.push_through_m = (lo, hi)

    def _pair(self, name: str) -> tuple[float, float]:
        value = getattr(self, name)
        try:
            lo, hi = value
        except (TypeError, ValueError):
            raise ConfigError(f"{name} must be a pair (low, high), got {value!r}") from None
        if not (_is_real(lo) and _is_real(hi)):
            raise ConfigError(f"{name} must be a pair of numbers, got {value!r}")
        return float(lo), float(hi)



def parse_object_weights(text: str) -> dict[str, float]:
    """``"red_cube=4,blue_bar=2"`` -> PlayConfig.object_weights; "" -> {} (uniform). ConfigError names a bad item."""
    weights = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, sep, value = item.partition("=")
        try:
            weight = float(value)
        except ValueError:
            weight = math.nan
        if not sep or not name.strip() or math.isnan(weight):
            raise ConfigError(f"object_weights: {item!r} is not NAME=WEIGHT")
        weights[name.strip()] = weight
    PlayConfig(object_weights=weights)  # unknown objects and weights <= 0 are named here
    return weights


def _is_real(value: object) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool) \
        and math.isfinite(value)


def _half_length(obj: str) -> float:
    """Half extent (m) of an object along its body x axis (the fingers' width axis when grasped)."""
    spec = get_object(obj)
    if spec.shape == "capsule" and spec.lying:  # turned so that its axis is the body's x axis
        return spec.size[0] + spec.size[1]
    return spec.size[0]


# --------------------------------------------------------------------------------------------- drivers
@dataclass
class _Waypoint:
    pos: np.ndarray
    yaw: float
    gripper: float
    min_steps: int = 0  # hold at least this long
    max_steps: int = 6  # give up waiting for the waypoint after this long (5 steps cross the workspace)
    needs_reach: bool = True
    tol: float = REACH_TOL  # m: the waypoint counts as reached


class _Waypoints:
    """Visits waypoints in order; like PickPlaceScript's phases, but with fixed targets."""

    def __init__(self, waypoints: list[_Waypoint]) -> None:
        self._waypoints = waypoints
        self._index = 0
        self._steps = 0

    def act(self, state: SceneState, ee_pos: np.ndarray) -> Command | None:
        while self._index < len(self._waypoints):
            wp = self._waypoints[self._index]
            reached = np.linalg.norm(ee_pos - wp.pos) <= wp.tol
            if self._steps > 0 and self._steps >= wp.min_steps and (
                    reached or not wp.needs_reach or self._steps >= wp.max_steps):
                self._index += 1
                self._steps = 0
                continue
            self._steps += 1
            return Command(wp.pos.copy(), wp.yaw, wp.gripper)
        return None


class _Pick:
    """PickPlaceScript, optionally botched; a grasp that does not hold ends the attempt after the lift."""

    def __init__(self, obj: str, finish: str, place_xy: np.ndarray | None, botch: str | None,
                 rng: np.random.Generator, miss: list[_Waypoint] | None = None) -> None:
        self._obj = obj
        self._miss = _Waypoints(miss) if miss else None  # a missed approach to recover from first
        self._script = PickPlaceScript(obj, finish, None if place_xy is None else tuple(place_xy))
        self._botch = botch
        self._offset_m = 0.0
        self._switch_after = 0  # descent steps before an early close or abort takes over
        if botch == "offset":  # along the object's long axis, beside one end: the fingers close on nothing
            self._offset_m = (_half_length(obj) + rng.uniform(*OFFSET_GRASP_M)) * rng.choice([-1.0, 1.0])
        elif botch == "early_close":
            self._close_above = rng.uniform(*EARLY_CLOSE_ABOVE_M)
        elif botch == "abort":
            self._switch_after = int(rng.integers(ABORT_AFTER_STEPS[0], ABORT_AFTER_STEPS[1] + 1))
        self._descend_steps = 0
        self._tail: _Waypoints | None = None
        self._checked = finish == "lift"

    def act(self, state: SceneState, ee_pos: np.ndarray) -> Command | None:
        if self._miss is not None:
            command = self._miss.act(state, ee_pos)
            if command is not None:
                return command
            self._miss = None
        if self._tail is not None:
            return self._tail.act(state, ee_pos)
        objects = state.objects
        if self._offset_m:  # the script believes the object is off its true place
            pose = np.array(objects[self._obj], dtype=float)
            yaw = state.object_yaw(self._obj)
            pose[:2] += self._offset_m * np.array([np.cos(yaw), np.sin(yaw)])
            objects = {**objects, self._obj: pose}
        command = self._script.act(replace(state, objects=objects, ee_pos=ee_pos))
        if command is None:
            return None
        phase = self._script.phase
        if phase == "descend" and self._botch in ("early_close", "abort"):
            if self._descend_steps >= self._switch_after:
                self._tail = _Waypoints(self._botched_tail(command))
                return self._tail.act(state, ee_pos)
            self._descend_steps += 1
        if phase == "carry" and not self._checked:
            self._checked = True
            if not is_grasped_and_lifted(state, self._obj):
                return None  # missed: a new primitive starts instead of carrying empty fingers
        return command

    def _botched_tail(self, command: Command) -> list[_Waypoint]:
        xy, yaw = command.pos[:2], command.yaw
        if self._botch == "early_close":
            z = 2.0 * get_object(self._obj).rest_height + self._close_above  # the object's top + a gap
            return [_Waypoint(np.array([*xy, z]), yaw, 1.0, min_steps=CLOSE_STEPS, max_steps=CLOSE_STEPS,
                              needs_reach=False),
                    _Waypoint(np.array([*xy, CARRY_Z]), yaw, 1.0)]
        return [_Waypoint(np.array([*xy, HOVER_Z]), yaw, 0.0)]  # abort: back up, fingers open


@dataclass
class _Primitive:
    kind: str
    obj: str | None
    driver: _Waypoints | _Pick
    check: Callable[[SceneState], bool] | None = None  # privileged success test, where one applies
    botch: str | None = None
    steps: int = 0

    @property
    def name(self) -> str:
        return self.kind if self.obj is None else f"{self.kind}:{self.obj}"


# ------------------------------------------------------------------------------------------- the script
class PlayScript:
    """One episode of noisy play: call :meth:`act` once per control step with the latest privileged state.

    Make a new script (with its own seeded generator) for every episode. ``cell`` gives the workspace box
    and yaw limits every command is clamped to (default: ``CellConfig()``'s); pass the cell's own config
    when it is not the default.
    """

    def __init__(self, rng: np.random.Generator, config: PlayConfig | None = None, *,
                 cell: CellConfig | None = None) -> None:
        self.config = config or PlayConfig()
        cell = cell or CellConfig()
        self._rng = rng
        self._lo, self._hi = np.asarray(cell.workspace_min), np.asarray(cell.workspace_max)
        self._yaw_limits = cell.yaw_limits
        self._kinds = [k for k in PRIMITIVES if self.config.primitive_weights.get(k, 0.0) > 0.0]
        self._current: _Primitive | None = None
        self._log: list[dict] = []
        self._steps = 0
        self._last_noise = np.zeros(3)  # position noise of the last command, after clamping
        self._last_gripper = 0.0  # last gripper command before noise

    @property
    def primitive(self) -> str:
        """Name of the current primitive, e.g. 'grasp_lift:red_cube', 'push:blue_bar', 'random_motion'.

        'idle' before the first command, 'done' once the episode's budget is used up.
        """
        if self._current is not None:
            return self._current.name
        return "done" if self._steps >= self.config.episode_steps else "idle"

    @property
    def log(self) -> list[dict]:
        """One dict per finished primitive, in order.

        Keys: primitive (kind), object (or None), steps (commands given), outcome ('success' or 'failed' by
        the privileged checks of tasks.py for grasp_lift, place and container; 'done' for the others),
        botch (the deliberate failure, or None) and interrupted (True when the episode ended during it; its
        outcome is then judged on the final state).
        """
        return list(self._log)

    @property
    def steps(self) -> int:
        """Commands given so far in this episode."""
        return self._steps

    def act(self, state: SceneState) -> Command | None:
        """Next command for this control step; None when the episode's budget of steps is used up."""
        if self._steps >= self.config.episode_steps:
            if self._current is not None:
                self._finish(state, interrupted=True)
            return None
        # Phases advance as if the noise-free command had been followed: the arm tracks each noisy target
        # within a step, so without this most steps would miss the 12 mm reach tolerance and time out.
        ee_pos = state.ee_pos - self._last_noise
        command = self._current.driver.act(state, ee_pos) if self._current is not None else None
        if command is None:
            if self._current is not None:
                self._finish(state, interrupted=False)
            self._current = self._choose(state)
            command = self._current.driver.act(state, ee_pos)
            assert command is not None, f"primitive {self._current.name} gave no first command"
        self._current.steps += 1
        self._steps += 1
        return self._perturb(command)

    # ------------------------------------------------------------------------------------- internals
    def _perturb(self, command: Command) -> Command:
        cfg = self.config
        clean = np.clip(command.pos, self._lo, self._hi)
        pos = np.clip(clean + self._rng.normal(0.0, cfg.position_noise_m, 3), self._lo, self._hi)
        self._last_noise = pos - clean
        yaw = float(np.clip(command.yaw + self._rng.normal(0.0, cfg.yaw_noise_rad), *self._yaw_limits))
        self._last_gripper = float(command.gripper)
        gripper = command.gripper
        if self._rng.random() < cfg.gripper_flip_prob:
            gripper = 1.0 - gripper
        return Command(pos, yaw, float(np.clip(gripper, 0.0, 1.0)))

    def _finish(self, state: SceneState, interrupted: bool) -> None:
        p = self._current
        outcome = "done" if p.check is None else ("success" if p.check(state) else "failed")
        self._log.append({"primitive": p.kind, "object": p.obj, "steps": p.steps, "outcome": outcome,
                          "botch": p.botch, "interrupted": interrupted})
        self._current = None

    def _pick_object(self, names: list[str]) -> str:
        if not self.config.object_weights:  # uniform, drawn as before object_weights existed: same episodes
            return str(names[self._rng.integers(len(names))])
        weights = np.array([self.config.object_weights.get(n, 1.0) for n in names])
        return str(names[self._rng.choice(len(names), p=weights / weights.sum())])

    def _choose(self, state: SceneState) -> _Primitive:
        rng = self._rng
        # Objects pushed outside the workspace box cannot be reached (the pick script would time out).
        # Sorted: a fixed order, whatever order the state's dict came in.
        names = [n for n in sorted(state.objects)
                 if np.all(state.object_pos(n)[:2] >= self._lo[:2]) and np.all(state.object_pos(n)[:2] <= self._hi[:2])]
        kinds = [k for k in self._kinds if names or k not in OBJECT_PRIMITIVES] or ["reach"]
        weights = np.array([self.config.primitive_weights.get(k, 1.0) for k in kinds])
        kind = str(kinds[rng.choice(len(kinds), p=weights / weights.sum())])
        yaw_now = float(np.clip(state.ee_yaw, *self._yaw_limits))
        held = self._held_object(state) if kind in ("place", "container") else None
        if kind in ("grasp_lift", "place", "container") and held is None:  # pick first
            obj = self._pick_object(names)
            botch = str(BOTCHES[rng.integers(len(BOTCHES))]) if rng.random() < self.config.failure_prob else None
            finish = {"grasp_lift": "lift", "place": "place", "container": "container"}[kind]
            place_xy = self._free_place(state) if kind == "place" else None
            miss = None
            if self.config.miss_approach_prob > 0.0 and rng.random() < self.config.miss_approach_prob:
                miss = self._missed_approach(state, obj)
            driver = _Pick(obj, finish, place_xy, botch, rng, miss)
            return _Primitive(kind, obj, driver, self._check(kind, obj, place_xy), botch)
        if held is not None:  # place or container while holding something: carry it there and let go
            place_xy = self._free_place(state) if kind == "place" else state.container[:2].copy()
            low_z = get_object(held).rest_height + PLACE_CLEARANCE_M if kind == "place" else DROP_Z
            low = np.array([*place_xy, low_z])
            driver = _Waypoints([
                _Waypoint(np.array([*place_xy, CARRY_Z]), yaw_now, 1.0, max_steps=10),
                _Waypoint(low, yaw_now, 1.0),
                _Waypoint(low, yaw_now, 0.0, min_steps=RELEASE_STEPS, needs_reach=False),
                _Waypoint(np.array([*place_xy, CARRY_Z]), yaw_now, 0.0)])
            return _Primitive(kind, held, driver, self._check(kind, held, place_xy))
        if kind == "push":
            obj = self._pick_object(names)
            return _Primitive(kind, obj, self._push(state, obj))
        if kind == "reach":
            target = np.array([rng.uniform(self._lo[0], self._hi[0]), rng.uniform(self._lo[1], self._hi[1]),
                               rng.uniform(*REACH_Z)])
            yaw = float(rng.uniform(*self._yaw_limits))
            return _Primitive(kind, None, _Waypoints([_Waypoint(target, yaw, self._last_gripper)]))
        if kind == "random_motion":
            lo, hi = self.config.random_motion_steps
            step_m = self.config.random_motion_step_m
            pos, yaw = state.ee_pos.copy(), yaw_now
            waypoints = []
            for _ in range(int(rng.integers(lo, hi + 1))):
                pos = np.clip(pos + rng.uniform(-step_m, step_m, 3), self._lo, self._hi)
                yaw = float(np.clip(yaw + rng.uniform(-RANDOM_YAW_STEP_RAD, RANDOM_YAW_STEP_RAD), *self._yaw_limits))
                waypoints.append(_Waypoint(pos.copy(), yaw, self._last_gripper, min_steps=1, needs_reach=False))
            return _Primitive(kind, None, _Waypoints(waypoints))
        # release: open the fingers where the gripper is
        return _Primitive(kind, None, _Waypoints([_Waypoint(state.ee_pos.copy(), yaw_now, 0.0,
                                                            min_steps=RELEASE_STEPS, needs_reach=False)]))

    @staticmethod
    def _check(kind: str, obj: str, place_xy: np.ndarray | None) -> Callable[[SceneState], bool]:
        if kind == "grasp_lift":
            return lambda s: is_grasped_and_lifted(s, obj)
        if kind == "place":
            return lambda s: is_at_position(s, obj, place_xy)
        return lambda s: is_in_container(s, obj)

    @staticmethod
    def _held_object(state: SceneState) -> str | None:
        """The object between both finger pads of a closed gripper (the highest, if several), else None."""
        if state.gripper <= 0.05:
            return None
        held = [n for n in sorted(state.objects) if state.finger_contacts.get(n, 0) >= 2]
        return max(held, key=lambda n: state.object_pos(n)[2]) if held else None

    def _free_place(self, state: SceneState) -> np.ndarray:
        """A random spot in the object area, clear of the container and of every object (the one moved too)."""
        (x0, x1), (y0, y1) = OBJECT_AREA
        keep_out = scene.CONTAINER_HALF + CONTAINER_CLEARANCE
        others = [state.object_pos(n)[:2] for n in sorted(state.objects)]
        best, best_gap = None, -1.0
        for _ in range(100):
            xy = np.array([self._rng.uniform(x0, x1), self._rng.uniform(y0, y1)])
            if np.all(np.abs(xy - state.container[:2]) < keep_out):
                continue
            gap = min((float(np.linalg.norm(xy - o)) for o in others), default=np.inf)
            if gap >= MIN_OBJECT_GAP:
                return xy
            if gap > best_gap:
                best, best_gap = xy, gap
        return best if best is not None else np.array([(x0 + x1) / 2, (y0 + y1) / 2])

    def _missed_approach(self, state: SceneState, obj: str) -> list[_Waypoint]:
        """Straight down to the table beside ``obj`` (clear of the container), maybe a close there, then up."""
        rng = self._rng
        centre = state.object_pos(obj)[:2]
        keep_out = scene.CONTAINER_HALF + CONTAINER_CLEARANCE
        for _ in range(20):
            angle = rng.uniform(-np.pi, np.pi)
            xy = centre + rng.uniform(*MISS_OFFSET_M) * np.array([np.cos(angle), np.sin(angle)])
            xy = np.clip(xy, self._lo[:2], self._hi[:2])
            if not np.all(np.abs(xy - state.container[:2]) < keep_out):
                break
        low = np.array([*xy, rng.uniform(*MISS_Z)])
        yaw = float(np.clip(wrap_half_turn(state.object_yaw(obj)), *self._yaw_limits))  # as if aiming at it
        waypoints = [_Waypoint(low, yaw, 0.0)]
        if rng.random() < 0.5:  # closes on nothing, then opens again
            waypoints += [_Waypoint(low, yaw, 1.0, min_steps=CLOSE_STEPS, needs_reach=False),
                          _Waypoint(low, yaw, 0.0, min_steps=RELEASE_STEPS, needs_reach=False)]
        if rng.random() < 0.5:  # straight up first; otherwise the script's hover goes up and over at once
            waypoints.append(_Waypoint(np.array([*xy, PUSH_CLEAR_Z]), yaw, 0.0, max_steps=3, tol=PUSH_TOL))
        return waypoints

    def _push(self, state: SceneState, obj: str) -> _Waypoints:
        """Closed fingers low along a straight line through the object's centre, then back up."""
        rng = self._rng
        angle = rng.uniform(-np.pi, np.pi)
        direction = np.array([np.cos(angle), np.sin(angle)])
        centre = state.object_pos(obj)[:2]
        start = np.clip(centre - PUSH_APPROACH_M * direction, self._lo[:2], self._hi[:2])
        end = np.clip(centre + rng.uniform(*self.config.push_through_m) * direction, self._lo[:2], self._hi[:2])
        yaw = float(np.clip(wrap_half_turn(angle - np.pi / 2), *self._yaw_limits))  # move along the fingers' faces
        return _Waypoints([
            _Waypoint(np.array([*start, PUSH_CLEAR_Z]), yaw, 1.0, max_steps=6, tol=PUSH_TOL),
            _Waypoint(np.array([*start, PUSH_Z]), yaw, 1.0, max_steps=3),
            _Waypoint(np.array([*end, PUSH_Z]), yaw, 1.0, max_steps=4, tol=PUSH_TOL),
            _Waypoint(np.array([*end, PUSH_CLEAR_Z]), yaw, 1.0, max_steps=2, tol=PUSH_TOL)])


__all__ = ["BOTCHES", "PRIMITIVES", "PlayConfig", "PlayScript"]

"""Goal images for the paper's three tasks and for reaching, made by driving the scene into the goal state.

For a task and a seed: reset the cell to the seed's scene, pick the object (and, for rearrangement, the
target place; for reaching, a place in the air) from the seed, run the scripted controller, check that the
goal state passes its own privileged success test, render it, and reset the cell to the same start scene.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from actionable_models.errors import GoalGenerationError
from actionable_models.sim.cell import MIN_OBJECT_GAP, OBJECT_AREA, Cell
from actionable_models.sim import scene
from actionable_models.sim.scripted import REACH_TOL, PickPlaceScript, run_script
from actionable_models.sim.state import SceneState
from actionable_models.sim.tasks import TASKS, GoalSpec, check_task

MIN_MOVE = 0.10  # m a rearranged object (or the gripper, for reaching) travels at least
REACH_GOAL_Z = (0.07, 0.30)  # m: heights of reaching targets, over the objects (<= 45 mm) and container (55 mm)
REACH_GOAL_STEPS = 30  # control steps the arm gets to settle at a reaching target
# The evaluation goals' seeds start here; play data uses seeds below it. Choose variants on another range
# (VALIDATION_BASE_SEED) so that nothing is tuned on the evaluation goals.
EVALUATION_BASE_SEED = 100000
VALIDATION_BASE_SEED = 200000


@dataclass
class Goal:
    """A generated goal: what it asks for, the goal image and the privileged goal state."""

    spec: GoalSpec
    image: np.ndarray  # (H, W, 3) uint8
    state: SceneState


def _place_target(rng: np.random.Generator, state: SceneState, obj: str) -> tuple[float, float] | None:
    (x0, x1), (y0, y1) = OBJECT_AREA
    keep_out = scene.CONTAINER_HALF + 0.08
    start = state.object_pos(obj)[:2]
    others = [state.object_pos(name)[:2] for name in state.objects if name != obj]
    for _ in range(200):
        xy = np.array([rng.uniform(x0, x1), rng.uniform(y0, y1)])
        if np.all(np.abs(xy - state.container[:2]) < keep_out):
            continue
        if np.linalg.norm(xy - start) < MIN_MOVE:
            continue
        if all(np.linalg.norm(xy - o) >= MIN_OBJECT_GAP for o in others):
            return float(xy[0]), float(xy[1])
    return None


def generate_goal(cell: Cell, task: str, seed: int, layout: str | None = None, obj: str | None = None) -> Goal:
    """Drive ``cell`` into a goal state for ``task`` from the scene of ``seed``; leaves the cell reset to it.

    The object is drawn from the seed unless given. Objects the script fails on are skipped in a
    seeded order; :class:`GoalGenerationError` when none works.
    """
    check_task(task)
    cell.reset(seed, layout)
    # Goal choices come from a stream apart from the scene's, one per task.
    rng = np.random.default_rng([seed, 7919, TASKS.index(task)])
    if task == "reaching":
        return _reaching_goal(cell, rng, seed, layout)
    candidates = [obj] if obj is not None else [str(o) for o in rng.permutation(list(cell.layout.objects))]
    failures = []
    for name in candidates:
        cell.reset(seed, layout)
        start = cell.scene_state()
        target_xy = None
        if task == "instance_grasping":
            script = PickPlaceScript(name, "lift")
        elif task == "container_placing":
            script = PickPlaceScript(name, "container")
        else:
            target_xy = _place_target(rng, start, name)
            if target_xy is None:
                failures.append(f"{name}: no free place to move it to")
                continue
            script = PickPlaceScript(name, "place", target_xy)
        spec = GoalSpec(task, name, int(seed), cell.layout.name, target_xy)
        if spec.is_success(start):
            failures.append(f"{name}: already satisfies the goal at the start")
            continue
        state = run_script(cell, script)
        for _ in range(5):  # let a placed or dropped object come to rest
            if task == "instance_grasping":
                break
            cell.step()
            state = cell.scene_state()
        if spec.is_success(state):
            image = cell.render().copy()
            cell.reset(seed, layout)
            return Goal(spec, image, state)
        failures.append(f"{name}: scripted {task} did not pass its success test (phases {script.phase_log})")
    cell.reset(seed, layout)
    raise GoalGenerationError(f"no {task} goal for seed {seed}: " + "; ".join(failures))


def _reaching_goal(cell: Cell, rng: np.random.Generator, seed: int, layout: str | None) -> Goal:
    """The gripper moved to a seeded place over the object area, at the start yaw, fingers open."""
    (x0, x1), (y0, y1) = OBJECT_AREA
    start_pos, start_yaw = cell.ee_pose()
    for _ in range(200):
        target = np.array([rng.uniform(x0, x1), rng.uniform(y0, y1), rng.uniform(*REACH_GOAL_Z)])
        if np.linalg.norm(target - start_pos) >= MIN_MOVE:
            break
    spec = GoalSpec("reaching", None, int(seed), cell.layout.name, target_xyz=tuple(float(v) for v in target))
    for _ in range(REACH_GOAL_STEPS):
        cell.set_command(target, start_yaw, 0.0)
        cell.step()
        if np.linalg.norm(cell.ee_pose()[0] - target) <= REACH_TOL:
            break
    state = cell.scene_state()
    if not spec.is_success(state):
        cell.reset(seed, layout)
        raise GoalGenerationError(f"no reaching goal for seed {seed}: the arm stopped "
                                  f"{np.linalg.norm(state.ee_pos - target):.3f} m from {target.round(3).tolist()}")
    image = cell.render().copy()
    cell.reset(seed, layout)
    return Goal(spec, image, state)

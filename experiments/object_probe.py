"""Does a pixel Q-function see the goal's object? A diagnostic of seeing, before any rollout.

For each instance-grasping goal (seeds base_seed..), the privileged expert drives the cell from the
start scene into the goal (the object grasped and lifted) and the camera renders it; then the goal's
object is put back where it started, all else as it is (the arm, the fingers, the other objects, so the
measured pose and closure too), and the camera renders that. The policy's CEM max of Q toward the goal
image is printed from three observations: the start, the goal itself, and the goal with the object put
back. From the goal Q should be near 1; with the object put back the goal needs a grasp again, so a
Q-function that sees the object rates it far lower, as the state rung's object-height probe does (0.996
against 0.801, docs/results.md); a blind one rates it as high as the goal. Privileged state only builds
the scenes; the checkpoint sees camera images (and, with use_proprio, the measured gripper pose and
closure) as the policy node does.

    python experiments/object_probe.py out/main/run --goals 10 --base-seed 200000
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from actionable_models.policy import GoalReachingPolicy, PolicyConfig
from actionable_models.sim.cell import Cell
from actionable_models.sim.camera_view import add_camera_view_arguments, camera_view_fields
from actionable_models.sim.config import CellConfig
from actionable_models.sim.goals import VALIDATION_BASE_SEED, generate_goal
from actionable_models.sim.scripted import PickPlaceScript


OBSERVATIONS = ("start", "goal", "goal, object put back")


def probe_scenes(cell: Cell, seed: int) -> tuple[dict[str, tuple], object]:
    """The three observations of the instance-grasping goal of ``seed`` as {name: (image, ee_pos, ee_yaw,
    closure)}, and the goal; leaves the cell at the start scene."""
    goal = generate_goal(cell, "instance_grasping", seed)
    cell.reset(seed, goal.spec.layout)

    def observed() -> tuple:
        ee_pos, ee_yaw = cell.ee_pose()
        return cell.render(), ee_pos, ee_yaw, cell.gripper_closure()

    scenes = {"start": observed()}
    name = goal.spec.object
    start_pose = cell.object_state(name)
    script = PickPlaceScript(name, "lift")
    while (command := script.act(cell.scene_state())) is not None:
        cell.set_command(command.pos, command.yaw, command.gripper)
        cell.step()
    scenes["goal"] = observed()
    cell.set_object_pose(name, start_pose.pos, start_pose.quat)
    scenes["goal, object put back"] = observed()
    cell.reset(seed, goal.spec.layout)
    return scenes, goal


def probe(run: Path, goals: int, base_seed: int, camera_size: int, camera: dict | None = None) -> list[dict]:
    """One row per goal: max Q toward the generated goal image from each of :data:`OBSERVATIONS`.
    ``camera``: CellConfig camera fields over the defaults, the view the run was trained on."""
    policy = GoalReachingPolicy(run, PolicyConfig())
    cell = Cell(CellConfig(image_width=camera_size, image_height=camera_size, **(camera or {})))
    rows = []
    try:
        for seed in range(base_seed, base_seed + goals):
            scenes, goal = probe_scenes(cell, seed)
            policy.set_goal(goal.image)
            row = {"seed": seed, "object": goal.spec.object}
            for key in OBSERVATIONS:
                policy.generator.manual_seed(0)  # the same CEM draws from each observation
                row[key] = policy.decide(*scenes[key]).q
            rows.append(row)
    finally:
        cell.close()
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="run directory or checkpoint of a pixel Q-function")
    parser.add_argument("--goals", type=int, default=10)
    parser.add_argument("--base-seed", type=int, default=VALIDATION_BASE_SEED)
    parser.add_argument("--camera-size", type=int, default=64)
    add_camera_view_arguments(parser)
    parser.add_argument("--out", type=Path, help="rows as JSON")
    args = parser.parse_args(argv)
    rows = probe(args.run, args.goals, args.base_seed, args.camera_size, camera_view_fields(args))
    keys = OBSERVATIONS
    print("| goal seed | object | " + " | ".join(f"max Q from the {k}" for k in keys) + " |")
    print("|---|---|" + "---|" * len(keys))
    for r in rows:
        print(f"| {r['seed']} | {r['object']} | " + " | ".join(f"{r[k]:.3f}" for k in keys) + " |")
    print("| mean | | " + " | ".join(f"{np.mean([r[k] for r in rows]):.3f}" for k in keys) + " |")
    if args.out:
        args.out.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())

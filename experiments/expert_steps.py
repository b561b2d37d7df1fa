"""How many control steps the privileged scripted expert needs for each task: the yardstick of every horizon.

For each task and seed, the expert that makes the goal images (goals.generate_goal: PickPlaceScript for
the paper's tasks, a straight move for reaching) runs from the seed's start scene, and the first control
step at which the goal's own success test holds is counted. Prints per task the median and the maximum
over the seeds, and the evaluation horizon that is twice the maximum.

    python experiments/expert_steps.py [--seeds 20] [--base-seed 100000] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from actionable_models.sim.cell import Cell
from actionable_models.sim.config import CellConfig
from actionable_models.sim.goals import EVALUATION_BASE_SEED, generate_goal
from actionable_models.sim.scripted import PickPlaceScript
from actionable_models.sim.tasks import TASKS


def expert_steps(cell: Cell, task: str, seed: int, max_steps: int = 100) -> int | None:
    """Control steps until the expert first satisfies the seed's ``task`` goal; None if it never does."""
    goal = generate_goal(cell, task, seed)  # the object, target place and success test of this seed
    spec = goal.spec
    cell.reset(seed, spec.layout)
    if task == "reaching":
        target, (_, yaw) = np.asarray(spec.target_xyz), cell.ee_pose()
        script = None
    else:
        finish = {"instance_grasping": "lift", "rearrangement": "place", "container_placing": "container"}[task]
        script = PickPlaceScript(spec.object, finish, spec.target_xy)
    for step in range(1, max_steps + 1):
        if script is None:
            cell.set_command(target, yaw, 0.0)
        else:
            command = script.act(cell.scene_state())
            if command is not None:  # after the script ends, the arm holds its last command
                cell.set_command(command.pos, command.yaw, command.gripper)
        cell.step()
        if spec.is_success(cell.scene_state()):
            return step
    return None


def table(seeds: list[int], tasks: tuple[str, ...] = TASKS, config: CellConfig | None = None) -> dict[str, dict]:
    """Per task: the steps of every seed, their median and maximum, and twice the maximum."""
    cell = Cell(config or CellConfig(image_width=32, image_height=32))
    try:
        out = {}
        for task in tasks:
            steps = [expert_steps(cell, task, seed) for seed in seeds]
            done = [s for s in steps if s is not None]
            out[task] = {"seeds": len(seeds), "succeeded": len(done), "steps": steps,
                         "median": float(np.median(done)) if done else None, "max": max(done, default=None),
                         "horizon_2x": 2 * max(done) if done else None}
        return out
    finally:
        cell.close()


def format_table(result: dict[str, dict], control_rate_hz: float) -> str:
    """Markdown: task, seeds that succeeded, median and max steps (and seconds), twice the max."""
    lines = ["| task | expert succeeded | median steps | max steps | max seconds | 2 x max |", "|---|---|---|---|---|---|"]
    for task, row in result.items():
        if row["max"] is None:
            lines.append(f"| {task} | 0/{row['seeds']} | - | - | - | - |")
            continue
        lines.append(f"| {task} | {row['succeeded']}/{row['seeds']} | {row['median']:g} | {row['max']} | "
                     f"{row['max'] / control_rate_hz:.1f} | {row['horizon_2x']} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--base-seed", type=int, default=EVALUATION_BASE_SEED, help="the evaluation goals' first seed")
    parser.add_argument("--json", type=Path, default=None, help="also write the table as JSON here")
    args = parser.parse_args(argv)
    if args.seeds < 1:
        parser.error("--seeds must be at least 1")
    config = CellConfig(image_width=32, image_height=32)
    result = table(list(range(args.base_seed, args.base_seed + args.seeds)), config=config)
    print(f"expert steps over seeds {args.base_seed}..{args.base_seed + args.seeds - 1} at "
          f"{config.control_rate_hz:g} Hz control")
    print(format_table(result, config.control_rate_hz), end="")
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"control_rate_hz": config.control_rate_hz, "tasks": result}, indent=1))
    return 0 if all(row["succeeded"] == row["seeds"] for row in result.values()) else 1


if __name__ == "__main__":
    sys.exit(main())

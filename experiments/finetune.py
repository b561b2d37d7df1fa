"""Downstream fine-tuning (the paper's Sec. 6.3): a new task learned from a few sparse reward labels,
from scratch and from a pretrained Actionable Models Q-function, with the same data and budget.

The task is instance grasping of one named object. Its data (experiments/collect.py --label-object) holds
grasp attempts on every object, labelled 1 on frames where that object is held up. Q(s, a, g_task) is
trained with the project's objective with the goal input fixed to one task image (the object held up
in a training scene): reward 1 on transitions into a labelled frame, else gamma * max Q, artificial
negatives on, no relabeling and no chaining. --init picks random weights or a pretrained checkpoint;
evaluation rolls the policy out on held-out scenes and scores the same privileged check.

    python experiments/finetune.py data/task.npz --init runs/full_s0 --steps 1000 --out runs/ft_pre_s0
    python experiments/finetune.py data/task.npz --init scratch --steps 1000 --out runs/ft_scratch_s0
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from actionable_models.evaluation import rollout, summarize
from actionable_models.imaging import resize_for_learning
from actionable_models.learning import checkpoint as ckpt
from actionable_models.learning.config import LearnerConfig
from actionable_models.learning.networks import make_q_network
from actionable_models.learning.objective import ActionableModelsObjective, to_tensors
from actionable_models.policy import GoalReachingPolicy, PolicyConfig
from actionable_models.sim.cell import Cell
from actionable_models.sim.config import CellConfig
from actionable_models.sim.goals import EVALUATION_BASE_SEED, Goal, generate_goal
from actionable_models.sim.tasks import GoalSpec

TASK_GOAL_SEED = 1000  # a training scene: the task image shows the object held up there


def task_goal(obj: str, camera_size: int) -> Goal:
    """The fixed goal input of the task: ``obj`` grasped and lifted in a training scene."""
    cell = Cell(CellConfig(image_width=camera_size, image_height=camera_size))
    try:
        return generate_goal(cell, "instance_grasping", TASK_GOAL_SEED, obj=obj)
    finally:
        cell.close()


def finetune(data_path: Path, task: Goal, init: str, steps: int, seed: int, out: Path,
             batch_size: int = 64) -> Path:
    """Train the task Q-function; returns its checkpoint."""
    with np.load(data_path) as f:
        obs, actions, last, success = (f[k] for k in ("obs", "actions", "is_last", "success"))
    size = obs.shape[1]
    goal = resize_for_learning(task.image, size)
    obj = task.spec.object
    if init == "scratch":
        config = LearnerConfig(image_size=size, seed=seed, batch_size=batch_size, use_chaining=False)
        torch.manual_seed(seed)
        q = make_q_network(config)
    else:
        path = ckpt.latest_checkpoint(Path(init)) if Path(init).is_dir() else Path(init)
        config = replace(ckpt.read_info(path).config, seed=seed, batch_size=batch_size, use_chaining=False,
                         method="actionable_models")
        if config.image_size != size:
            raise ValueError(f"{path} was trained at {config.image_size} px, the task data is {size} px")
        q = make_q_network(config)
        ckpt.load_weights(path, q)
    objective = ActionableModelsObjective(q, config)
    objective.generator.manual_seed(seed)
    rng = np.random.default_rng(seed)
    valid = np.flatnonzero(~last)
    positives = int(success[valid + 1].sum())
    print(f"[finetune {init}] {len(valid)} transitions, {positives} rewarded ({obj} held up)", flush=True)
    goals = np.repeat(goal[None], batch_size, axis=0)
    started = time.monotonic()
    for step in range(1, steps + 1):
        index = rng.choice(valid, size=batch_size)
        batch = {"obs": obs[index], "action": actions[index], "next_obs": obs[index + 1],
                 "next_action": actions[index + 1], "goal": goals, "reached": success[index + 1],
                 "chained": np.zeros(batch_size, bool)}
        metrics = objective.update(to_tensors(batch))
        if step % 250 == 0 or step == steps:
            print(f"[finetune {init}] {step}/{steps} loss {metrics['loss/total']:.3f} q_data "
                  f"{metrics['q/mean_data']:.3f} ({time.monotonic() - started:.0f} s)", flush=True)
    return ckpt.save_checkpoint(out, objective.q, config, steps,
                                {"key": str(data_path), "task": f"instance_grasping:{obj}", "init": init})


def evaluate(checkpoint: Path, task: Goal, goals: int, base_seed: int, camera_size: int, max_steps: int) -> list:
    """Roll the task policy out from held-out scenes with the fixed task image as goal."""
    obj = task.spec.object
    policy = GoalReachingPolicy(checkpoint, PolicyConfig())
    cell = Cell(CellConfig(image_width=camera_size, image_height=camera_size))
    try:
        return [rollout(cell, policy, Goal(GoalSpec("instance_grasping", obj, base_seed + i, "default"),
                                           task.image, task.state), max_steps) for i in range(goals)]
    finally:
        cell.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", type=Path, help=".npz with success labels (collect.py --label-object)")
    parser.add_argument("--object", default="red_cube")
    parser.add_argument("--init", default="scratch", help="'scratch' or a pretrained run directory/checkpoint")
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--goals", type=int, default=50, help="held-out evaluation scenes")
    parser.add_argument("--base-seed", type=int, default=EVALUATION_BASE_SEED)
    parser.add_argument("--camera-size", type=int, default=64)
    parser.add_argument("--max-steps", type=int, default=50)
    parser.add_argument("--out", type=Path, required=True, help="run directory")
    parser.add_argument("--result", type=Path, required=True, help="results JSON (evaluate.py's format)")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    task = task_goal(args.object, args.camera_size)
    checkpoint = finetune(args.data, task, args.init, args.steps, args.seed, args.out)
    rows = evaluate(checkpoint, task, args.goals, args.base_seed, args.camera_size, args.max_steps)
    summary = summarize(rows)
    args.result.parent.mkdir(parents=True, exist_ok=True)
    args.result.write_text(json.dumps({"settings": {k: str(v) for k, v in vars(args).items()},
                                       "runs": {str(args.out): {"summary": summary, "results": rows}}}, indent=1))
    print(f"[finetune {args.init}] {summary}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

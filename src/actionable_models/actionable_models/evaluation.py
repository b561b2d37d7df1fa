"""Scoring goal-reaching rollouts and rolling a policy out in the core sim cell.

``result_row`` scores one rollout; ``summarize`` and ``format_table`` turn per-goal results into success
rates with 95 % Wilson intervals (the goal evaluator node and the experiments share them). ``rollout``
drives a :class:`Cell` with a :class:`GoalReachingPolicy` toward a generated goal, exactly as the policy
node drives the sim node in lock-step (one decision per camera frame, stop when the policy judges the
goal reached), without DDS: the fast path for evaluation studies with many goals.
"""

from __future__ import annotations

import math

import numpy as np


def wilson_interval(successes: int, trials: int, z: float = 1.96) -> tuple[float, float]:
    """95 % Wilson score interval of a success rate."""
    if trials == 0:
        return 0.0, 1.0
    p = successes / trials
    centre = (p + z * z / (2 * trials)) / (1 + z * z / trials)
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / (1 + z * z / trials)
    return max(0.0, centre - half), min(1.0, centre + half)


def summarize(results: list[dict]) -> dict[str, dict]:
    """Per task: successes, trials, rate and its 95 % Wilson interval (skipped goals left out)."""
    table = {}
    for task in dict.fromkeys(r["task"] for r in results):
        scored = [r for r in results if r["task"] == task and r["success"] is not None]
        wins = sum(r["success"] for r in scored)
        lo, hi = wilson_interval(wins, len(scored))
        table[task] = {"successes": wins, "trials": len(scored), "rate": wins / len(scored) if scored else 0.0,
                       "ci95": [round(lo, 3), round(hi, 3)]}
    return table


def format_table(table: dict[str, dict]) -> str:
    """A Markdown table of the summary."""
    lines = ["| task | success | rate | 95% CI |", "|---|---|---|---|"]
    for task, row in table.items():
        lines.append(f"| {task} | {row['successes']}/{row['trials']} | {row['rate']:.2f} | "
                     f"{row['ci95'][0]:.2f}-{row['ci95'][1]:.2f} |")
    return "\n".join(lines) + "\n"


def rollout(cell, policy, goal, max_steps: int) -> dict:
    """Reset ``cell`` to the goal's scene and let ``policy`` act for up to ``max_steps``; the result row."""
    spec = goal.spec
    cell.reset(spec.seed, spec.layout)
    start = cell.scene_state()
    policy.set_goal(goal.image)
    steps, stopped = 0, False
    while steps < max_steps:
        ee_pos, ee_yaw = cell.ee_pose()
        decision = policy.decide(cell.render(), ee_pos, ee_yaw)
        if decision.reached:
            stopped = True
            break
        cell.set_command(decision.target_pos, decision.target_yaw, decision.gripper)
        cell.step()
        steps += 1
    return result_row(goal, start, cell.scene_state(), steps, stopped)


def result_row(goal, start, final, steps: int, stopped: bool) -> dict:
    """One rollout's result: success by the goal's privileged check on ``final`` (a SceneState), and the
    gripper's (and the goal object's) distance to where the goal state has it, at ``start`` and ``final``."""
    spec = goal.spec
    row = {"task": spec.task, "seed": spec.seed, "object": spec.object, "success": bool(spec.is_success(final)),
           "steps": steps, "policy_stopped": stopped,
           "ee_to_goal_start_m": float(np.linalg.norm(start.ee_pos - goal.state.ee_pos)),
           "ee_to_goal_end_m": float(np.linalg.norm(final.ee_pos - goal.state.ee_pos))}
    if spec.object is not None:
        target = goal.state.object_pos(spec.object)
        row["object_to_goal_start_m"] = float(np.linalg.norm(start.object_pos(spec.object) - target))
        row["object_to_goal_end_m"] = float(np.linalg.norm(final.object_pos(spec.object) - target))
    return row

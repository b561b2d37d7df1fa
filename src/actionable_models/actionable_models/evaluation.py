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


def format_table(table: dict[str, dict], results: list[dict] | None = None) -> str:
    """A Markdown table of the summary; with the per-goal ``results``, also the median distances to the goal
    (gripper, and the task's object) at the start and the end of the rollouts, and how often the policy
    stopped itself."""
    def median(task: str, key: str) -> str:
        values = [r[key] for r in results if r["task"] == task and r.get(key) is not None]
        return f"{np.median(values):.3f}" if values else "-"

    head = "| task | success | rate | 95% CI |"
    rule = "|---|---|---|---|"
    if results is not None:
        head += " gripper to goal, start -> end (m) | object to goal, start -> end (m) | policy stopped |"
        rule += "---|---|---|"
    lines = [head, rule]
    for task, row in table.items():
        line = (f"| {task} | {row['successes']}/{row['trials']} | {row['rate']:.2f} | "
                f"{row['ci95'][0]:.2f}-{row['ci95'][1]:.2f} |")
        if results is not None:
            own = [r for r in results if r["task"] == task and r["success"] is not None]
            line += (f" {median(task, 'ee_to_goal_start_m')} -> {median(task, 'ee_to_goal_end_m')} |"
                     f" {median(task, 'object_to_goal_start_m')} -> {median(task, 'object_to_goal_end_m')} |"
                     f" {sum(bool(r.get('policy_stopped')) for r in own)}/{len(own)} |")
        lines.append(line)
    return "\n".join(lines) + "\n"


def labelled_frame(camera: np.ndarray, goal: np.ndarray, title: str, outcome: str, side: int = 192) -> np.ndarray:
    """One rollout GIF frame (H, W, 3) uint8: the camera image and the goal image side by side, each scaled
    to ``side`` pixels (nearest, so the pixels the policy saw stay visible) and labelled, under a bar with
    ``title`` (task, object, step) and ``outcome``."""
    import cv2

    def panel(image: np.ndarray, label: str) -> np.ndarray:
        big = cv2.resize(np.ascontiguousarray(image), (side, side), interpolation=cv2.INTER_NEAREST)
        cv2.putText(big, label, (6, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 3, cv2.LINE_AA)
        cv2.putText(big, label, (6, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1, cv2.LINE_AA)
        return big

    body = np.concatenate([panel(camera, "camera"), panel(goal, "goal")], axis=1)
    bar = np.full((44, body.shape[1], 3), 32, np.uint8)
    cv2.putText(bar, title, (6, 17), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 255), 1, cv2.LINE_AA)
    colour = (80, 220, 80) if outcome.startswith("success") else (240, 90, 90)
    cv2.putText(bar, outcome, (6, 37), cv2.FONT_HERSHEY_SIMPLEX, 0.45, colour, 1, cv2.LINE_AA)
    return np.concatenate([bar, body], axis=0)


def write_gif(path, frames: list[np.ndarray], fps: float) -> None:
    """An endlessly looping GIF playing ``frames`` at ``fps`` (imageio's pillow writer takes ms per frame)."""
    import imageio.v2 as imageio

    imageio.mimsave(path, frames, duration=1000.0 / fps, loop=0)


def rollout(cell, policy, goal, max_steps: int) -> dict:
    """Reset ``cell`` to the goal's scene and let ``policy`` act for up to ``max_steps``; the result row."""
    spec = goal.spec
    cell.reset(spec.seed, spec.layout)
    start = cell.scene_state()
    policy.set_goal(goal.image)
    steps, stopped = 0, False
    while steps < max_steps:
        ee_pos, ee_yaw = cell.ee_pose()
        # The gripper's own measured closure, as /joint_states reports it: not privileged (every arm publishes
        # it); a policy whose checkpoint does not read it ignores it.
        decision = policy.decide(cell.render(), ee_pos, ee_yaw, cell.gripper_closure())
        if decision.reached:
            stopped = True
            break
        cell.set_command(decision.target_pos, decision.target_yaw, decision.gripper)
        cell.step()
        steps += 1
    return result_row(goal, start, cell.scene_state(), steps, stopped)


def ray_split(rows: list[dict], camera_pos) -> tuple[float, float]:
    """Median end error of the gripper against the goal's, split along the camera ray through the goal's
    gripper and across it (metres). A camera that leaves depth open shows as error mostly along the ray."""
    along, across = [], []
    for row in rows:
        goal = np.asarray(row["goal_ee_xyz_m"])
        err = np.asarray(row["ee_end_xyz_m"]) - goal
        ray = goal - np.asarray(camera_pos, dtype=float)
        ray /= np.linalg.norm(ray)
        along.append(abs(float(err @ ray)))
        across.append(float(np.linalg.norm(err - (err @ ray) * ray)))
    return float(np.median(along)), float(np.median(across))


def result_row(goal, start, final, steps: int, stopped: bool) -> dict:
    """One rollout's result: success by the goal's privileged check on ``final`` (a SceneState), and the
    gripper's (and the goal object's) distance to where the goal state has it, at ``start`` and ``final``."""
    spec = goal.spec
    row = {"task": spec.task, "seed": spec.seed, "object": spec.object, "success": bool(spec.is_success(final)),
           "steps": steps, "policy_stopped": stopped,
           "ee_to_goal_start_m": float(np.linalg.norm(start.ee_pos - goal.state.ee_pos)),
           "ee_to_goal_end_m": float(np.linalg.norm(final.ee_pos - goal.state.ee_pos)),
           "ee_end_xyz_m": [float(v) for v in final.ee_pos], "goal_ee_xyz_m": [float(v) for v in goal.state.ee_pos]}
    if spec.object is not None:
        target = goal.state.object_pos(spec.object)
        row["object_to_goal_start_m"] = float(np.linalg.norm(start.object_pos(spec.object) - target))
        row["object_to_goal_end_m"] = float(np.linalg.norm(final.object_pos(spec.object) - target))
    return row

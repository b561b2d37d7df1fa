"""End to end through real nodes and processes: record play, train in the test, reach goal images.

The `am` command runs each stage as a user would, over real DDS and real bags: the sim cell and the play
collector record reach-and-wander episodes, the trainer learns from the bags, and the policy node drives
the sim cell toward held-out goal images (the gripper moved to a place over the table, rendered in a
scene no training episode used), scored by the goal evaluator from the sim's privileged state.

The budget is sized for CI on a 2-core CPU machine; the assertion is progress toward the goal, not
success: on average the gripper ends nearer the goal than it started, and nearer for most goals.
"""

import json
import os
import subprocess
import sys

import pytest

AM = [sys.executable, "-m", "am_bringup.cli"]
CAMERA = ["--set", "sim_cell.image_width=64", "--set", "sim_cell.image_height=64"]
GOALS = 8


def _am(*args: str, timeout: float) -> subprocess.CompletedProcess:
    result = subprocess.run([*AM, *args], capture_output=True, text=True, timeout=timeout, env=os.environ.copy())
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


@pytest.mark.ros
def test_checkpoint_trained_here_drives_the_arm_toward_goal_images(tmp_path):
    bags, run = tmp_path / "play", tmp_path / "run"
    _am("collect", "--out", str(bags), "--episodes", "40", "--steps", "30", "--seed", "1000", *CAMERA,
        "--set", "play_collector.primitives=[reach, random_motion]", timeout=600)
    _am("train", "--dataset", str(bags), "--out", str(run), "--steps", "1500",
        "--set", "trainer.image_size=32", "--set", "trainer.method=gcbc", "--set", "trainer.checkpoint_every=1500",
        timeout=900)
    _am("run", "evaluate", *CAMERA, "--set", f"policy.checkpoint={run}",
        "--set", "goal_evaluator.tasks=[reaching]", "--set", f"goal_evaluator.goals_per_task={GOALS}",
        "--set", "goal_evaluator.image_width=64", "--set", "goal_evaluator.image_height=64",
        "--set", "goal_evaluator.max_steps=25", "--set", f"goal_evaluator.output_dir={tmp_path / 'eval'}",
        timeout=600)
    results = json.loads((tmp_path / "eval" / "results.json").read_text())["results"]
    assert len(results) == GOALS and all(r["task"] == "reaching" and r["seed"] >= 100000 for r in results)
    start = [r["ee_to_goal_start_m"] for r in results]
    end = [r["ee_to_goal_end_m"] for r in results]
    closer = sum(e < s for s, e in zip(start, end))
    report = ", ".join(f"{s:.3f}->{e:.3f}" for s, e in zip(start, end))
    print(f"[reach e2e] summed end/start {sum(end) / sum(start):.2f}, closer on {closer}/{GOALS}: {report}")
    assert sum(end) < 0.75 * sum(start), f"gripper to goal, start->end (m): {report}"
    assert closer >= GOALS * 3 // 4, f"gripper to goal, start->end (m): {report}"

"""Scoring and reporting rollouts: the results table and the rollout GIFs a user opens first."""

import pytest
import numpy as np
from PIL import Image

from actionable_models.evaluation import format_table, labelled_frame, summarize, wilson_interval, write_gif


def _rows():
    return [{"task": "instance_grasping", "success": True, "steps": 12, "policy_stopped": True,
             "ee_to_goal_start_m": 0.30, "ee_to_goal_end_m": 0.02, "object_to_goal_start_m": 0.17,
             "object_to_goal_end_m": 0.01},
            {"task": "instance_grasping", "success": False, "steps": 50, "policy_stopped": False,
             "ee_to_goal_start_m": 0.20, "ee_to_goal_end_m": 0.10, "object_to_goal_start_m": 0.17,
             "object_to_goal_end_m": 0.17},
            {"task": "reaching", "success": None, "skipped": "no goal"}]


def test_table_has_rates_intervals_and_median_distances():
    rows = _rows()
    table = summarize(rows)
    assert table["instance_grasping"]["trials"] == 2 and table["reaching"]["trials"] == 0
    lo, hi = table["instance_grasping"]["ci95"]
    assert (lo, hi) == tuple(round(v, 3) for v in wilson_interval(1, 2)) and lo < 0.5 < hi
    text = format_table(table, rows)
    line = next(x for x in text.splitlines() if x.startswith("| instance_grasping"))
    assert f"| 1/2 | 0.50 | {lo:.2f}-{hi:.2f} |" in line
    assert line.endswith("| 0.250 -> 0.060 | 0.170 -> 0.090 | 1/2 |")
    assert "gripper to goal, start -> end (m)" in text.splitlines()[0]
    assert format_table(table).splitlines()[0] == "| task | success | rate | 95% CI |"


def test_gif_frames_are_labelled_and_play_at_the_control_rate(tmp_path):
    camera = np.zeros((64, 64, 3), np.uint8)
    goal = np.full((64, 64, 3), 200, np.uint8)
    frame = labelled_frame(camera, goal, "instance_grasping of red_cube: step 3/50", "failure after 50 steps")
    assert frame.shape == (44 + 192, 2 * 192, 3) and frame.dtype == np.uint8
    assert frame[44:, :192].max() == 255  # the white "camera" label on the black camera panel
    assert (frame[44 + 40:, 192 + 40:] == 200).all()  # the goal panel below its label, scaled, untouched
    assert frame[:44].max() > 200  # text in the title bar
    path = tmp_path / "rollout.gif"
    write_gif(path, [frame, frame[:, ::-1].copy()], fps=5.0)
    with Image.open(path) as gif:
        assert gif.n_frames == 2 and gif.info["duration"] == 200  # ms: 5 Hz


def test_rollout_gives_the_policy_the_cells_measured_pose_and_closure_only():
    """The core evaluator passes what a real arm publishes (camera, measured pose, gripper closure), never the
    privileged scene state."""
    from types import SimpleNamespace

    from actionable_models.evaluation import rollout

    class FakeCell:
        def __init__(self):
            self.closure, self.steps = 0.0, 0

        def reset(self, seed, layout):
            pass

        def scene_state(self):
            return SimpleNamespace(ee_pos=np.zeros(3))

        def ee_pose(self):
            return np.array([0.45, 0.0, 0.2]), 0.1

        def gripper_closure(self):
            return self.closure

        def render(self):
            return np.zeros((8, 8, 3), np.uint8)

        def set_command(self, pos, yaw, gripper):
            self.closure = gripper  # the fingers follow the command at once

        def step(self):
            self.steps += 1

    class RecordingPolicy:
        def __init__(self):
            self.calls = []

        def set_goal(self, image):
            pass

        def decide(self, obs_rgb, ee_pos, ee_yaw, gripper_closure=None):
            self.calls.append((tuple(ee_pos), ee_yaw, gripper_closure))
            return SimpleNamespace(reached=False, target_pos=ee_pos, target_yaw=ee_yaw,
                                   gripper=1.0 - (gripper_closure or 0.0))

    spec = SimpleNamespace(seed=1, layout="default", task="reaching", object=None, is_success=lambda s: False)
    goal = SimpleNamespace(spec=spec, image=np.zeros((8, 8, 3), np.uint8), state=SimpleNamespace(ee_pos=np.zeros(3)))
    policy = RecordingPolicy()
    row = rollout(FakeCell(), policy, goal, max_steps=3)
    assert row["steps"] == 3
    assert [c[2] for c in policy.calls] == [0.0, 1.0, 0.0]  # the measured closure of each step
    assert policy.calls[0][:2] == ((0.45, 0.0, 0.2), 0.1)


def test_ray_split_separates_depth_error_from_error_across_the_view():
    from actionable_models.evaluation import ray_split

    camera = (0.0, 0.0, 1.0)
    goal = [0.0, 0.0, 0.0]  # the ray from the camera through the goal's gripper is -z
    rows = [{"goal_ee_xyz_m": goal, "ee_end_xyz_m": [0.0, 0.0, 0.1]},  # 0.1 along the ray
            {"goal_ee_xyz_m": goal, "ee_end_xyz_m": [0.03, 0.04, 0.0]}]  # 0.05 across it
    along, across = ray_split(rows + rows[:1], camera)
    assert along == pytest.approx(0.1) and across == pytest.approx(0.0)
    along, across = ray_split(rows + rows[1:], camera)
    assert along == pytest.approx(0.0) and across == pytest.approx(0.05)

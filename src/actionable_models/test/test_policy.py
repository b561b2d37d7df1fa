"""The deployable policy: rebuilt from a checkpoint alone, bounded commands, clear errors, hold rules."""

import numpy as np
import pytest
from actionable_models.data.dataset import DatasetConfig
from actionable_models.learning.checkpoint import CheckpointError, latest_checkpoint, read_info
from actionable_models.learning.config import LearnerConfig
from actionable_models.learning.trainer import TrainConfig, train
from actionable_models.policy import GoalReachingPolicy, PolicyConfig, SafetyMonitor
from bagfactory import write_dataset
from safetensors import safe_open
from safetensors.torch import load_file, save_file

LEARNER = LearnerConfig(image_size=16, embed_dim=32, batch_size=8, cem_samples=16, cem_elites=4,
                        negative_candidates=8)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("policy")
    write_dataset(root / "bags", episodes=2, frames=8, height=32, width=32)
    train(root / "bags", root / "run", LEARNER, TrainConfig(steps=4, checkpoint_every=4),
          DatasetConfig(image_size=16, cache_dir=root / "cache"))
    return root / "run"


def test_decisions_are_bounded_and_repeatable(run_dir):
    rng = np.random.default_rng(0)
    camera, goal = (rng.integers(0, 255, (48, 48, 3), dtype=np.uint8) for _ in range(2))
    config = PolicyConfig(max_step_m=0.02)
    decisions = []
    for _ in range(2):
        policy = GoalReachingPolicy(run_dir, config)  # a run directory: its latest checkpoint
        policy.set_goal(goal)
        decisions.append(policy.decide(camera, np.array([0.64, 0.0, 0.01]), 0.0))
    d = decisions[0]
    assert policy.image_size == 16 and policy.info.step == 4
    assert np.linalg.norm(d.target_pos - [0.64, 0.0, 0.01]) <= 0.02 + 1e-9
    assert np.all(d.target_pos >= config.workspace_min) and np.all(d.target_pos <= config.workspace_max)
    assert 0.0 <= d.gripper <= 1.0 and 0.0 <= d.q <= 1.0 and d.action.shape == (6,)
    assert np.array_equal(d.action, decisions[1].action) and d.q == decisions[1].q


def test_bad_inputs_are_clear_errors(run_dir, tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        GoalReachingPolicy(tmp_path / "missing.safetensors")
    (tmp_path / "empty_run").mkdir()
    with pytest.raises(CheckpointError, match="holds no checkpoint"):
        GoalReachingPolicy(tmp_path / "empty_run")
    good = latest_checkpoint(run_dir)
    tensors = load_file(str(good))
    first = sorted(tensors)[0]
    tensors[first] = tensors[first].clone().fill_(float("nan"))
    with safe_open(str(good), framework="pt") as f:
        metadata = f.metadata()
    save_file(tensors, str(tmp_path / "nan.safetensors"), metadata=metadata)
    assert read_info(tmp_path / "nan.safetensors").step == 4
    with pytest.raises(CheckpointError, match="nan.safetensors: weights hold NaN or infinity"):
        GoalReachingPolicy(tmp_path / "nan.safetensors")
    policy = GoalReachingPolicy(run_dir)
    camera = np.zeros((16, 16, 3), np.uint8)
    with pytest.raises(RuntimeError, match="no goal image"):
        policy.decide(camera, np.zeros(3), 0.0)
    policy.set_goal(camera)
    with pytest.raises(ValueError, match="not finite"):
        policy.decide(camera, np.array([np.nan, 0, 0]), 0.0)


def test_safety_monitor_holds_on_missing_or_stale_inputs():
    monitor = SafetyMonitor(stale_after_s=0.5)
    assert monitor.hold_reason(10.0, None, 9.0, 9.9) == "no camera image received yet"
    assert monitor.hold_reason(10.0, 9.9, None, 9.9) == "no goal image received yet"
    assert "camera image is stale" in monitor.hold_reason(10.0, 9.0, 1.0, 9.9)
    assert "end-effector pose is stale" in monitor.hold_reason(10.0, 9.9, 1.0, 8.0)
    assert monitor.hold_reason(10.0, 9.8, 1.0, 9.9) is None  # an old goal is still the goal


def test_q_stop_applies_to_q_functions_not_to_behaviour_cloning(run_dir):
    camera = np.zeros((16, 16, 3), np.uint8)
    pose = np.array([0.45, 0.0, 0.2])
    policy = GoalReachingPolicy(run_dir, PolicyConfig(reached_q=1e-6, use_terminate=False))
    policy.set_goal(camera)
    assert policy.decide(camera, pose, 0.0).reached  # any Q clears a threshold this low
    policy.learner.method = "gcbc"  # a GCBC score says how data-like an action is, not how likely the goal is
    assert not policy.decide(camera, pose, 0.0).reached

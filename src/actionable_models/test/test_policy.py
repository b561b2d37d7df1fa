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


@pytest.fixture(scope="module")
def proprio_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("policy_proprio")
    write_dataset(root / "bags", episodes=2, frames=8, height=32, width=32)
    learner = LearnerConfig(**{**LEARNER.__dict__, "use_proprio": True})
    train(root / "bags", root / "run", learner, TrainConfig(steps=4, checkpoint_every=4),
          DatasetConfig(image_size=16, cache_dir=root / "cache"))
    return root / "run"


def test_a_proprio_checkpoint_needs_the_gripper_closure(proprio_run):
    camera = np.random.default_rng(0).integers(0, 255, (16, 16, 3), dtype=np.uint8)
    pose = np.array([0.45, 0.0, 0.2])
    policy = GoalReachingPolicy(proprio_run)
    assert policy.learner.use_proprio and policy.needs_gripper_closure
    policy.set_goal(camera)
    with pytest.raises(ValueError, match="trained with use_proprio: decide\\(\\) needs the measured gripper closure"):
        policy.decide(camera, pose, 0.0)
    with pytest.raises(ValueError, match="gripper closure is not finite"):
        policy.decide(camera, pose, 0.0, float("nan"))
    decision = policy.decide(camera, pose, 0.0, 1.0)
    assert 0.0 <= decision.q <= 1.0 and decision.action.shape == (6,)
    # the closure is an input: the same image and pose, fingers open against closed, score differently
    import torch

    from actionable_models.learning.proprio import proprio_vector

    embeddings = []
    for closure in (0.0, 1.0):
        p = torch.as_tensor(proprio_vector(np.r_[pose, 0.0], closure))[None]
        embeddings.append(policy.q.embed(policy._tensor(camera), policy.goal, p))
    assert not torch.allclose(embeddings[0], embeddings[1])


def test_an_old_checkpoint_without_the_field_loads_as_use_proprio_false(run_dir, tmp_path):
    import json

    good = latest_checkpoint(run_dir)
    with safe_open(str(good), framework="pt") as f:
        metadata = dict(f.metadata())
    config = json.loads(metadata["config"])
    del config["use_proprio"]  # as a checkpoint written before the field existed
    metadata["config"] = json.dumps(config)
    save_file(load_file(str(good)), str(tmp_path / "old.safetensors"), metadata=metadata)
    assert read_info(tmp_path / "old.safetensors").config.use_proprio is False
    policy = GoalReachingPolicy(tmp_path / "old.safetensors")
    assert not policy.needs_gripper_closure
    camera = np.zeros((16, 16, 3), np.uint8)
    policy.set_goal(camera)
    assert policy.decide(camera, np.array([0.45, 0.0, 0.2]), 0.0).action.shape == (6,)  # no closure needed
    assert policy.decide(camera, np.array([0.45, 0.0, 0.2]), 0.0, 0.5).action.shape == (6,)  # and ignored


def test_safety_monitor_holds_a_proprio_policy_without_a_gripper_joint_state():
    monitor = SafetyMonitor(stale_after_s=0.5)
    assert monitor.hold_reason(10.0, 9.9, 1.0, 9.9) is None  # a policy without proprio needs none
    assert "no gripper joint state" in monitor.hold_reason(10.0, 9.9, 1.0, 9.9, None, needs_gripper=True)
    assert "gripper joint state is stale" in monitor.hold_reason(10.0, 9.9, 1.0, 9.9, 8.0, needs_gripper=True)
    assert monitor.hold_reason(10.0, 9.9, 1.0, 9.9, 9.9, needs_gripper=True) is None

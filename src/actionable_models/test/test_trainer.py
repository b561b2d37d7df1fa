"""The training loop on small synthetic bags: checkpoints, exact resume, bad input, scale-out with torchrun."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from bagfactory import write_dataset, write_episode

from actionable_models.data.dataset import DatasetConfig, DatasetError
from actionable_models.errors import ConfigError
from actionable_models.learning import checkpoint as ckpt
from actionable_models.learning.config import LearnerConfig
from actionable_models.learning.networks import make_q_network
from actionable_models.learning.trainer import TrainConfig, train

LEARNER = LearnerConfig(image_size=16, embed_dim=32, batch_size=8, cem_samples=16, cem_elites=4,
                        negative_candidates=8)


@pytest.fixture(scope="module")
def bags(tmp_path_factory):
    root = tmp_path_factory.mktemp("bags")
    write_dataset(root, episodes=4, frames=10, height=32, width=32)
    return root


def _train(bags, run_dir, cache, steps, learner=LEARNER, **kwargs):
    return train(bags, run_dir, learner, TrainConfig(steps=steps, checkpoint_every=5, log_every=5),
                 DatasetConfig(image_size=learner.image_size, cache_dir=cache), **kwargs)


def test_checkpoint_describes_itself_and_round_trips_exactly(bags, tmp_path):
    result = _train(bags, tmp_path / "run", tmp_path / "cache", 10)
    assert result.step == 10 and result.checkpoint.name == "checkpoint-00000010.safetensors"
    info = ckpt.read_info(result.checkpoint)
    assert info.config == LEARNER and info.step == 10 and info.dataset["episodes"] == 4
    q = make_q_network(info.config)  # rebuilt from the checkpoint alone
    ckpt.load_weights(result.checkpoint, q)
    saved = torch.load(tmp_path / "run" / ckpt.TRAIN_STATE, weights_only=True)
    assert saved["step"] == 10
    lines = (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["step"] for line in lines] == [5, 10]
    assert any((tmp_path / "run" / "tensorboard").iterdir())


@pytest.mark.parametrize("overrides", [{}, {"clipped_double_q": True}], ids=["default", "clipped_double_q"])
def test_interrupted_run_resumes_to_the_same_weights(bags, tmp_path, overrides):
    learner = LearnerConfig(**{**LEARNER.__dict__, **overrides})  # clipped_double_q: its lagged target resumes too
    straight = _train(bags, tmp_path / "straight", tmp_path / "cache", 12, learner=learner)
    stops = iter([False] * 7 + [True])
    first = _train(bags, tmp_path / "resumed", tmp_path / "cache", 12, should_stop=lambda: next(stops),
                   learner=learner)
    assert first.step == 7  # stopped by request, with a checkpoint of step 7
    second = _train(bags, tmp_path / "resumed", tmp_path / "cache", 12, learner=learner)
    assert second.resumed_from == 7 and second.step == 12
    a, b = make_q_network(learner), make_q_network(learner)
    ckpt.load_weights(straight.checkpoint, a)
    ckpt.load_weights(second.checkpoint, b)
    for (name, pa), pb in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(pa, pb), name


def test_same_seed_same_weights_and_another_seed_differs(bags, tmp_path):
    a = _train(bags, tmp_path / "a", tmp_path / "cache", 5)
    b = _train(bags, tmp_path / "b", tmp_path / "cache", 5)
    c = _train(bags, tmp_path / "c", tmp_path / "cache", 5, learner=LearnerConfig(**{**LEARNER.__dict__, "seed": 1}))
    wa, wb, wc = (torch.load(tmp_path / d / ckpt.TRAIN_STATE, weights_only=True)["q_target"] for d in "abc")
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    assert not all(torch.equal(wa[k], wc[k]) for k in wa)
    assert a.checkpoint.name == b.checkpoint.name == c.checkpoint.name


def test_empty_dataset_is_a_clear_error(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="empty|no episode"):
        _train(tmp_path / "empty", tmp_path / "run", tmp_path / "cache", 5)


def test_image_size_mismatch_is_a_clear_error(bags, tmp_path):
    with pytest.raises(ConfigError, match="dataset image size 32 does not match the learner's image_size 16"):
        train(bags, tmp_path / "run", LEARNER, TrainConfig(steps=2), DatasetConfig(image_size=32))


def test_checkpoint_from_another_configuration_is_refused(bags, tmp_path):
    _train(bags, tmp_path / "run", tmp_path / "cache", 5)
    other = LearnerConfig(**{**LEARNER.__dict__, "fusion": "early"})
    with pytest.raises(ckpt.CheckpointError, match="another configuration.*fusion: 'late' != 'early'"):
        _train(bags, tmp_path / "run", tmp_path / "cache", 10, learner=other)
    wrong = make_q_network(other)
    with pytest.raises(ckpt.CheckpointError, match="do not fit this network"):
        ckpt.load_weights(ckpt.latest_checkpoint(tmp_path / "run"), wrong)
    (tmp_path / "junk.safetensors").write_bytes(b"not a checkpoint")
    with pytest.raises(ckpt.CheckpointError, match="junk.safetensors: not a readable"):
        ckpt.read_info(tmp_path / "junk.safetensors")


def test_nan_in_the_data_stops_training_with_a_clear_error(tmp_path):
    root = tmp_path / "bags"
    for i in range(2):
        write_episode(root, i, frames=6, height=16, width=16,
                      cmd_fn=lambda k: (np.array([np.nan, 0.1, 0.2]), 0.0, 0.0))
    with pytest.raises(FloatingPointError, match="non-finite loss"):
        _train(root, tmp_path / "run", tmp_path / "cache", 5)


def test_torchrun_two_processes_train_in_sync(bags, tmp_path):
    """DistributedDataParallel over gloo with two CPU ranks, each sampling its own shard of episodes."""
    torchrun = Path(sys.executable).with_name("torchrun")
    config = tmp_path / "train.yaml"
    params = {"dataset": str(bags), "run_dir": str(tmp_path / "run"), "steps": 6, "checkpoint_every": 3,
              "log_every": 3, "device": "cpu", **{k: getattr(LEARNER, k) for k in (
                  "image_size", "embed_dim", "batch_size", "cem_samples", "cem_elites", "negative_candidates")}}
    import yaml
    config.write_text(yaml.safe_dump({"trainer": {"ros__parameters": params}}))
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache"), "OMP_NUM_THREADS": "1"}
    result = subprocess.run([str(torchrun), "--standalone", "--nproc_per_node=2", "-m", "am_bringup.cli", "train",
                             "--config", str(config)], capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    run = json.loads((tmp_path / "run" / "config.json").read_text())
    assert run["world_size"] == 2
    assert ckpt.read_info(ckpt.latest_checkpoint(tmp_path / "run")).step == 6


def test_in_memory_transitions_train_like_bags_and_guard_resume(bags, tmp_path):
    from actionable_models.data.dataset import load_dataset
    from actionable_models.learning.sampler import Transitions
    from actionable_models.learning.trainer import train_transitions

    from_bags = _train(bags, tmp_path / "bags_run", tmp_path / "cache", 5)
    dataset = load_dataset(bags, DatasetConfig(image_size=16, cache_dir=tmp_path / "cache"))
    data = Transitions(dataset.images, dataset.actions, dataset.episode, dataset.is_last, dataset.scene_ids())
    identity = {"key": dataset.key, "episodes": dataset.num_episodes, "steps": len(dataset)}
    schedule = TrainConfig(steps=5, checkpoint_every=5, log_every=5)
    result = train_transitions(data, identity, tmp_path / "mem_run", LEARNER, schedule)
    a, b = make_q_network(LEARNER), make_q_network(LEARNER)
    ckpt.load_weights(from_bags.checkpoint, a)
    ckpt.load_weights(result.checkpoint, b)
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))
    with pytest.raises(ckpt.CheckpointError, match="another dataset"):
        train_transitions(data, {**identity, "key": "other"}, tmp_path / "mem_run", LEARNER,
                          TrainConfig(steps=10, checkpoint_every=5))
    with pytest.raises(ConfigError, match="identity needs a 'key'"):
        train_transitions(data, {}, tmp_path / "x", LEARNER, schedule)


def test_hold_until_released_waits_for_the_other_reference_and_warns_when_it_stays():
    import threading
    import time
    import warnings

    from actionable_models.learning.trainer import _hold_until_released

    tensor = torch.zeros(3)
    held = [tensor.view(-1)]  # a view holds a reference to its base, like a collective's work object
    threading.Timer(0.05, held.clear).start()
    started = time.monotonic()
    _hold_until_released([tensor])
    assert time.monotonic() - started >= 0.04 and tensor._use_count() == 1
    stuck = tensor.view(-1)  # noqa: F841 (the reference that never goes)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _hold_until_released([tensor], timeout_s=0.05)
    assert any("still holds" in str(w.message) for w in caught)


def test_am_diagnose_scores_a_checkpoint_on_held_out_bags(bags, tmp_path, capsys, monkeypatch):
    """`am diagnose RUN --dataset BAGS`: the table on stdout and in diagnostics.md, and a PNG plot; a
    missing checkpoint is exit 2 with a message naming it."""
    from am_bringup.cli import main

    result = _train(bags, tmp_path / "run", tmp_path / "cache", 5)
    held_out = tmp_path / "held_out"
    write_dataset(held_out, episodes=2, frames=10, height=32, width=32)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))  # the dataset cache of the held-out bags
    assert main(["diagnose", str(result.run_dir), "--dataset", str(held_out), "--samples", "8"]) == 0
    out = capsys.readouterr().out
    assert "| k | n | Q(data) |" in out and "| 1 | 8 |" in out and "| 8 | " in out
    assert (result.run_dir / "diagnostics.md").read_text().count("\n|") >= 4
    assert (result.run_dir / "diagnostics.png").read_bytes()[:4] == b"\x89PNG"
    assert main(["diagnose", str(tmp_path / "nothing"), "--dataset", str(held_out)]) == 2
    assert "checkpoint does not exist" in capsys.readouterr().err


def test_am_train_sets_use_proprio_and_fills_it_from_the_datasets_pose_and_closure(bags, tmp_path, monkeypatch):
    """`am train --set trainer.use_proprio=true` trains a checkpoint that records it; the transitions carry
    the dataset's measured ee_pose and gripper closure, scaled; the same seed gives the same weights."""
    import yaml

    from actionable_models.data.dataset import load_dataset
    from actionable_models.learning.proprio import proprio_vector
    from actionable_models.learning.trainer import dataset_transitions
    from am_bringup.cli import main

    dataset = load_dataset(bags, DatasetConfig(image_size=16, cache_dir=tmp_path / "cache"))
    learner = LearnerConfig(**{**LEARNER.__dict__, "use_proprio": True})
    data = dataset_transitions(dataset, learner)
    assert np.array_equal(data.proprio, proprio_vector(dataset.ee_pose, dataset.gripper))
    assert np.allclose(data.proprio[:, 4], 2 * np.asarray(dataset.gripper) - 1)
    assert dataset_transitions(dataset, LEARNER).proprio is None  # nothing extra without the option

    a = _train(bags, tmp_path / "a", tmp_path / "cache", 5, learner=learner)
    b = _train(bags, tmp_path / "b", tmp_path / "cache", 5, learner=learner)
    wa, wb = (torch.load(tmp_path / d / ckpt.TRAIN_STATE, weights_only=True)["q_target"] for d in "ab")
    assert any(k.startswith("proprio.") for k in wa) and all(torch.equal(wa[k], wb[k]) for k in wa)
    assert ckpt.read_info(a.checkpoint).config.use_proprio
    with pytest.raises(ckpt.CheckpointError, match="use_proprio: True != False"):
        _train(bags, tmp_path / "a", tmp_path / "cache", 10)  # resuming without the option is refused

    config = tmp_path / "train.yaml"
    params = {"dataset": str(bags), "run_dir": str(tmp_path / "cli"), "steps": 2, "checkpoint_every": 2,
              "log_every": 1, "device": "cpu", **{k: getattr(LEARNER, k) for k in (
                  "image_size", "embed_dim", "batch_size", "cem_samples", "cem_elites", "negative_candidates")}}
    config.write_text(yaml.safe_dump({"trainer": {"ros__parameters": params}}))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert main(["train", "--config", str(config), "--set", "trainer.use_proprio=true"]) == 0
    info = ckpt.read_info(ckpt.latest_checkpoint(tmp_path / "cli"))
    assert info.config.use_proprio is True and info.step == 2

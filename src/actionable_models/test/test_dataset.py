"""Episode bags -> cached training arrays, and the bag inspector. Synthetic bags, no ROS."""

import math
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from bagfactory import write_dataset, write_episode  # noqa: E402

from actionable_models.actions import ActionSpec  # noqa: E402
from actionable_models.data import dataset as dataset_module  # noqa: E402
from actionable_models.data import keys  # noqa: E402
from actionable_models.data.dataset import DatasetConfig, DatasetError, load_dataset  # noqa: E402
from actionable_models.data.inspect_bags import (  # noqa: E402
    dataset_check,
    dataset_info,
    format_info,
    format_problems,
)
from actionable_models.errors import ConfigError  # noqa: E402
from actionable_models.geometry import wrap_angle  # noqa: E402


@pytest.fixture
def cfg(tmp_path):
    def make(**kwargs):
        return DatasetConfig(cache_dir=tmp_path / "cache", **kwargs)
    return make


def _expected_actions(cmd, ee, grip, spec=ActionSpec()):
    """Independent formula: (command - measured), shortened to one step's reach, / scale; wrapped yaw,
    gripper 2g - 1, terminate -1."""
    out = np.empty((len(ee), 6))
    delta = cmd[:, :3] - ee[:, :3]
    length = np.linalg.norm(delta, axis=1, keepdims=True)
    delta = delta * np.minimum(1.0, spec.max_translation_m / np.maximum(length, 1e-12))
    out[:, :3] = delta / spec.max_translation_m
    out[:, 3] = [wrap_angle(c - e) / spec.max_yaw_rad for c, e in zip(cmd[:, 3], ee[:, 3])]
    out[:, 4] = 2.0 * np.asarray(grip) - 1.0
    out[:, 5] = -1.0
    return np.clip(out, -1, 1)


# --- exact values -------------------------------------------------------------------------------------------


def test_tiny_hand_made_episode_gives_exact_arrays(tmp_path, cfg):
    rng = np.random.default_rng(0)
    blocks = rng.integers(0, 256, size=(3, 4, 4, 3), dtype=np.uint8)  # what the 4x4 training images must be
    images = [np.repeat(np.repeat(b, 2, axis=0), 2, axis=1) for b in blocks]  # 8x8, uniform 2x2 blocks
    ee = [(np.array([0.40, 0.10, 0.20]), 0.1), (np.array([0.41, 0.10, 0.20]), 0.2), (np.array([0.42, 0.1, 0.2]), 3.1)]
    cmd = [(np.array([0.41, 0.08, 0.225]), 0.25, 0.0),  # +1 cm, -2 cm, +2.5 cm, +0.15 rad, open
           (np.array([0.40, 0.10, 0.30]), 0.2, 1.0),  # -1 cm, 0, +10 cm: shortened to 5 cm along it, closed
           (np.array([0.42, 0.11, 0.20]), -3.1, 1.0)]  # yaw 3.1 -> -3.1 is +0.083 rad across the wrap
    ep = write_episode(tmp_path / "bags", 0, frames=3, height=8, width=8, image_fn=lambda i: images[i],
                       ee_fn=lambda i: ee[i], cmd_fn=lambda i: cmd[i])
    # Scales of 5 cm and 0.3 rad per step, so the numbers below are easy to check by hand.
    ds = load_dataset(tmp_path / "bags", cfg(image_size=4, action_spec=ActionSpec(0.05, 0.3)))

    assert len(ds) == 3 and ds.num_episodes == 1
    assert ds.images.dtype == np.uint8 and ds.images.shape == (3, 4, 4, 3)
    np.testing.assert_array_equal(ds.images, blocks)
    assert ds.ee_pose.dtype == np.float32 and ds.ee_pose.shape == (3, 4)
    np.testing.assert_allclose(ds.ee_pose, [[0.40, 0.10, 0.20, 0.1], [0.41, 0.10, 0.20, 0.2],
                                            [0.42, 0.10, 0.20, 3.1]], atol=1e-6)
    assert ds.actions.dtype == np.float32 and ds.actions.shape == (3, 6)
    np.testing.assert_allclose(ds.actions, [[0.2, -0.4, 0.5, 0.5, -1, -1],
                                            [-1 / math.sqrt(101), 0.0, 10 / math.sqrt(101), 0.0, 1, -1],
                                            [0.0, 0.2, 0.0, (2 * math.pi - 6.2) / 0.3, 1, -1]], atol=1e-5)
    # measured closure from /joint_states gripper_finger_joint / 0.8: the fingers lag the command
    np.testing.assert_allclose(ds.gripper, ep.closure, atol=1e-6)
    np.testing.assert_allclose(ep.closure, [0.0, 0.0, 0.9])
    assert ds.episode.dtype == np.int32 and ds.episode.tolist() == [0, 0, 0]
    assert ds.step.dtype == np.int32 and ds.step.tolist() == [0, 1, 2]
    assert ds.is_last.dtype == np.bool_ and ds.is_last.tolist() == [False, False, True]
    record = ds.episodes[0]
    assert (record.path, record.num_steps, record.offset) == (ep.path, 3, 0)
    assert record.metadata[keys.META_TASK] == "pick" and record.metadata[keys.META_OUTCOME] == "success"
    assert record.metadata == ep.metadata


def test_several_episodes_concatenate_with_resized_images(tmp_path, cfg):
    eps = write_dataset(tmp_path / "bags", 3, frames=4, height=20, width=24)
    calls = []
    ds = load_dataset(tmp_path / "bags", cfg(image_size=8), progress=lambda done, total: calls.append((done, total)))
    assert calls == [(1, 3), (2, 3), (3, 3)]
    assert len(ds) == 12 and ds.num_episodes == 3
    assert ds.episode.tolist() == [0] * 4 + [1] * 4 + [2] * 4
    assert ds.step.tolist() == [0, 1, 2, 3] * 3
    assert np.flatnonzero(ds.is_last).tolist() == [3, 7, 11]
    for k, ep in enumerate(eps):
        steps = ds.episode_steps(k)
        assert ds.episodes[k].offset == 4 * k and ds.episodes[k].path == ep.path
        expected = np.stack([cv2.resize(im, (8, 8), interpolation=cv2.INTER_AREA) for im in ep.images])
        np.testing.assert_array_equal(ds.images[steps], expected)
        np.testing.assert_allclose(ds.actions[steps], _expected_actions(ep.cmd, ep.ee, ep.gripper_cmd), atol=1e-5)
        np.testing.assert_allclose(ds.ee_pose[steps], ep.ee, atol=1e-6)


def test_bgr8_frames_read_the_same_as_rgb8(tmp_path, cfg):
    write_episode(tmp_path / "rgb", 0, frames=3, seed=7)
    write_episode(tmp_path / "bgr", 0, frames=3, seed=7, encoding="bgr8")
    rgb = load_dataset(tmp_path / "rgb", cfg(image_size=8))
    bgr = load_dataset(tmp_path / "bgr", cfg(image_size=8))
    np.testing.assert_array_equal(rgb.images, bgr.images)


def test_out_of_order_and_duplicate_frames_are_sorted_and_dropped(tmp_path, cfg):
    ep = write_episode(tmp_path / "bags", 0, frames=6, late_frames=[1, 3], duplicate_frames=[4])
    ds = load_dataset(tmp_path / "bags", cfg(image_size=16))
    assert len(ds) == 6  # the repeated stamp counts once
    np.testing.assert_array_equal(ds.images, ep.images)  # 16 px: no resize, stamp order restored
    np.testing.assert_allclose(ds.actions, _expected_actions(ep.cmd, ep.ee, ep.gripper_cmd), atol=1e-5)


# --- command alignment ------------------------------------------------------------------------------------


def test_commands_with_other_stamps_match_by_receive_time(tmp_path, cfg):
    ep = write_episode(tmp_path / "bags", 0, frames=5, cmd_stamp_offset_ns=-777)  # a teleop's own clock
    ds = load_dataset(tmp_path / "bags", cfg(image_size=8))
    np.testing.assert_allclose(ds.actions, _expected_actions(ep.cmd, ep.ee, ep.gripper_cmd), atol=1e-5)


def test_unanswered_frames_hold_the_previous_command(tmp_path, cfg):
    ep = write_episode(tmp_path / "bags", 0, frames=6, drop_commands=[0, 3, 4])
    ds = load_dataset(tmp_path / "bags", cfg(image_size=8))
    cmd, grip = ep.cmd.copy(), ep.gripper_cmd.copy()
    cmd[[3, 4]], grip[[3, 4]] = cmd[2], grip[2]  # held
    cmd[0], grip[0] = ep.ee[0], 0.0  # before the first command: hold the measured pose, gripper open
    np.testing.assert_allclose(ds.actions, _expected_actions(cmd, ep.ee, grip), atol=1e-5)
    np.testing.assert_allclose(ds.actions[0, :4], 0.0, atol=1e-6)


def test_an_unanswered_last_frame_holds_the_measured_pose_with_the_last_gripper(tmp_path, cfg):
    ep = write_episode(tmp_path / "bags", 0, frames=5, drop_commands=[3, 4])
    ds = load_dataset(tmp_path / "bags", cfg(image_size=8))
    cmd, grip = ep.cmd.copy(), ep.gripper_cmd.copy()
    cmd[3], grip[3:] = cmd[2], grip[2]  # frame 3 holds the previous command
    cmd[4] = ep.ee[4]  # the last frame holds where the arm is
    np.testing.assert_allclose(ds.actions, _expected_actions(cmd, ep.ee, grip), atol=1e-5)
    np.testing.assert_allclose(ds.actions[4, :4], 0.0, atol=1e-6)


def test_the_gripper_command_pairs_with_its_pose_command_in_either_log_order(tmp_path, cfg):
    ep = write_episode(tmp_path / "bags", 0, frames=6, gripper_after_pose=True)
    ds = load_dataset(tmp_path / "bags", cfg(image_size=8))
    assert ep.gripper_cmd.tolist() == [0, 0, 0, 1, 1, 1]
    np.testing.assert_allclose(ds.actions[:, 4], 2 * ep.gripper_cmd - 1)


def test_the_last_of_several_commands_for_a_frame_wins(tmp_path, cfg):
    ep = write_episode(tmp_path / "bags", 0, frames=4, commands_per_frame=3)
    ds = load_dataset(tmp_path / "bags", cfg(image_size=8))
    np.testing.assert_allclose(ds.actions, _expected_actions(ep.cmd, ep.ee, ep.gripper_cmd), atol=1e-5)


def test_without_joint_states_the_gripper_is_the_command(tmp_path, cfg):
    ep = write_episode(tmp_path / "bags", 0, frames=6, joint_states=False)
    ds = load_dataset(tmp_path / "bags", cfg(image_size=8))
    np.testing.assert_allclose(ds.gripper, ep.gripper_cmd)


# --- the cache -------------------------------------------------------------------------------------------


def test_second_load_is_a_memory_mapped_cache_hit(tmp_path, cfg, monkeypatch):
    write_dataset(tmp_path / "bags", 3, frames=10, height=32, width=32)
    start = time.perf_counter()
    first = load_dataset(tmp_path / "bags", cfg())
    build_s = time.perf_counter() - start

    def no_build(*args, **kwargs):
        raise AssertionError("cache miss: the dataset was rebuilt")

    monkeypatch.setattr(dataset_module, "_build_into", no_build)
    start = time.perf_counter()
    second = load_dataset(tmp_path / "bags", cfg())
    load_s = time.perf_counter() - start
    assert second.cache_path == first.cache_path and second.key == first.key
    assert load_s < 0.5 and load_s < build_s
    for name in ("images", "ee_pose", "actions", "gripper", "episode", "step", "is_last"):
        assert isinstance(getattr(second, name), np.memmap), name
        np.testing.assert_array_equal(getattr(second, name), getattr(first, name))
    assert [e.path for e in second.episodes] == [e.path for e in first.episodes]
    assert not any(p.name.startswith(".build-") for p in (tmp_path / "cache").iterdir())  # temp dir renamed


def test_cache_misses_when_a_bag_or_the_image_size_changes(tmp_path, cfg):
    import shutil

    write_dataset(tmp_path / "bags", 2, frames=4)
    first = load_dataset(tmp_path / "bags", cfg())
    assert load_dataset(tmp_path / "bags", cfg(image_size=32)).cache_path != first.cache_path
    shutil.rmtree(tmp_path / "bags" / "episode_000001")
    write_episode(tmp_path / "bags", 1, frames=7)
    changed = load_dataset(tmp_path / "bags", cfg())
    assert changed.cache_path != first.cache_path and len(changed) == 11


def test_default_cache_location_follows_xdg(tmp_path, monkeypatch):
    write_dataset(tmp_path / "bags", 1, frames=3)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    ds = load_dataset(tmp_path / "bags")
    assert ds.cache_path.parent == tmp_path / "xdg" / "actionable_models" / "datasets"
    assert (ds.cache_path / "images.npy").is_file()


def test_config_is_validated():
    with pytest.raises(ConfigError, match="image_size"):
        DatasetConfig(image_size=0)
    with pytest.raises(ConfigError, match="skip_bad"):
        DatasetConfig(skip_bad="yes")


# --- bad input -------------------------------------------------------------------------------------------

BAD = {
    "no_camera": ({"camera": False}, "no camera messages"),
    "depth_encoding": ({"encoding": "16UC1"}, "unsupported image encoding '16UC1'"),
    "truncated": ({"truncate": True}, "truncated or corrupt"),
    "corrupt": ({"corrupt": True}, "corrupt .mcap"),
    "no_metadata": ({"drop_metadata": True}, "no metadata.yaml"),
    "marker": ({"leave_marker": True}, "recording marker"),
    "crash": ({"crash": True}, "recording marker"),
    "no_commands": ({"commands": False}, "no pose commands"),
    "no_ee_pose": ({"ee_pose": False}, "no measured poses"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_episode_raises_naming_the_bag_or_is_skipped(tmp_path, cfg, case):
    breaker, problem = BAD[case]
    write_episode(tmp_path / "bags", 0, frames=4)
    bad = write_episode(tmp_path / "bags", 1, frames=4, **breaker)
    write_episode(tmp_path / "bags", 2, frames=4)
    with pytest.raises(DatasetError, match=problem) as err:
        load_dataset(tmp_path / "bags", cfg())
    assert str(bad.path) in str(err.value) and err.value.path == bad.path
    ds = load_dataset(tmp_path / "bags", cfg(skip_bad=True))
    assert ds.num_episodes == 2 and len(ds) == 8
    assert [e.path.name for e in ds.episodes] == ["episode_000000", "episode_000002"]
    assert ds.episode.tolist() == [0] * 4 + [1] * 4
    assert [path for path, _ in ds.skipped] == [bad.path] and problem in ds.skipped[0][1]
    with pytest.raises(DatasetError, match=problem):  # the cached build remembers what it skipped
        load_dataset(tmp_path / "bags", cfg())


def test_missing_empty_and_all_bad_folders(tmp_path, cfg):
    with pytest.raises(DatasetError, match="does not exist"):
        load_dataset(tmp_path / "nowhere", cfg())
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="empty dataset") as err:
        load_dataset(tmp_path / "empty", cfg())
    assert str(tmp_path / "empty") in str(err.value)
    write_episode(tmp_path / "bad", 0, frames=3, camera=False)
    write_episode(tmp_path / "bad", 1, frames=3, encoding="16UC1")  # fails only when the frames are decoded
    with pytest.raises(DatasetError, match="empty dataset"):
        load_dataset(tmp_path / "bad", cfg(skip_bad=True))
    assert not any((tmp_path / "cache").iterdir())  # no half-built entry left behind


def test_a_bad_episode_mid_build_leaves_no_gap(tmp_path, cfg):
    eps = [write_episode(tmp_path / "bags", 0, frames=3),
           write_episode(tmp_path / "bags", 1, frames=5, encoding="16UC1"),  # rows written, then rejected
           write_episode(tmp_path / "bags", 2, frames=4)]
    ds = load_dataset(tmp_path / "bags", cfg(skip_bad=True, image_size=16))
    assert len(ds) == 7 and ds.images.shape == (7, 16, 16, 3)
    np.testing.assert_array_equal(ds.images[3:], eps[2].images)
    assert ds.episodes[1].offset == 3


def test_a_single_bag_folder_is_a_dataset(tmp_path, cfg):
    ep = write_episode(tmp_path, 0, frames=3)
    ds = load_dataset(ep.path, cfg())
    assert len(ds) == 3 and ds.episodes[0].path == ep.path


# --- inspection ------------------------------------------------------------------------------------------


def test_dataset_info_counts_rates_gaps_and_metadata(tmp_path):
    root = tmp_path / "bags"
    write_episode(root, 0, frames=5, task="pick")
    write_episode(root, 1, frames=5, task="pick", gap_after=1, gap_steps=5)
    write_episode(root, 2, frames=5, task="place", outcome="failure")
    write_episode(root, 3, frames=5, crash=True)
    info = dataset_info(root)
    assert info["episodes"] == 3 and info["steps"] == 15
    assert [Path(b["path"]).name for b in info["incomplete"]] == ["episode_000003"]
    assert info["topics"][keys.IMAGE]["count"] == 15 and info["topics"][keys.POSE_CMD]["count"] == 15
    assert 0.4 * 2 + 0.9 <= info["duration_s"] < 0.4 * 2 + 0.9 + 0.05  # the gap makes episode 1 longer
    # 4 intervals per bag over the bags' spans: 10 Hz, less the 0.5 s gap
    assert info["topics"][keys.IMAGE]["rate_hz"] == pytest.approx(12 / info["duration_s"])
    assert 6.5 < info["topics"][keys.IMAGE]["rate_hz"] < 7.5
    gap = info["largest_gaps"][0]
    assert Path(gap["path"]).name == "episode_000001" and gap["gap_s"] == pytest.approx(0.6)
    assert gap["median_s"] == pytest.approx(0.1) and gap["after_s"] == pytest.approx(0.1)
    assert info["metadata"][keys.META_TASK] == {"pick": 2, "place": 1}
    assert info["metadata"][keys.META_OUTCOME] == {"success": 2, "failure": 1}
    assert keys.META_SEED not in info["metadata"]
    assert all(b["size_mb"] > 0 for b in info["bags"]) and info["size_mb"] > sum(b["size_mb"] for b in info["bags"])
    # per-topic bytes: 15 frames of 16 x 16 rgb8 and their headers; rates by header stamps (10 Hz, the gap)
    assert 15 * 768 / 1e6 < info["topics"][keys.IMAGE]["size_mb"] < 2 * 15 * 768 / 1e6
    assert info["topics"][keys.IMAGE]["stamp_rate_hz"] == pytest.approx(12 / (0.4 * 2 + 0.9), rel=0.02)
    assert info["topics"][keys.GRIPPER_CMD]["stamp_rate_hz"] is None  # std_msgs/Float64 has no header
    assert info["stamp_duration_s"] == pytest.approx(0.4 * 2 + 0.9, rel=0.02)
    text = format_info(info)
    assert "3 episodes, 15 steps" in text and "pick x2" in text and "episode_000003" in text
    assert "stamp rate" in text and "MB" in text


CHECKS = {
    "marker": ({"leave_marker": True}, "error", "recording marker"),
    "no_metadata": ({"drop_metadata": True}, "error", "no metadata.yaml"),
    "truncated": ({"truncate": True}, "error", "unreadable bag"),
    "corrupt": ({"corrupt": True}, "error", "corrupt .mcap"),
    "no_camera": ({"camera": False}, "error", f"missing required topic {keys.IMAGE}"),
    "no_commands": ({"commands": False}, "error", f"missing required topic {keys.POSE_CMD}"),
    "no_joint_states": ({"joint_states": False}, "warning", f"no messages on {keys.JOINT_STATES}"),
    "depth_encoding": ({"encoding": "16UC1"}, "error", "unsupported image encoding"),
    "gap": ({"gap_after": 2, "gap_steps": 4}, "warning", "camera gap of 0.500 s after frame 2"),
    "unanswered": ({"drop_commands": [1, 2]}, "warning", "2 of 5 camera frames have no pose command"),
    "too_many_commands": ({"commands_per_frame": 3}, "warning", "15 pose commands for 5 camera frames"),
    "duplicates": ({"duplicate_frames": [2]}, "warning", "repeat an earlier stamp"),
}


@pytest.mark.parametrize("case", list(CHECKS))
def test_dataset_check_finds_each_problem_kind(tmp_path, case):
    breaker, severity, message = CHECKS[case]
    write_episode(tmp_path, 0, frames=5)
    bad = write_episode(tmp_path, 1, frames=5, **breaker)
    problems = dataset_check(tmp_path)
    assert problems, f"nothing found for {case}"
    assert all(p.path == bad.path for p in problems), problems
    assert any(p.severity == severity and message in p.message for p in problems), problems
    assert str(bad.path) in format_problems(problems)


def test_dataset_check_of_clean_and_missing_folders(tmp_path):
    write_dataset(tmp_path / "bags", 2, frames=5)
    assert dataset_check(tmp_path / "bags") == []
    assert format_problems([]) == "no problems found"
    (problem,) = dataset_check(tmp_path / "nowhere")
    assert problem.severity == "error" and "does not exist" in problem.message


@pytest.mark.parametrize("fmt,tolerance", [("png", 0), ("jpeg", 30)])
def test_compressed_camera_bags_build_like_raw_ones(tmp_path, fmt, tolerance):
    """image_transport's compressed frames (<camera>/compressed) decode into the same training arrays."""
    smooth = lambda i: np.full((32, 32, 3), (40 + 20 * i, 120, 200), np.uint8)  # noqa: E731
    raw, packed = tmp_path / "raw", tmp_path / "compressed"
    write_dataset(raw, episodes=2, frames=5, height=32, width=32, image_fn=smooth)
    write_dataset(packed, episodes=2, frames=5, height=32, width=32, image_fn=smooth, encoding=fmt)
    config = DatasetConfig(image_size=32, cache_dir=tmp_path / "cache")
    a, b = load_dataset(raw, config), load_dataset(packed, config)
    for name in ("actions", "ee_pose", "gripper", "episode", "step", "is_last"):
        assert np.array_equal(np.asarray(getattr(a, name)), np.asarray(getattr(b, name))), name
    assert np.abs(np.asarray(a.images, int) - np.asarray(b.images, int)).max() <= tolerance
    info = dataset_info(packed)
    assert info["topics"][keys.IMAGE_COMPRESSED]["count"] == 10 and info["topics"][keys.IMAGE]["count"] == 0
    assert not [p for p in dataset_check(packed) if p.severity == "error"]

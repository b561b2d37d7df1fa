"""Episode bags -> LeRobotDataset v3.0 -> training arrays, checked with readers that are not ours."""

import json
import sys
from pathlib import Path

import cv2
import numpy as np
import pyarrow.parquet as pq
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from bagfactory import write_dataset  # noqa: E402

from actionable_models.data.dataset import DatasetConfig, DatasetError, load_dataset  # noqa: E402
from actionable_models.data.lerobot import CAMERA, export_lerobot, read_lerobot  # noqa: E402

ARRAYS = ("images", "ee_pose", "actions", "gripper", "episode", "step", "is_last")


@pytest.fixture(scope="module")
def bags(tmp_path_factory):
    root = tmp_path_factory.mktemp("lerobot") / "bags"
    write_dataset(root, episodes=3, frames=6, height=32, width=32, metadata={"am.layout": "default"})
    return root


def _decode_with_opencv(path: Path) -> np.ndarray:
    capture = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            return np.stack(frames)
        frames.append(frame[:, :, ::-1])


# lossless: every pixel equal; h264 (yuv420p, chroma at half resolution, of noisy synthetic frames): mean error
@pytest.mark.parametrize("codec,tolerance", [("lossless", 0.0), ("h264", 16.0)])
def test_export_writes_a_v3_folder_that_other_readers_read(bags, tmp_path, codec, tolerance):
    out = tmp_path / "lerobot"
    info = export_lerobot(bags, out, codec=codec)
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()) == [
        "data/chunk-000/file-000.parquet", "meta/episodes/chunk-000/file-000.parquet", "meta/info.json",
        "meta/stats.json", "meta/tasks.parquet", f"videos/{CAMERA}/chunk-000/file-000.mp4"]
    assert json.loads((out / "meta" / "info.json").read_text()) == info
    assert info["codebase_version"] == "v3.0" and info["total_episodes"] == 3 and info["total_frames"] == 18
    assert info["fps"] == 10.0 and info["features"][CAMERA]["shape"] == [32, 32, 3]
    assert info["features"]["observation.state"]["shape"] == [5] and info["features"]["action"]["shape"] == [6]
    # pyarrow reads the frames table: one row per frame, indices and timestamps as LeRobot defines them
    data = pq.read_table(out / "data" / "chunk-000" / "file-000.parquet").to_pydict()
    assert data["index"] == list(range(18)) and data["episode_index"] == [0] * 6 + [1] * 6 + [2] * 6
    assert data["frame_index"] == list(range(6)) * 3
    assert np.allclose(data["timestamp"], np.tile(np.arange(6) / 10.0, 3))
    episodes = pq.read_table(out / "meta" / "episodes" / "chunk-000" / "file-000.parquet").to_pylist()
    assert [(e["dataset_from_index"], e["dataset_to_index"], e["length"]) for e in episodes] == [(0, 6, 6), (6, 12, 6),
                                                                                                  (12, 18, 6)]
    assert episodes[1][f"videos/{CAMERA}/from_timestamp"] == pytest.approx(0.6)
    assert json.loads(episodes[0]["am/metadata"])["am.layout"] == "default"
    assert pq.read_table(out / "meta" / "tasks.parquet").to_pylist() == [{"task_index": 0, "task": "pick"}]
    stats = json.loads((out / "meta" / "stats.json").read_text())
    assert stats["action"]["count"] == [18] and len(stats[CAMERA]["mean"]) == 3
    # the training arrays of the bags hold the same state and actions
    arrays = load_dataset(bags, DatasetConfig(image_size=32, cache_dir=tmp_path / "cache"))
    assert np.array_equal(np.asarray(data["action"], np.float32), arrays.actions)
    state = np.asarray(data["observation.state"], np.float32)
    assert np.array_equal(state[:, :4], arrays.ee_pose) and np.array_equal(state[:, 4], arrays.gripper)
    # OpenCV's FFmpeg decodes the video: the recorded frames, exactly (lossless) or within codec tolerance
    video = _decode_with_opencv(out / "videos" / CAMERA / "chunk-000" / "file-000.mp4")
    assert video.shape == (18, 32, 32, 3)
    error = np.abs(video.astype(int) - arrays.images.astype(int))
    assert (error.max() if codec == "lossless" else error.mean()) <= tolerance, error.mean()
    assert np.array_equal(read_lerobot(out).images, video)  # our PyAV reader and OpenCV agree on every pixel


def test_round_trip_bags_to_lerobot_to_training_arrays_equals_bags_to_training_arrays(bags, tmp_path):
    export_lerobot(bags, tmp_path / "lerobot")
    config = DatasetConfig(image_size=16, cache_dir=tmp_path / "cache")
    direct, via = load_dataset(bags, config), load_dataset(tmp_path / "lerobot", config)
    for name in ARRAYS:
        assert np.array_equal(np.asarray(getattr(direct, name)), np.asarray(getattr(via, name))), name
    assert np.array_equal(direct.scene_ids(), via.scene_ids())
    assert [e.metadata for e in direct.episodes] == [e.metadata for e in via.episodes]
    assert read_lerobot(tmp_path / "lerobot").images.shape == (18, 32, 32, 3)


def test_bad_lerobot_input_is_named(bags, tmp_path):
    out = tmp_path / "lerobot"
    export_lerobot(bags, out)
    with pytest.raises(DatasetError, match="not empty"):
        export_lerobot(bags, out)
    info = json.loads((out / "meta" / "info.json").read_text())
    (out / "meta" / "info.json").write_text(json.dumps({**info, "codebase_version": "v2.1"}))
    with pytest.raises(DatasetError, match="codebase_version 'v2.1'"):
        read_lerobot(out)
    del info["am"]
    (out / "meta" / "info.json").write_text(json.dumps(info))
    with pytest.raises(DatasetError, match="not written by am dataset export"):
        load_dataset(out, DatasetConfig(image_size=16, cache_dir=tmp_path / "cache"))

"""Episode bags <-> LeRobotDataset v3.0 folders, written and read by this project (``lerobot`` itself cannot
share our torch pin), from the format's documentation.

A v3.0 folder:

    meta/info.json                                   schema (features, fps, path templates, totals)
    meta/stats.json                                  per-feature min, max, mean, std, count
    meta/tasks.parquet                               task string (pandas index "task") -> task_index
    meta/episodes/chunk-000/file-000.parquet         one row per episode: length, index range, video span,
                                                     per-episode stats, and our bag metadata (am/metadata)
    data/chunk-000/file-000.parquet                  one row per frame: observation.state, action,
                                                     timestamp, frame_index, episode_index, index, task_index
    videos/observation.images.camera/chunk-000/file-000.mp4   every episode's camera frames, concatenated

``observation.state`` is the measured pose of the pinch point and the gripper closure (x, y, z, yaw,
closure), ``action`` the normalised action of :mod:`actionable_models.actions`, both exactly as the
training arrays hold them. The camera is stored at its recorded size, H.264: ``lossless`` (libx264rgb,
constant quality 0: the frames come back bit-exact, so bag -> LeRobot -> training arrays equals bag ->
training arrays) or ``h264`` (yuv420p at quality 23: a tenth of the size, within codec tolerance).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from actionable_models.actions import ActionSpec
from actionable_models.data import keys
from actionable_models.data.dataset import (BUILDER_VERSION, DatasetConfig, DatasetError, aligned_arrays,
                                            find_episodes, frame_rgb, open_arrays, read_header, read_streams,
                                            require_topics, write_manifest)
from actionable_models.imaging import resize_for_learning

CODEBASE_VERSION = "v3.0"
CAMERA = "observation.images.camera"
DATA_PATH = "data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet"
VIDEO_PATH = "videos/{video_key}/chunk-{chunk_index:03d}/file-{file_index:03d}.mp4"
EPISODES_PATH = "meta/episodes/chunk-000/file-000.parquet"
CODECS = {"lossless": ("libx264rgb", "rgb24", {"crf": "0", "preset": "veryfast"}),
          "h264": ("libx264", "yuv420p", {"crf": "23", "preset": "veryfast"})}
STATE_NAMES = ["x", "y", "z", "yaw", "gripper"]
ACTION_NAMES = ["dx", "dy", "dz", "dyaw", "gripper", "terminate"]


@dataclass
class LeRobotEpisodes:
    """What a v3.0 folder holds, as arrays in frame order (all episodes concatenated)."""

    images: np.ndarray  # (N, H, W, 3) uint8, decoded from the video
    state: np.ndarray  # (N, 5) float32 x, y, z, yaw, closure
    actions: np.ndarray  # (N, 6) float32
    episode: np.ndarray  # (N,) int64 episode_index
    frame_index: np.ndarray  # (N,) int64
    timestamp: np.ndarray  # (N,) float32 s from the episode's first frame
    metadata: list[dict[str, str]]  # per episode: the bag's custom metadata (am.task, am.seed, ...)
    fps: float


def _pyarrow():
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError as exc:  # pragma: no cover - pinned in requirements.txt
        raise DatasetError(Path("."), f"LeRobot datasets need pyarrow ({exc})") from exc
    return pa, pq


def _stats(values: np.ndarray) -> dict[str, list]:
    values = np.asarray(values, dtype=np.float64).reshape(len(values), -1)
    return {"min": values.min(0).tolist(), "max": values.max(0).tolist(), "mean": values.mean(0).tolist(),
            "std": values.std(0).tolist(), "count": [len(values)]}


def _image_stats(frames: np.ndarray) -> dict[str, list]:
    """Per channel, on 0..1 values, shaped (3, 1, 1) as LeRobot keeps image statistics."""
    flat = frames.reshape(-1, 3).astype(np.float64) / 255.0
    shape = lambda v: [[[float(x)]] for x in v]  # noqa: E731
    return {"min": shape(flat.min(0)), "max": shape(flat.max(0)), "mean": shape(flat.mean(0)),
            "std": shape(flat.std(0)), "count": [len(frames)]}


def _read_episode(path: Path, spec: ActionSpec) -> tuple[list[np.ndarray], np.ndarray, np.ndarray, dict, np.ndarray]:
    """Camera frames in stamp order, state (n, 5), actions (n, 6), metadata and stamps of one episode bag."""
    header = read_header(path)
    require_topics(header)
    frames: list[np.ndarray] = []
    streams = read_streams(header, lambda _i, msg: frames.append(frame_rgb(path, msg)))
    a, ee, actions, gripper = aligned_arrays(header, streams, spec)
    state = np.concatenate([ee, gripper[:, None]], axis=1).astype(np.float32)
    return [frames[i] for i in a.order], state, actions, dict(header.custom), a.stamps


def _write_video(path: Path, frames: list[np.ndarray], fps: float, codec: str) -> None:
    import av
    from fractions import Fraction

    name, pix_fmt, options = CODECS[codec]
    path.parent.mkdir(parents=True, exist_ok=True)
    height, width = frames[0].shape[:2]
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream(name, rate=Fraction(fps).limit_denominator(1000), options=options)
        stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def export_lerobot(folder: Path | str, out: Path | str, codec: str = "lossless", robot_type: str = "ur5e_2f85",
                   spec: ActionSpec | None = None, progress=None) -> dict:
    """Write the episode bags of ``folder`` as a LeRobotDataset v3.0 under ``out`` (which must not exist or
    be empty); returns meta/info.json. DatasetError names a bad bag; nothing is written over."""
    pa, pq = _pyarrow()
    if codec not in CODECS:
        raise DatasetError(Path(out), f"codec must be one of {', '.join(CODECS)}, got {codec!r}")
    folder, out = Path(folder), Path(out)
    if out.exists() and any(out.iterdir()):
        raise DatasetError(out, "the export folder exists and is not empty; give a new one")
    spec = spec or ActionSpec()
    episodes = find_episodes(folder)
    frames_all: list[np.ndarray] = []
    rows: dict[str, list] = {k: [] for k in ("observation.state", "action", "timestamp", "frame_index",
                                             "episode_index", "index", "task_index")}
    tasks: dict[str, int] = {}
    per_episode, intervals = [], []
    for e, path in enumerate(episodes):
        frames, state, actions, metadata, stamps = _read_episode(path, spec)
        if frames_all and frames[0].shape != frames_all[0].shape:
            raise DatasetError(path, f"camera frames of {frames[0].shape[1]}x{frames[0].shape[0]} px, the "
                                     f"episodes before have {frames_all[0].shape[1]}x{frames_all[0].shape[0]}")
        task = metadata.get(keys.META_TASK, "play")
        task_index = tasks.setdefault(task, len(tasks))
        n = len(frames)
        intervals.extend(np.diff(stamps).tolist())
        per_episode.append({"start": len(frames_all), "length": n, "task": task, "metadata": metadata,
                            "state": state, "actions": actions})
        rows["observation.state"] += state.tolist()
        rows["action"] += actions.tolist()
        rows["frame_index"] += list(range(n))
        rows["episode_index"] += [e] * n
        rows["task_index"] += [task_index] * n
        frames_all.extend(frames)
        if progress is not None:
            progress(e + 1, len(episodes))
    fps = round(1e9 / float(np.median(intervals)), 3) if intervals else 5.0
    for ep in per_episode:
        rows["timestamp"] += (np.arange(ep["length"]) / fps).astype(np.float32).tolist()
    rows["index"] = list(range(len(frames_all)))
    height, width = frames_all[0].shape[:2]

    out.mkdir(parents=True, exist_ok=True)
    video = out / VIDEO_PATH.format(video_key=CAMERA, chunk_index=0, file_index=0)
    _write_video(video, frames_all, fps, codec)
    data = pa.table({
        "observation.state": pa.array(rows["observation.state"], type=pa.list_(pa.float32(), 5)),
        "action": pa.array(rows["action"], type=pa.list_(pa.float32(), 6)),
        "timestamp": pa.array(rows["timestamp"], type=pa.float32()),
        **{k: pa.array(rows[k], type=pa.int64()) for k in ("frame_index", "episode_index", "index", "task_index")}})
    (out / "data" / "chunk-000").mkdir(parents=True)
    pq.write_table(data, out / DATA_PATH.format(chunk_index=0, file_index=0))

    episode_rows: dict[str, list] = {"episode_index": [], "tasks": [], "length": [], "dataset_from_index": [],
                                     "dataset_to_index": [], "data/chunk_index": [], "data/file_index": [],
                                     f"videos/{CAMERA}/chunk_index": [], f"videos/{CAMERA}/file_index": [],
                                     f"videos/{CAMERA}/from_timestamp": [], f"videos/{CAMERA}/to_timestamp": [],
                                     "meta/episodes/chunk_index": [], "meta/episodes/file_index": [],
                                     "am/metadata": []}
    stat_columns: dict[str, list] = {}
    for e, ep in enumerate(per_episode):
        start, n = ep["start"], ep["length"]
        for key, value in (("episode_index", e), ("tasks", [ep["task"]]), ("length", n),
                           ("dataset_from_index", start), ("dataset_to_index", start + n), ("data/chunk_index", 0),
                           ("data/file_index", 0), (f"videos/{CAMERA}/chunk_index", 0),
                           (f"videos/{CAMERA}/file_index", 0), (f"videos/{CAMERA}/from_timestamp", start / fps),
                           (f"videos/{CAMERA}/to_timestamp", (start + n) / fps), ("meta/episodes/chunk_index", 0),
                           ("meta/episodes/file_index", 0), ("am/metadata", json.dumps(ep["metadata"], sort_keys=True))):
            episode_rows[key].append(value)
        for feature, values in (("observation.state", ep["state"]), ("action", ep["actions"])):
            for name, stat in _stats(values).items():
                stat_columns.setdefault(f"stats/{feature}/{name}", []).append(stat)
    (out / EPISODES_PATH).parent.mkdir(parents=True)
    pq.write_table(pa.table({**episode_rows, **stat_columns}), out / EPISODES_PATH)

    # pandas metadata so that pandas.read_parquet gives the task strings as the index, as LeRobot reads them
    pandas_meta = {"index_columns": ["task"], "column_indexes": [], "columns": [
        {"name": "task_index", "field_name": "task_index", "pandas_type": "int64", "numpy_type": "int64",
         "metadata": None},
        {"name": "task", "field_name": "task", "pandas_type": "unicode", "numpy_type": "object", "metadata": None}],
        "creator": {"library": "pyarrow", "version": pa.__version__}, "pandas_version": "2.2.3"}
    task_table = pa.table({"task_index": pa.array(list(tasks.values()), type=pa.int64()),
                           "task": pa.array(list(tasks), type=pa.string())})
    pq.write_table(task_table.replace_schema_metadata({b"pandas": json.dumps(pandas_meta).encode()}),
                   out / "meta" / "tasks.parquet")

    stats = {"observation.state": _stats(np.asarray(rows["observation.state"])),
             "action": _stats(np.asarray(rows["action"])), CAMERA: _image_stats(np.stack(frames_all)),
             **{k: _stats(np.asarray(rows[k])) for k in ("timestamp", "frame_index", "episode_index", "index",
                                                         "task_index")}}
    (out / "meta" / "stats.json").write_text(json.dumps(stats, indent=1))
    name, pix_fmt, _ = CODECS[codec]
    scalar = lambda dtype: {"dtype": dtype, "shape": [1], "names": None}  # noqa: E731
    info = {
        "codebase_version": CODEBASE_VERSION, "robot_type": robot_type, "total_episodes": len(per_episode),
        "total_frames": len(frames_all), "total_tasks": len(tasks), "chunks_size": 1000,
        "data_files_size_in_mb": 100, "video_files_size_in_mb": 500, "fps": fps,
        "splits": {"train": f"0:{len(per_episode)}"}, "data_path": DATA_PATH, "video_path": VIDEO_PATH,
        "features": {
            CAMERA: {"dtype": "video", "shape": [height, width, 3], "names": ["height", "width", "channels"],
                     "info": {"video.height": height, "video.width": width, "video.codec": "h264",
                              "video.pix_fmt": "gbrp" if name == "libx264rgb" else pix_fmt,
                              "video.is_depth_map": False, "video.fps": fps, "video.channels": 3,
                              "has_audio": False}},
            "observation.state": {"dtype": "float32", "shape": [5], "names": STATE_NAMES},
            "action": {"dtype": "float32", "shape": [6], "names": ACTION_NAMES},
            "timestamp": scalar("float32"), "frame_index": scalar("int64"), "episode_index": scalar("int64"),
            "index": scalar("int64"), "task_index": scalar("int64")},
        "am": {"action_spec": {"max_translation_m": spec.max_translation_m, "max_yaw_rad": spec.max_yaw_rad},
               "source": str(folder)},
    }
    (out / "meta" / "info.json").write_text(json.dumps(info, indent=2))
    return info


def is_lerobot_folder(folder: Path | str) -> bool:
    """Whether ``folder`` looks like a LeRobotDataset (it has meta/info.json)."""
    return (Path(folder) / "meta" / "info.json").is_file()


def read_lerobot(folder: Path | str) -> LeRobotEpisodes:
    """A LeRobotDataset v3.0 folder with our features as arrays; DatasetError naming what is missing or wrong."""
    _, pq = _pyarrow()
    folder = Path(folder)
    try:
        info = json.loads((folder / "meta" / "info.json").read_text())
    except (OSError, ValueError) as exc:
        raise DatasetError(folder, f"not a LeRobot dataset: meta/info.json unreadable ({exc})") from exc
    if info.get("codebase_version") != CODEBASE_VERSION:
        raise DatasetError(folder, f"LeRobot codebase_version {info.get('codebase_version')!r}; this reader "
                                   f"takes {CODEBASE_VERSION}")
    features = info.get("features", {})
    videos = [k for k, f in features.items() if f.get("dtype") == "video"]
    for need in ("observation.state", "action"):
        if need not in features:
            raise DatasetError(folder, f"no {need} feature in meta/info.json (features: {', '.join(features)})")
    if not videos:
        raise DatasetError(folder, "no video feature in meta/info.json: the learner needs camera frames")
    camera = CAMERA if CAMERA in videos else videos[0]
    try:
        episodes = pq.read_table(folder / EPISODES_PATH).to_pylist() if (folder / EPISODES_PATH).is_file() else \
            [row for p in sorted((folder / "meta" / "episodes").rglob("*.parquet")) for row in pq.read_table(p).to_pylist()]
        data_files = sorted((folder / "data").rglob("*.parquet"))
        data = [pq.read_table(p, columns=["observation.state", "action", "episode_index", "frame_index",
                                          "timestamp", "index"]) for p in data_files]
    except Exception as exc:  # pyarrow errors name the file
        raise DatasetError(folder, f"unreadable LeRobot parquet: {type(exc).__name__}: {exc}") from exc
    if not data:
        raise DatasetError(folder, "no data/*.parquet files")
    columns = {k: np.concatenate([np.asarray(t.column(k).to_pylist()) for t in data])
               for k in ("observation.state", "action", "episode_index", "frame_index", "timestamp", "index")}
    order = np.argsort(columns["index"], kind="stable")
    columns = {k: v[order] for k, v in columns.items()}
    state = columns["observation.state"].astype(np.float32)
    if state.ndim != 2 or state.shape[1] < 5:
        raise DatasetError(folder, f"observation.state has shape {state.shape[1:]}, expected (5,): x, y, z, yaw, "
                                   "gripper (as am dataset export writes it)")
    images = None  # sized by the first decoded frames: LeRobot writes video shapes channels-first or last
    episodes = sorted(episodes, key=lambda r: r["episode_index"])
    fps = float(info["fps"])
    videos: dict[Path, np.ndarray] = {}  # each video file decoded once; episodes share files
    for ep in episodes:
        start, stop = int(ep["dataset_from_index"]), int(ep["dataset_to_index"])
        path = folder / info["video_path"].format(video_key=camera, chunk_index=int(ep[f"videos/{camera}/chunk_index"]),
                                                  file_index=int(ep[f"videos/{camera}/file_index"]))
        if path not in videos:
            videos = {path: decode_video(path)}  # episodes come in file order: keep one file in memory
        frames = episode_frames(videos[path], path, float(ep[f"videos/{camera}/from_timestamp"]), stop - start, fps)
        if images is None:
            images = np.empty((len(state), *frames.shape[1:]), np.uint8)
        images[start:stop] = frames
    metadata = [json.loads(ep.get("am/metadata") or "{}") for ep in episodes]
    return LeRobotEpisodes(images, state, columns["action"].astype(np.float32), columns["episode_index"].astype(np.int64),
                           columns["frame_index"].astype(np.int64), columns["timestamp"].astype(np.float32),
                           metadata, fps)


def decode_video(path: Path) -> np.ndarray:
    """Every frame (N, H, W, 3) uint8 RGB of an mp4; DatasetError when it is missing or undecodable."""
    import av

    if not path.is_file():
        raise DatasetError(path, "video file missing")
    try:
        with av.open(str(path)) as container:
            return np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])
    except Exception as exc:
        raise DatasetError(path, f"undecodable video: {type(exc).__name__}: {exc}") from exc


def episode_frames(frames: np.ndarray, path: Path, from_timestamp: float, count: int, fps: float) -> np.ndarray:
    """The ``count`` frames of a decoded video from ``from_timestamp`` s on (frame rate fps)."""
    first = int(round(from_timestamp * fps))
    if first + count > len(frames):
        raise DatasetError(path, f"{len(frames)} frames, the episode needs frames {first}..{first + count - 1}")
    return frames[first:first + count]


def dataset_key(folder: Path | str, config: DatasetConfig) -> str:
    """Content key of a LeRobot folder for the training-array cache: its metadata and data in full, each
    video by size and last 64 KiB, and the build settings."""
    import hashlib

    folder = Path(folder)
    h = hashlib.sha256()
    spec = config.action_spec
    h.update(json.dumps({"builder": BUILDER_VERSION, "format": "lerobot", "image_size": config.image_size,
                         "action_spec": [spec.max_translation_m, spec.max_yaw_rad]}).encode())
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        relative = path.relative_to(folder).as_posix().encode()
        size = path.stat().st_size
        h.update(len(relative).to_bytes(8, "little") + relative + size.to_bytes(8, "little"))
        with path.open("rb") as f:
            if path.suffix == ".mp4":
                f.seek(max(0, size - 65536))
            h.update(f.read())
    return h.hexdigest()[:32]


def build_into(out: Path, folder: Path, key: str, config: DatasetConfig, progress=None) -> None:
    """The training arrays and manifest of :mod:`~actionable_models.data.dataset`'s cache, from a LeRobot
    folder: frames resized as the bag builder resizes them, state split into pose and closure."""
    info = json.loads((folder / "meta" / "info.json").read_text())
    theirs = info.get("am", {}).get("action_spec")
    mine = {"max_translation_m": config.action_spec.max_translation_m, "max_yaw_rad": config.action_spec.max_yaw_rad}
    if theirs is None:
        raise DatasetError(folder, "meta/info.json has no am.action_spec: not written by am dataset export, so "
                                   "its action columns are not our normalised actions")
    if theirs != mine:
        raise DatasetError(folder, f"its actions were normalised with {theirs}, the learner uses {mine}")
    data = read_lerobot(folder)
    n = len(data.actions)
    arrays = open_arrays(out, n, config.image_size)
    for i in range(n):
        arrays["images"][i] = resize_for_learning(data.images[i], config.image_size)
    arrays["ee_pose"][:] = data.state[:, :4]
    arrays["actions"][:] = data.actions
    arrays["gripper"][:] = data.state[:, 4]
    episode_ids = np.unique(data.episode)
    arrays["episode"][:] = np.searchsorted(episode_ids, data.episode)
    arrays["step"][:] = data.frame_index
    arrays["is_last"][:] = np.r_[data.episode[1:] != data.episode[:-1], True]
    for array in arrays.values():
        array.flush()
    records = []
    for e, episode in enumerate(episode_ids):
        steps = np.flatnonzero(data.episode == episode)
        records.append({"name": f"episode_{int(episode):06d}", "num_steps": int(len(steps)), "offset": int(steps[0]),
                        "metadata": data.metadata[e] if e < len(data.metadata) else {}})
        if progress is not None:
            progress(e + 1, len(episode_ids))
    write_manifest(out, key, config, n, records, [], source="lerobot")

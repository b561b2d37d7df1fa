"""Episode bags -> per-step training arrays, built once and cached on disk, keyed by the bags' content.

One step per camera frame (header-stamp order, exact duplicate stamps dropped). Per step:

- ``images``  uint8 (N, S, S, 3): the frame as RGB, resized to S x S with cv2.INTER_AREA (no crop).
- ``ee_pose`` float32 (N, 4): x, y, z, yaw of the /arm/ee_pose with the frame's stamp (else the nearest
  within half the median frame interval).
- ``actions`` float32 (N, 6): ``ActionSpec.normalize`` of the pose command answering the frame minus the
  measured pose, and the gripper command in force; terminate is always off (-1).
- ``gripper`` float32 (N,): measured closure 0..1 from /joint_states ``gripper_finger_joint`` (else the
  commanded closure).
- ``episode``, ``step`` int32 (N,) and ``is_last`` bool (N,).

The pose command answering frame i is the one whose header stamp equals the frame's stamp (the last one
received if several); else the last command received (bag log time) at or after frame i and before frame
i+1, among commands that answer no recorded frame by stamp; else the previous step's command is held.
Steps before the first command hold the measured pose (a zero translation and yaw action, gripper open),
and so does an episode's last frame when no command answers it (no transition leaves it; the gripper is
the last commanded), which is what experiments/collect.py records there too.
The gripper value of a pose command is the last /arm/gripper_cmd received before the next pose command
or the next camera frame, whichever comes first (0.0 = open before any): a controller publishes the
gripper command with the pose command, but the recorder's two subscriptions may log them in either order.

The arrays are written episode by episode into ``numpy.lib.format.open_memmap`` files in a temporary
directory that is renamed into ``<cache root>/<key>/`` when complete, and loaded back memory-mapped.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePath

import numpy as np
import yaml
from numpy.lib.format import open_memmap
from rosbags.rosbag2 import Reader
from rosbags.typesys import Stores, get_typestore

from actionable_models.actions import ACTION_DIM, ActionSpec
from actionable_models.data import keys
from actionable_models.errors import ActionableModelsError, ConfigError
from actionable_models.geometry import yaw_from_quat
from actionable_models.imaging import ImageEncodingError, message_to_rgb, resize_for_learning

BUILDER_VERSION = 3  # bump when the arrays a bag turns into change: old caches then stop matching
MANIFEST = "manifest.json"
_TAIL_BYTES = 64 * 1024  # the end of an MCAP file: summary, statistics and footer
_METADATA = "metadata.yaml"
_TYPESTORE = get_typestore(Stores.ROS2_JAZZY)
_INT64_MAX = np.iinfo(np.int64).max
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

ProgressFn = Callable[[int, int], None]


class DatasetError(ActionableModelsError):
    """An episode bag or dataset folder that cannot be turned into training data; names the path and problem."""

    def __init__(self, path: Path | str, problem: str) -> None:
        super().__init__(path, problem)
        self.path = Path(path)
        self.problem = problem

    def __str__(self) -> str:
        return f"{self.path}: {self.problem}"


@dataclass
class DatasetConfig:
    """How episode bags become training arrays."""

    image_size: int = 64
    """Side S of the square training images in pixels; frames are resized to S x S with cv2.INTER_AREA."""
    cache_dir: Path | str | None = None
    """Root of the array cache (one <key>/ folder per dataset); None: $XDG_CACHE_HOME/actionable_models/datasets."""
    skip_bad: bool = False
    """Skip unusable episodes (listed in EpisodeDataset.skipped) instead of raising on the first one."""
    action_spec: ActionSpec = field(default_factory=ActionSpec)
    """Scales that normalise command-minus-measured deltas into actions; part of the cache key."""

    def __post_init__(self) -> None:
        size = self.image_size
        if isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= 4096:
            raise ConfigError(f"image_size must be an int in 1..4096, got {self.image_size!r}")
        if self.cache_dir is not None:
            if not isinstance(self.cache_dir, (str, os.PathLike)) or not str(self.cache_dir):
                raise ConfigError(f"cache_dir must be a path or None, got {self.cache_dir!r}")
            self.cache_dir = Path(self.cache_dir).expanduser()
        if not isinstance(self.skip_bad, bool):
            raise ConfigError(f"skip_bad must be True or False, got {self.skip_bad!r}")
        if not isinstance(self.action_spec, ActionSpec):
            raise ConfigError(f"action_spec must be an ActionSpec, got {self.action_spec!r}")


@dataclass(frozen=True)
class EpisodeRecord:
    """One episode of a built dataset: its steps are ``offset .. offset + num_steps - 1``."""

    path: Path
    num_steps: int
    offset: int
    metadata: dict[str, str]


# name -> (dtype, shape of one step); images get (S, S, 3).
_ARRAYS: dict[str, tuple[type, tuple[int, ...]]] = {
    "images": (np.uint8, (0, 0, 3)),
    "ee_pose": (np.float32, (4,)),
    "actions": (np.float32, (ACTION_DIM,)),
    "gripper": (np.float32, ()),
    "episode": (np.int32, ()),
    "step": (np.int32, ()),
    "is_last": (np.bool_, ()),
}


def _step_shape(name: str, image_size: int) -> tuple[int, ...]:
    return (image_size, image_size, 3) if name == "images" else _ARRAYS[name][1]


class EpisodeDataset:
    """A built dataset, memory-mapped from its cache folder. Arrays are indexed by step."""

    images: np.ndarray  # (N, S, S, 3) uint8 RGB
    ee_pose: np.ndarray  # (N, 4) float32 x, y, z, yaw
    actions: np.ndarray  # (N, 6) float32 normalised actions
    gripper: np.ndarray  # (N,) float32 measured closure 0..1
    episode: np.ndarray  # (N,) int32 episode index into ``episodes``
    step: np.ndarray  # (N,) int32 step within the episode
    is_last: np.ndarray  # (N,) bool, True on each episode's last step

    def __init__(self, cache_path: Path, folder: Path) -> None:
        self.cache_path = Path(cache_path)
        self.folder = Path(folder)
        try:
            manifest = json.loads((self.cache_path / MANIFEST).read_text())
            for name in _ARRAYS:
                setattr(self, name, np.load(self.cache_path / f"{name}.npy", mmap_mode="r"))
        except (OSError, ValueError) as exc:
            raise DatasetError(self.cache_path, f"broken dataset cache ({exc}); delete it to rebuild") from exc
        self.key: str = manifest["key"]
        self.image_size: int = manifest["image_size"]
        self.action_spec = ActionSpec(**manifest["action_spec"])
        self.episodes = [EpisodeRecord(self.folder / e["name"], e["num_steps"], e["offset"], e["metadata"])
                         for e in manifest["episodes"]]
        self.skipped: list[tuple[Path, str]] = [(self.folder / name, problem) for name, problem in manifest["skipped"]]
        if any(len(getattr(self, name)) != manifest["num_steps"] for name in _ARRAYS):
            raise DatasetError(self.cache_path, "broken dataset cache (array lengths differ); delete it to rebuild")

    def __len__(self) -> int:
        return len(self.actions)

    @property
    def num_episodes(self) -> int:
        """Number of episodes loaded (skipped ones not counted)."""
        return len(self.episodes)

    def scene_ids(self) -> np.ndarray:
        """(N,) int64: steps of episodes recorded in one scene share an id. A scene is named by the episode
        metadata's layout and seed (the sim cell's reset); an episode without a seed is a scene of its own."""
        names: dict[tuple[str, str], int] = {}
        ids = np.empty(len(self), dtype=np.int64)
        for i, record in enumerate(self.episodes):
            seed = record.metadata.get(keys.META_SEED)
            name = (record.metadata.get(keys.META_LAYOUT, ""), seed) if seed not in (None, "") else ("", f"#{i}")
            ids[self.episode_steps(i)] = names.setdefault(name, len(names))
        return ids

    def episode_steps(self, index: int) -> slice:
        """Step range of episode ``index``."""
        record = self.episodes[index]
        return slice(record.offset, record.offset + record.num_steps)

    def __repr__(self) -> str:
        return (f"EpisodeDataset({len(self)} steps, {self.num_episodes} episodes, {self.image_size}px, "
                f"{len(self.skipped)} skipped, cache={self.cache_path})")


# ---------------------------------------------------------------------------------------------------------
# Finding episodes and the cache key


def find_episodes(folder: Path | str) -> list[Path]:
    """Episode directories of a dataset folder, sorted by name; the folder itself if it is one bag.

    An episode is a subdirectory named ``episode_*`` or holding a metadata.yaml. Raises DatasetError when
    the folder does not exist or holds none ("empty dataset").
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise DatasetError(folder, "dataset folder does not exist" if not folder.exists() else "not a directory")
    if (folder / _METADATA).is_file() or any(folder.glob("*.mcap")):
        return [folder]
    episodes = sorted(p for p in folder.iterdir()
                      if p.is_dir() and (p.name.startswith(keys.EPISODE_DIR_PREFIX) or (p / _METADATA).is_file()))
    if not episodes:
        raise DatasetError(folder, f"empty dataset: no episode directories ({keys.EPISODE_DIR_PREFIX}NNNNNN/ "
                                   "holding a rosbag2 bag)")
    return episodes


def _relative_name(folder: Path, episode: Path) -> str:
    return episode.relative_to(folder).as_posix()


def dataset_key(folder: Path | str, episodes: list[Path], config: DatasetConfig) -> str:
    """Content key of a set of bags: sha256 over each bag's metadata.yaml, file sizes and MCAP tails.

    An episode still open (recording marker) or without metadata.yaml counts only by name and state,
    so a bag being recorded does not change the key until it is closed.
    """
    folder = Path(folder)
    h = hashlib.sha256()

    def put(data: bytes) -> None:
        h.update(len(data).to_bytes(8, "little"))
        h.update(data)

    spec = config.action_spec
    put(json.dumps({"builder": BUILDER_VERSION, "image_size": config.image_size,
                    "action_spec": [spec.max_translation_m, spec.max_yaw_rad]}).encode())
    for episode in episodes:
        put(_relative_name(folder, episode).encode())
        if (episode / keys.RECORDING_MARKER).exists():
            put(b"recording")
            continue
        if not (episode / _METADATA).is_file():
            put(b"no metadata")
            continue
        try:
            for path in sorted(p for p in episode.iterdir() if p.is_file()):
                size = path.stat().st_size
                put(f"{path.name}\0{size}".encode())
                with path.open("rb") as f:
                    if path.name != _METADATA:
                        f.seek(max(0, size - _TAIL_BYTES))
                    put(f.read())
        except OSError as exc:  # the build reports it for this episode
            put(f"unreadable: {exc}".encode())
    return h.hexdigest()[:32]


def default_cache_root() -> Path:
    """``$XDG_CACHE_HOME/actionable_models/datasets`` (``~/.cache`` when XDG_CACHE_HOME is unset)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "actionable_models" / "datasets"


# ---------------------------------------------------------------------------------------------------------
# Reading one bag


@dataclass
class BagHeader:
    """What an episode's metadata.yaml says, before any message is read."""

    path: Path
    counts: dict[str, int]  # topic -> message count
    custom: dict[str, str]  # custom data (episode metadata)
    duration_ns: int  # log-time span
    size_bytes: int  # all files of the bag
    files: list[Path]  # storage files
    direct: bool  # one uncompressed .mcap: read it without the directory reader


_MCAP_MAGIC = b"\x89MCAP0\r\n"


def read_header(path: Path) -> BagHeader:
    """Check that ``path`` is a finished episode bag and read its counts and custom metadata.

    Raises DatasetError for a recording marker, a missing or unreadable metadata.yaml, a missing or
    truncated .mcap (no footer) and a recorded topic with the wrong message type. Reads metadata.yaml
    and the last bytes of each storage file only.
    """
    if (path / keys.RECORDING_MARKER).exists():
        raise DatasetError(path, f"incomplete episode: recording marker {keys.RECORDING_MARKER} present (the recorder "
                                 "stopped mid-episode, or is still recording); delete or re-record it")
    if not (path / _METADATA).is_file():
        raise DatasetError(path, f"incomplete episode: no {_METADATA} (the bag was never closed); delete or "
                                 "re-record it")
    try:
        info = yaml.load((path / _METADATA).read_text(), Loader=_LOADER)["rosbag2_bagfile_information"]
        custom = {str(k): str(v) for k, v in (info.get("custom_data") or {}).items()}
        counts: dict[str, int] = {}
        for entry in info["topics_with_message_count"]:
            topic, msgtype = entry["topic_metadata"]["name"], entry["topic_metadata"]["type"]
            expected = keys.RECORDED_TOPICS.get(topic)
            if expected is not None and msgtype != expected:
                raise DatasetError(path, f"topic {topic} has type {msgtype}, expected {expected}")
            counts[topic] = counts.get(topic, 0) + int(entry["message_count"])
        files = [path / PurePath(name).name for name in info["relative_file_paths"]]
        duration = int(info["duration"]["nanoseconds"])
        plain = str(info.get("compression_mode") or "none").lower() == "none"
        direct = info["storage_identifier"] == "mcap" and plain and len(files) == 1
    except DatasetError:
        raise
    except (OSError, yaml.YAMLError, KeyError, TypeError, AttributeError, ValueError) as exc:
        raise DatasetError(path, f"unreadable {_METADATA}: {type(exc).__name__}: {exc}") from exc
    try:
        for file in files:
            if not file.is_file():
                raise DatasetError(path, f"unreadable bag: {file.name}, listed in {_METADATA}, is missing")
            if file.suffix == ".mcap" and plain:
                with file.open("rb") as f:
                    f.seek(max(0, file.stat().st_size - len(_MCAP_MAGIC)))
                    if f.read() != _MCAP_MAGIC:
                        raise DatasetError(path, f"unreadable bag: {file.name} is truncated or corrupt (no MCAP "
                                                 "footer: cut short, or never closed)")
        size = sum(p.stat().st_size for p in path.iterdir() if p.is_file())
    except OSError as exc:
        raise DatasetError(path, f"unreadable bag: {exc}") from exc
    return BagHeader(path, counts, custom, duration, size, files, direct)


def camera_topic(header: BagHeader) -> str:
    """The topic an episode's camera frames come from: the raw one when it holds frames, else compressed."""
    if header.counts.get(keys.IMAGE) or not header.counts.get(keys.IMAGE_COMPRESSED):
        return keys.IMAGE
    return keys.IMAGE_COMPRESSED


def camera_frames(header: BagHeader) -> int:
    """How many camera messages metadata.yaml counts on the episode's camera topic."""
    return header.counts.get(camera_topic(header), 0)


def require_topics(header: BagHeader) -> None:
    """Raise DatasetError unless the bag has camera frames, measured poses and pose commands."""
    counts = header.counts
    if not camera_frames(header):
        raise DatasetError(header.path, f"no camera messages on {keys.IMAGE} or {keys.IMAGE_COMPRESSED}")
    if not counts.get(keys.POSE_CMD):
        raise DatasetError(header.path, f"no pose commands on {keys.POSE_CMD}: no actions to learn from")
    if not counts.get(keys.EE_POSE):
        raise DatasetError(header.path, f"no measured poses on {keys.EE_POSE}")


def _stamp_ns(header) -> int:
    return int(header.stamp.sec) * 1_000_000_000 + int(header.stamp.nanosec)


def _pose_xyzyaw(pose) -> tuple[float, float, float, float]:
    q = pose.orientation
    return (float(pose.position.x), float(pose.position.y), float(pose.position.z),
            yaw_from_quat(np.array([q.w, q.x, q.y, q.z])))


@dataclass
class EpisodeStreams:
    """The messages of one bag, reduced to what the dataset needs (times in ns)."""

    frame_stamp: list[int] = field(default_factory=list)  # unique camera stamps, receive order
    frame_log: list[int] = field(default_factory=list)
    duplicates: int = 0  # camera frames dropped for repeating a stamp
    ee_stamp: list[int] = field(default_factory=list)
    ee: list[tuple[float, float, float, float]] = field(default_factory=list)
    joint_stamp: list[int] = field(default_factory=list)
    closure: list[float] = field(default_factory=list)  # NaN where the gripper joint is absent
    cmd_stamp: list[int] = field(default_factory=list)
    cmd_log: list[int] = field(default_factory=list)
    cmd: list[tuple[float, float, float, float]] = field(default_factory=list)
    grip_log: list[int] = field(default_factory=list)
    grip: list[float] = field(default_factory=list)


_READ_TOPICS = (keys.EE_POSE, keys.JOINT_STATES, keys.POSE_CMD, keys.GRIPPER_CMD)  # and the camera topic


# Message types whose CDR payload starts with a std_msgs/Header: its stamp follows the 4-byte encapsulation.
_HEADER_FIRST = ("sensor_msgs/msg/Image", "sensor_msgs/msg/CompressedImage", "sensor_msgs/msg/CameraInfo",
                 "sensor_msgs/msg/JointState", "geometry_msgs/msg/PoseStamped")


@dataclass
class TopicTraffic:
    """One topic of one bag: messages, serialized bytes and the span of its header stamps (if it has them)."""

    count: int = 0
    bytes: int = 0
    first_stamp_ns: int | None = None
    last_stamp_ns: int | None = None


def _count(traffic: dict[str, TopicTraffic], conn, raw: bytes) -> None:
    """Add one raw message to its topic's traffic; a stamp is read from the CDR bytes of types that start
    with a Header (nothing is deserialised)."""
    t = traffic.setdefault(conn.topic, TopicTraffic())
    t.count += 1
    t.bytes += len(raw)
    if conn.msgtype in _HEADER_FIRST and len(raw) >= 12:
        order = "little" if raw[1] & 1 else "big"  # CDR_LE / PL_CDR_LE encapsulation ids are odd
        stamp = int.from_bytes(raw[4:8], order, signed=True) * 1_000_000_000 + int.from_bytes(raw[8:12], order)
        t.first_stamp_ns = stamp if t.first_stamp_ns is None else min(t.first_stamp_ns, stamp)
        t.last_stamp_ns = stamp if t.last_stamp_ns is None else max(t.last_stamp_ns, stamp)


def _messages(reader: Reader, path: Path, topics: tuple[str, ...],
              traffic: dict[str, TopicTraffic] | None = None) -> Iterator[tuple[str, int, object]]:
    """(topic, log time, deserialized message) of ``topics``, in log-time order. With ``traffic``, every
    topic's raw messages are also counted into it (:class:`TopicTraffic`), in the same pass."""
    conns = [c for c in reader.connections if traffic is not None or c.topic in topics]
    if not conns:
        return
    stream = reader.messages(connections=conns)
    while True:
        try:
            conn, log, raw = next(stream)
        except StopIteration:
            return
        except Exception as exc:
            raise DatasetError(path, f"corrupt .mcap, reading stopped: {type(exc).__name__}: {exc}") from exc
        if traffic is not None:
            _count(traffic, conn, raw)
            if conn.topic not in topics:
                continue
        try:
            msg = _TYPESTORE.deserialize_cdr(raw, conn.msgtype)
        except Exception as exc:
            raise DatasetError(path, f"cannot decode a {conn.topic} message logged at {log}: {exc}") from exc
        yield conn.topic, log, msg


def read_streams(header: BagHeader, on_frame: Callable[[int, object], None] | None = None,
                 traffic: dict[str, TopicTraffic] | None = None) -> EpisodeStreams:
    """Read a bag's camera stamps, poses, joint states and commands.

    ``on_frame(index, image_msg)`` is called for each new (non-duplicate) camera frame in receive order,
    an Image or a CompressedImage (:func:`camera_topic`); it may raise DatasetError. ``traffic``, when
    given, is filled with every topic's messages, bytes and header-stamp span in the same pass. Corrupt
    data raises DatasetError naming the bag.
    """
    path = header.path
    s = EpisodeStreams()
    seen: set[int] = set()
    camera = camera_topic(header)
    read = dict.fromkeys((camera, *_READ_TOPICS), 0)
    try:
        # rosbags' directory reader re-parses metadata.yaml with a slow pure-Python YAML parser (tens of ms)
        with Reader(header.files[0] if header.direct else path) as reader:
            for topic, log, msg in _messages(reader, path, tuple(read), traffic):
                read[topic] += 1
                if topic == camera:
                    stamp = _stamp_ns(msg.header)
                    if stamp in seen:
                        s.duplicates += 1
                        continue
                    seen.add(stamp)
                    if on_frame is not None:
                        on_frame(len(s.frame_stamp), msg)
                    s.frame_stamp.append(stamp)
                    s.frame_log.append(log)
                elif topic == keys.EE_POSE:
                    s.ee_stamp.append(_stamp_ns(msg.header))
                    s.ee.append(_pose_xyzyaw(msg.pose))
                elif topic == keys.JOINT_STATES:
                    s.joint_stamp.append(_stamp_ns(msg.header))
                    closure = keys.gripper_closure(msg.name, msg.position)
                    s.closure.append(np.nan if closure is None else closure)
                elif topic == keys.POSE_CMD:
                    s.cmd_stamp.append(_stamp_ns(msg.header))
                    s.cmd_log.append(log)
                    s.cmd.append(_pose_xyzyaw(msg.pose))
                elif topic == keys.GRIPPER_CMD:
                    s.grip_log.append(log)
                    s.grip.append(float(msg.data))
    except DatasetError:
        raise
    except Exception as exc:
        raise DatasetError(path, f"unreadable bag (truncated or corrupt .mcap?): {type(exc).__name__}: {exc}") from exc
    for topic, count in read.items():  # MCAP chunks carry no checksum here: damaged records vanish silently
        if count != header.counts.get(topic, 0):
            raise DatasetError(path, f"corrupt .mcap: {count} readable {topic} messages, {_METADATA} counts "
                                     f"{header.counts.get(topic, 0)}")
    return s


# ---------------------------------------------------------------------------------------------------------
# Aligning frames, measured poses and commands


def _nearest(stamps: np.ndarray, query: np.ndarray, tol: int) -> np.ndarray:
    """Index into ``stamps`` of the one nearest each query stamp (exact match preferred), -1 beyond ``tol``."""
    if len(stamps) == 0:
        return np.full(len(query), -1, dtype=np.int64)
    order = np.argsort(stamps, kind="stable")
    s = stamps[order]
    keep = np.append(s[1:] != s[:-1], True)  # of repeated stamps, the last received
    s, order = s[keep], order[keep]
    pos = np.searchsorted(s, query)
    lo, hi = np.clip(pos - 1, 0, len(s) - 1), np.clip(pos, 0, len(s) - 1)
    dlo, dhi = np.abs(query - s[lo]), np.abs(s[hi] - query)
    best = np.where(dhi <= dlo, hi, lo)
    return np.where(np.minimum(dlo, dhi) <= tol, order[best], -1)


@dataclass
class Alignment:
    """Per camera frame, in stamp order: where its measured pose, closure and pose command come from."""

    order: np.ndarray  # (n,) receive index of each frame
    stamps: np.ndarray  # (n,) int64
    tolerance_ns: int  # half the median frame interval
    ee_index: np.ndarray  # (n,) index into streams.ee, -1: none within tolerance
    joint_index: np.ndarray  # (n,) index into streams.closure with a gripper joint, -1: none
    cmd_index: np.ndarray  # (n,) index into streams.cmd answering the frame, -1: none (hold)
    cmd_gripper: np.ndarray  # (m,) gripper command in force at each pose command


def align(s: EpisodeStreams) -> Alignment:
    """Match every camera frame with its measured pose, gripper closure and answering pose command."""
    frame_stamp = np.asarray(s.frame_stamp, dtype=np.int64)
    order = np.argsort(frame_stamp, kind="stable")
    stamps = frame_stamp[order]
    logs = np.asarray(s.frame_log, dtype=np.int64)[order]
    n = len(stamps)
    tol = int(np.median(np.diff(stamps)) // 2) if n > 1 else 0
    ee_index = _nearest(np.asarray(s.ee_stamp, dtype=np.int64), stamps, tol)
    closure = np.asarray(s.closure, dtype=float)
    with_joint = np.flatnonzero(np.isfinite(closure))
    joint_index = _nearest(np.asarray(s.joint_stamp, dtype=np.int64)[with_joint], stamps, tol)
    joint_index = np.where(joint_index >= 0, with_joint[np.maximum(joint_index, 0)] if len(with_joint) else -1, -1)

    cmd_stamp = np.asarray(s.cmd_stamp, dtype=np.int64)
    cmd_log = np.asarray(s.cmd_log, dtype=np.int64)
    # 1. A command stamped with the frame's stamp answers it (the last received of several).
    by_stamp: dict[int, int] = {}
    matched = np.isin(cmd_stamp, stamps)
    for j in np.flatnonzero(matched):
        by_stamp[int(cmd_stamp[j])] = int(j)
    cmd_index = np.array([by_stamp.get(int(t), -1) for t in stamps], dtype=np.int64)
    # 2. Else the last other command received from frame i's arrival until frame i+1's.
    other = np.flatnonzero(~matched)
    other = other[np.argsort(cmd_log[other], kind="stable")]
    if len(other):
        other_log = cmd_log[other]
        next_log = np.append(logs[1:], _INT64_MAX)
        k = np.searchsorted(other_log, next_log, side="left") - 1
        ok = (k >= 0) & (other_log[np.maximum(k, 0)] >= logs) & (cmd_index < 0)
        cmd_index[ok] = other[k[ok]]
    # The gripper command sent with a pose command: the last received before the next pose command or
    # camera frame. The recorder logs the pair in whichever order its subscriptions run.
    received = np.sort(np.asarray(s.frame_log, dtype=np.int64))
    k = np.searchsorted(received, cmd_log, side="right")
    next_frame = np.append(received, _INT64_MAX)[k]
    bound = np.minimum(np.append(cmd_log[1:], _INT64_MAX), next_frame)
    grip_log = np.asarray(s.grip_log, dtype=np.int64)
    grip = np.append(np.asarray(s.grip, dtype=float), 0.0)  # index -1 -> 0.0 (open)
    cmd_gripper = grip[np.searchsorted(grip_log, bound, side="left") - 1]
    return Alignment(order, stamps, tol, ee_index, joint_index, cmd_index, cmd_gripper)


def episode_arrays(path: Path, s: EpisodeStreams, a: Alignment, spec: ActionSpec
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ee_pose (n, 4), actions (n, 6) and gripper (n,) of one episode; DatasetError if a pose is missing."""
    if not s.cmd:
        raise DatasetError(path, f"no pose commands on {keys.POSE_CMD}: no actions to learn from")
    if (missing := np.flatnonzero(a.ee_index < 0)).size:
        i = int(missing[0])
        raise DatasetError(path, f"{missing.size} camera frame(s) have no {keys.EE_POSE} within "
                                 f"{a.tolerance_ns / 1e6:.1f} ms, first the frame stamped {int(a.stamps[i])} ns")
    ee = np.asarray(s.ee, dtype=np.float64)[a.ee_index]  # (n, 4)
    cmd = np.asarray(s.cmd, dtype=np.float64)
    n = len(a.stamps)
    actions = np.empty((n, ACTION_DIM), dtype=np.float32)
    commanded = np.empty(n, dtype=np.float64)
    target, grip = None, 0.0
    for i in range(n):
        j = a.cmd_index[i]
        if j >= 0:
            target, grip = cmd[j], float(a.cmd_gripper[j])
        held = target is None or (i == n - 1 and j < 0)  # before the first command, or unanswered at the end
        goal = ee[i] if held else target
        actions[i] = spec.normalize(goal[:3], goal[3], grip, ee[i, :3], ee[i, 3], terminate=False)
        commanded[i] = grip
    closure = np.asarray(s.closure, dtype=np.float64)
    gripper = np.where(a.joint_index >= 0, closure[np.maximum(a.joint_index, 0)] if closure.size else 0.0, commanded)
    return ee.astype(np.float32), actions, gripper.astype(np.float32)


# ---------------------------------------------------------------------------------------------------------
# Building and loading


def frame_rgb(path: Path, msg) -> np.ndarray:
    """RGB uint8 of one recorded camera message (Image or CompressedImage); DatasetError naming the bag."""
    try:
        return message_to_rgb(msg)
    except ImageEncodingError as exc:
        raise DatasetError(path, f"camera frame stamped {_stamp_ns(msg.header)} ns: {exc}") from exc


def aligned_arrays(header: BagHeader, streams: EpisodeStreams, spec: ActionSpec
                   ) -> tuple[Alignment, np.ndarray, np.ndarray, np.ndarray]:
    """The alignment, ee_pose, actions and gripper of an episode read by :func:`read_streams`;
    DatasetError when it has no camera frame."""
    if not streams.frame_stamp:
        raise DatasetError(header.path, f"no camera messages on {camera_topic(header)}")
    a = align(streams)
    return (a, *episode_arrays(header.path, streams, a, spec))


def _write_episode(header: BagHeader, arrays: dict[str, np.ndarray], offset: int, index: int,
                   config: DatasetConfig) -> int:
    """Write one episode's steps at ``offset``; returns the number of steps."""
    path, capacity = header.path, camera_frames(header)  # metadata.yaml's count reserved the rows
    images = arrays["images"]

    def on_frame(i: int, msg) -> None:
        if i >= capacity:
            raise DatasetError(path, f"more {camera_topic(header)} messages than the {capacity} metadata.yaml counts")
        images[offset + i] = resize_for_learning(frame_rgb(path, msg), config.image_size)

    a, ee, actions, gripper = aligned_arrays(header, read_streams(header, on_frame), config.action_spec)
    n = len(a.stamps)
    if np.any(a.order != np.arange(n)):  # frames arrived out of stamp order: put them in order
        images[offset:offset + n] = images[offset + a.order]
    end = offset + n
    arrays["ee_pose"][offset:end] = ee
    arrays["actions"][offset:end] = actions
    arrays["gripper"][offset:end] = gripper
    arrays["episode"][offset:end] = index
    arrays["step"][offset:end] = np.arange(n)
    arrays["is_last"][offset:end] = np.arange(n) == n - 1
    return n


def _shrink(path: Path, n: int) -> None:
    """Cut an .npy file to its first ``n`` rows, streaming (rows of skipped episodes or duplicates)."""
    old = np.load(path, mmap_mode="r")
    part = path.with_name(path.stem + ".part.npy")
    new = open_memmap(part, mode="w+", dtype=old.dtype, shape=(n, *old.shape[1:]))
    for start in range(0, n, 4096):
        stop = min(start + 4096, n)
        new[start:stop] = old[start:stop]
    new.flush()
    del new, old
    os.replace(part, path)


def _build_into(out: Path, folder: Path, episodes: list[Path], key: str, config: DatasetConfig,
                progress: ProgressFn | None) -> None:
    skipped: list[tuple[str, str]] = []

    def bad(exc: DatasetError, episode: Path) -> None:
        if not config.skip_bad:
            raise exc
        skipped.append((_relative_name(folder, episode), exc.problem))

    headers: list[BagHeader] = []
    for episode in episodes:
        try:
            header = read_header(episode)
            require_topics(header)
            headers.append(header)
        except DatasetError as exc:
            bad(exc, episode)
    capacity = sum(camera_frames(h) for h in headers)
    if capacity == 0:
        raise DatasetError(folder, "empty dataset: every episode was skipped: "
                                   + "; ".join(f"{name}: {problem}" for name, problem in skipped))
    arrays = open_arrays(out, capacity, config.image_size)
    records, offset = [], 0
    for done, header in enumerate(headers, 1):
        try:
            n = _write_episode(header, arrays, offset, len(records), config)
            records.append({"name": _relative_name(folder, header.path), "num_steps": n, "offset": offset,
                            "metadata": header.custom})
            offset += n
        except DatasetError as exc:
            bad(exc, header.path)  # a skipped episode's rows are overwritten by the next one
        if progress is not None:
            progress(done, len(headers))
    for array in arrays.values():
        array.flush()
    del arrays
    if offset == 0:
        raise DatasetError(folder, "empty dataset: every episode was skipped: "
                                   + "; ".join(f"{name}: {problem}" for name, problem in skipped))
    if offset < capacity:
        for name in _ARRAYS:
            _shrink(out / f"{name}.npy", offset)
    write_manifest(out, key, config, offset, records, skipped)


def open_arrays(out: Path, steps: int, image_size: int) -> dict[str, np.ndarray]:
    """The cache's arrays for ``steps`` steps, as writable memory maps in ``out`` (one .npy per name)."""
    return {name: open_memmap(out / f"{name}.npy", mode="w+", dtype=dtype, shape=(steps, *_step_shape(name, image_size)))
            for name, (dtype, _) in _ARRAYS.items()}


def write_manifest(out: Path, key: str, config: DatasetConfig, steps: int, records: list[dict],
                   skipped: list[tuple[str, str]], **extra) -> None:
    """The cache entry's manifest: its key, builder version, image size, action scale and episodes."""
    manifest = {"key": key, "builder_version": BUILDER_VERSION, "image_size": config.image_size,
                "action_spec": asdict(config.action_spec), "num_steps": steps, "episodes": records,
                "skipped": skipped, **extra}
    (out / MANIFEST).write_text(json.dumps(manifest, indent=1))


def build_dataset(folder: Path | str, config: DatasetConfig | None = None,
                  progress: ProgressFn | None = None) -> Path:
    """Build the cached arrays of the bags in ``folder`` unless already cached; returns the cache folder.

    ``progress(done, total)`` is called after each episode of a build. The build writes into a temporary
    folder beside the cache entry and renames it into place when complete, so an interrupted build leaves
    no half-written entry and concurrent builds of the same bags are safe.
    """
    from actionable_models.data import lerobot  # it builds on this module

    config = config or DatasetConfig()
    folder = Path(folder)
    from_lerobot = lerobot.is_lerobot_folder(folder)
    episodes = [] if from_lerobot else find_episodes(folder)
    key = lerobot.dataset_key(folder, config) if from_lerobot else dataset_key(folder, episodes, config)
    root = Path(config.cache_dir) if config.cache_dir is not None else default_cache_root()
    out = root / key
    if (out / MANIFEST).is_file():
        return out
    try:
        root.mkdir(parents=True, exist_ok=True)
        for stale in root.glob(".build-*"):  # left by a build that was killed a day or more ago
            if time.time() - stale.stat().st_mtime > 86400:
                shutil.rmtree(stale, ignore_errors=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".build-{key[:12]}-", dir=root))
    except OSError as exc:
        raise DatasetError(root, f"cannot create the dataset cache: {exc}; set DatasetConfig.cache_dir") from exc
    try:
        if from_lerobot:
            lerobot.build_into(tmp, folder, key, config, progress)
        else:
            _build_into(tmp, folder, episodes, key, config, progress)
        try:
            os.rename(tmp, out)
        except OSError as exc:
            if not (out / MANIFEST).is_file():  # else another process finished the same build first
                raise DatasetError(out, f"cannot move the built dataset into place: {exc}; delete {out}") from exc
    except OSError as exc:  # disk full, permissions
        raise DatasetError(root, f"cannot write the dataset cache: {exc}; free space or set cache_dir") from exc
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def load_dataset(folder: Path | str, config: DatasetConfig | None = None,
                 progress: ProgressFn | None = None) -> EpisodeDataset:
    """The training arrays of the episode bags in ``folder``, built on first use and memory-mapped from cache.

    Raises DatasetError naming the bag and the problem for the first unusable episode, unless
    ``config.skip_bad`` (then see ``EpisodeDataset.skipped``), and when no usable episode remains.
    """
    config = config or DatasetConfig()
    dataset = EpisodeDataset(build_dataset(folder, config, progress), Path(folder))
    if dataset.skipped and not config.skip_bad:  # cached by an earlier skip_bad=True build
        path, problem = dataset.skipped[0]
        raise DatasetError(path, problem)
    return dataset

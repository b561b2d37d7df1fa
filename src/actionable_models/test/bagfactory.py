"""Synthetic episode bags for tests and benchmarks, written the way the recorder writes them.

Each control step follows the cell's conventions: the sim publishes /arm/ee_pose, /joint_states,
/camera/image_raw and /camera/camera_info with one header stamp t (simulation time), then the controller
answers with /arm/gripper_cmd and a /arm/cartesian_cmd stamped t. Bag log times are the recorder's
wall-clock receive times: a fixed wall-clock start plus the sim time plus a few milliseconds of latency.
Options break the conventions one at a time, so every bad-input path of the dataset can be exercised.

    from bagfactory import write_episode
    ep = write_episode(tmp_path, 0, frames=5)   # ep.path, ep.stamps, ep.images, ep.ee, ep.cmd, ...
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from rosbags.typesys import Stores, get_typestore

from actionable_models.data import keys
from actionable_models.data.episode_writer import EpisodeWriter
from actionable_models.geometry import quat_from_yaw

TYPESTORE = get_typestore(Stores.ROS2_JAZZY)
_T = TYPESTORE.types
WALL_START_NS = 1_700_000_000_000_000_000  # the recorder's wall clock at sim time 0


@dataclass
class SyntheticEpisode:
    """What was written: the path and the ground truth per camera frame (in stamp order)."""

    path: Path
    stamps: np.ndarray  # (N,) int64 header stamps, ns
    images: np.ndarray  # (N, H, W, 3) uint8 RGB as published (before any encoding change)
    ee: np.ndarray  # (N, 4) measured x, y, z, yaw
    cmd: np.ndarray  # (N, 4) commanded x, y, z, yaw answering each frame
    gripper_cmd: np.ndarray  # (N,) commanded closure answering each frame
    closure: np.ndarray  # (N,) measured closure (gripper_finger_joint / 0.8)
    metadata: dict[str, str] = field(default_factory=dict)


def _header(stamp_ns: int, frame_id: str):
    time = _T["builtin_interfaces/msg/Time"](sec=int(stamp_ns // 1_000_000_000), nanosec=int(stamp_ns % 1_000_000_000))
    return _T["std_msgs/msg/Header"](stamp=time, frame_id=frame_id)


def _pose_stamped(stamp_ns: int, frame_id: str, pos: np.ndarray, yaw: float) -> bytes:
    w, x, y, z = quat_from_yaw(yaw)
    msg = _T["geometry_msgs/msg/PoseStamped"](
        header=_header(stamp_ns, frame_id),
        pose=_T["geometry_msgs/msg/Pose"](
            position=_T["geometry_msgs/msg/Point"](x=float(pos[0]), y=float(pos[1]), z=float(pos[2])),
            orientation=_T["geometry_msgs/msg/Quaternion"](x=x, y=y, z=z, w=w)))
    return bytes(TYPESTORE.serialize_cdr(msg, "geometry_msgs/msg/PoseStamped"))


def image_cdr(stamp_ns: int, rgb: np.ndarray, encoding: str = "rgb8") -> bytes:
    """A serialized sensor_msgs/Image of an RGB array, re-encoded as ``encoding`` (rgb8, bgr8 or 16UC1)."""
    height, width, _ = rgb.shape
    if encoding == "rgb8":
        data, step = rgb, 3 * width
    elif encoding == "bgr8":
        data, step = rgb[:, :, ::-1], 3 * width
    elif encoding == "16UC1":  # a depth image: one uint16 per pixel
        data, step = rgb[:, :, 0].astype(np.uint16) * 100, 2 * width
    else:
        raise ValueError(f"bagfactory cannot write encoding {encoding!r}")
    msg = _T["sensor_msgs/msg/Image"](
        header=_header(stamp_ns, "camera_optical_frame"), height=height, width=width, encoding=encoding,
        is_bigendian=0, step=step, data=np.frombuffer(np.ascontiguousarray(data).tobytes(), dtype=np.uint8))
    return bytes(TYPESTORE.serialize_cdr(msg, "sensor_msgs/msg/Image"))


def compressed_image_cdr(stamp_ns: int, rgb: np.ndarray, format: str = "jpeg") -> bytes:
    """A serialized sensor_msgs/CompressedImage of an RGB array, as image_transport's compressed plugin
    publishes it (jpeg or png)."""
    from actionable_models.imaging import rgb_to_compressed_fields

    fields = rgb_to_compressed_fields(rgb, format)
    msg = _T["sensor_msgs/msg/CompressedImage"](header=_header(stamp_ns, "camera_optical_frame"),
                                                format=fields["format"],
                                                data=np.frombuffer(fields["data"], dtype=np.uint8))
    return bytes(TYPESTORE.serialize_cdr(msg, "sensor_msgs/msg/CompressedImage"))


def _camera_info(stamp_ns: int, height: int, width: int) -> bytes:
    f = 0.5 * width
    msg = _T["sensor_msgs/msg/CameraInfo"](
        header=_header(stamp_ns, "camera_optical_frame"), height=height, width=width, distortion_model="plumb_bob",
        d=np.zeros(5), k=np.array([f, 0, width / 2, 0, f, height / 2, 0, 0, 1], dtype=float), r=np.eye(3).ravel(),
        p=np.array([f, 0, width / 2, 0, 0, f, height / 2, 0, 0, 0, 1, 0], dtype=float), binning_x=0, binning_y=0,
        roi=_T["sensor_msgs/msg/RegionOfInterest"](x_offset=0, y_offset=0, height=0, width=0, do_rectify=False))
    return bytes(TYPESTORE.serialize_cdr(msg, "sensor_msgs/msg/CameraInfo"))


def _joint_state(stamp_ns: int, closure: float) -> bytes:
    names = [f"joint_{i}" for i in range(6)] + [keys.GRIPPER_JOINT]
    pos = np.append(np.linspace(-1.0, 1.0, 6), closure * keys.GRIPPER_CLOSED_RAD)
    msg = _T["sensor_msgs/msg/JointState"](header=_header(stamp_ns, ""), name=names, position=pos,
                                           velocity=np.zeros(7), effort=np.zeros(7))
    return bytes(TYPESTORE.serialize_cdr(msg, "sensor_msgs/msg/JointState"))


def _float64(value: float) -> bytes:
    return bytes(TYPESTORE.serialize_cdr(_T["std_msgs/msg/Float64"](data=float(value)), "std_msgs/msg/Float64"))


def default_image(step: int, height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    """A frame with some structure (gradient + moving square + noise), different every step."""
    yy, xx = np.mgrid[0:height, 0:width]
    img = np.stack([xx * 255 // max(width - 1, 1), yy * 255 // max(height - 1, 1),
                    np.full_like(xx, (step * 37) % 256)], axis=-1).astype(np.uint8)
    s = max(height // 4, 1)
    r, c = (step * 3) % max(height - s, 1), (step * 5) % max(width - s, 1)
    img[r:r + s, c:c + s] = (255, 255, 255)
    noise = rng.integers(0, 8, size=img.shape, dtype=np.uint8)
    return img + noise


def write_episode(root: Path, index: int, *, frames: int = 5, height: int = 16, width: int = 16,
                  period_ns: int = 100_000_000, start_stamp_ns: int = 0, task: str = "pick",
                  metadata: dict[str, str] | None = None, outcome: str = "success", seed: int | None = None,
                  image_fn: Callable[[int], np.ndarray] | None = None,
                  ee_fn: Callable[[int], tuple[np.ndarray, float]] | None = None,
                  cmd_fn: Callable[[int], tuple[np.ndarray, float, float]] | None = None,
                  encoding: str = "rgb8", camera: bool = True, ee_pose: bool = True, joint_states: bool = True,
                  commands: bool = True, drop_commands: Iterable[int] = (), cmd_stamp_offset_ns: int | None = None,
                  commands_per_frame: int = 1, gripper_after_pose: bool = False, gap_after: int | None = None,
                  gap_steps: int = 5,
                  duplicate_frames: Iterable[int] = (), late_frames: Iterable[int] = (), truncate: bool = False,
                  corrupt: bool = False, drop_metadata: bool = False, leave_marker: bool = False,
                  crash: bool = False) -> SyntheticEpisode:
    """Write episode ``index`` under ``root`` and return its ground truth.

    ``image_fn(step)``, ``ee_fn(step) -> (pos, yaw)``, ``cmd_fn(step) -> (pos, yaw, gripper)`` override the
    synthetic content. Breakers: ``encoding`` (rgb8, bgr8, 16UC1; jpeg or png: a CompressedImage on the
    compressed camera topic), ``camera=False`` (no image messages),
    ``ee_pose=False``, ``joint_states=False``, ``commands=False`` (no pose or gripper commands),
    ``drop_commands`` (steps left unanswered), ``cmd_stamp_offset_ns`` (commands stamped t + offset, like a
    teleop that does not echo the frame stamp), ``commands_per_frame`` (extra pose commands per step),
    ``gripper_after_pose`` (the recorder logs the gripper command just after the pose command),
    ``gap_after``/``gap_steps`` (the camera skips ``gap_steps`` control steps after that frame),
    ``duplicate_frames`` (those frames published twice with the same stamp), ``late_frames`` (those camera
    frames received 1.5 periods late, after the next one), ``truncate`` (cut the .mcap in half),
    ``corrupt`` (zero the second quarter of the .mcap: the footer stays, records in the middle are lost),
    ``drop_metadata`` (delete metadata.yaml), ``leave_marker`` (the recording marker stays), ``crash`` (all
    three: what a killed recorder leaves).
    """
    rng = np.random.default_rng(index if seed is None else seed)
    drop = set(drop_commands)
    dups = set(duplicate_frames)
    late = set(late_frames)
    meta = {keys.META_TASK: task, keys.META_SEED: str(index if seed is None else seed),
            keys.META_COLLECTOR: "bagfactory", keys.META_LAYOUT: "default", **(metadata or {})}
    writer = EpisodeWriter(Path(root), index, meta)
    stamps, images, ees, cmds, grips, closures = [], [], [], [], [], []
    stamp = start_stamp_ns
    grip = 0.0
    for i in range(frames):
        if gap_after is not None and i == gap_after + 1:
            stamp += gap_steps * period_ns
        log = WALL_START_NS + stamp + 2_000_000 + int(rng.integers(0, 500_000))  # receive latency + jitter
        pos, yaw = ee_fn(i) if ee_fn else (np.array([0.45 + 0.01 * i, 0.02 * np.sin(i), 0.2 - 0.005 * i]),
                                           0.05 * i)
        closure = min(1.0, max(0.0, grip - 0.1))  # the fingers lag the command a little
        rgb = image_fn(i) if image_fn else default_image(i, height, width, rng)
        if ee_pose:
            writer.write(keys.EE_POSE, log, _pose_stamped(stamp, "base_link", pos, yaw))
        if joint_states:
            writer.write(keys.JOINT_STATES, log + 10_000, _joint_state(stamp, closure))
        if camera:
            delay = 3 * period_ns // 2 if i in late else 0  # arrives after the next frame
            if encoding in ("jpeg", "png"):  # compressed, on <camera>/compressed instead of the raw topic
                writer.write(keys.IMAGE_COMPRESSED, log + 20_000 + delay, compressed_image_cdr(stamp, rgb, encoding))
            else:
                writer.write(keys.IMAGE, log + 20_000 + delay, image_cdr(stamp, rgb, encoding))
            writer.write(keys.CAMERA_INFO, log + 30_000, _camera_info(stamp, *rgb.shape[:2]))
            if i in dups:
                writer.write(*((keys.IMAGE_COMPRESSED, log + 40_000, compressed_image_cdr(stamp, rgb, encoding))
                               if encoding in ("jpeg", "png") else (keys.IMAGE, log + 40_000, image_cdr(stamp, rgb, encoding))))
        if cmd_fn:
            target, target_yaw, grip = cmd_fn(i)
        else:
            target, target_yaw = pos + np.array([0.01, -0.005, -0.01]), yaw + 0.1
            grip = 1.0 if i >= frames // 2 else 0.0
        if commands and i not in drop:
            cmd_stamp = stamp if cmd_stamp_offset_ns is None else stamp + cmd_stamp_offset_ns
            answer = log + 5_000_000  # the controller answers 5 ms after the frame arrived
            grip_log = answer + 1_000 * commands_per_frame + 500 if gripper_after_pose else answer
            writer.write(keys.GRIPPER_CMD, grip_log, _float64(grip))
            for k in range(commands_per_frame):
                extra = np.array([0.0, 0.0, 0.001 * (commands_per_frame - 1 - k)])  # the last one is the target
                writer.write(keys.POSE_CMD, answer + 1_000 + k * 1_000,
                             _pose_stamped(cmd_stamp, "base_link", np.asarray(target) + extra, target_yaw))
        stamps.append(stamp)
        images.append(rgb)
        ees.append([*pos, yaw])
        cmds.append([*np.asarray(target, dtype=float), target_yaw])
        grips.append(grip)
        closures.append(closure)
        stamp += period_ns
    path = writer.path
    full_meta = dict(writer.metadata)
    writer.close(outcome)
    full_meta[keys.META_OUTCOME] = outcome
    mcap = path / f"{path.name}.mcap"
    if truncate or crash:
        with mcap.open("r+b") as f:
            f.truncate(mcap.stat().st_size // 2)
    if corrupt:
        data = bytearray(mcap.read_bytes())
        data[len(data) // 4:len(data) // 2] = bytes(len(data) // 2 - len(data) // 4)
        mcap.write_bytes(bytes(data))
    if drop_metadata or crash:
        (path / "metadata.yaml").unlink()
    if leave_marker or crash:
        (path / keys.RECORDING_MARKER).write_text("recording; removed when the episode is closed\n")
    return SyntheticEpisode(path=path, stamps=np.array(stamps, dtype=np.int64),
                            images=np.stack(images) if images else np.zeros((0, height, width, 3), np.uint8),
                            ee=np.array(ees, dtype=float).reshape(-1, 4),
                            cmd=np.array(cmds, dtype=float).reshape(-1, 4),
                            gripper_cmd=np.array(grips, dtype=float), closure=np.array(closures, dtype=float),
                            metadata=full_meta)


def write_dataset(root: Path, episodes: int = 3, **kwargs) -> list[SyntheticEpisode]:
    """``episodes`` good episodes 0..episodes-1 under ``root`` (keyword arguments go to write_episode)."""
    return [write_episode(root, i, **kwargs) for i in range(episodes)]

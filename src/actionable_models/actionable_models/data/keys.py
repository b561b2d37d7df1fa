"""The one place that spells topic names, message types and episode metadata keys.

Recorder, dataset and learner import these names; nothing else writes them out.
"""

from __future__ import annotations

IMAGE = "/camera/image_raw"
IMAGE_COMPRESSED = IMAGE + "/compressed"  # image_transport's compressed plugin: <base topic>/compressed
CAMERA_INFO = "/camera/camera_info"
EE_POSE = "/arm/ee_pose"
JOINT_STATES = "/joint_states"
POSE_CMD = "/arm/cartesian_cmd"
GRIPPER_CMD = "/arm/gripper_cmd"
EPISODE_EVENTS = "/am/episode"

# What an episode bag holds: topic -> ROS 2 message type.
RECORDED_TOPICS: dict[str, str] = {
    IMAGE: "sensor_msgs/msg/Image",
    IMAGE_COMPRESSED: "sensor_msgs/msg/CompressedImage",
    CAMERA_INFO: "sensor_msgs/msg/CameraInfo",
    EE_POSE: "geometry_msgs/msg/PoseStamped",
    JOINT_STATES: "sensor_msgs/msg/JointState",
    POSE_CMD: "geometry_msgs/msg/PoseStamped",
    GRIPPER_CMD: "std_msgs/msg/Float64",
}
# The camera, raw or compressed: an episode needs one of them (raw is read when both hold frames).
CAMERA_TOPICS = (IMAGE, IMAGE_COMPRESSED)
# Topics a usable episode cannot do without, besides a camera topic.
REQUIRED_TOPICS = (EE_POSE, POSE_CMD)

# Episode metadata, stored as strings in the bag's custom data (metadata.yaml, rosbag2 format 9).
META_PREFIX = "am."
META_TASK = "am.task"
META_SEED = "am.seed"
META_COLLECTOR = "am.collector"
META_OUTCOME = "am.outcome"
META_EPISODE = "am.episode"
META_LAYOUT = "am.layout"
META_STARTED = "am.started_unix_ns"
META_PRIMITIVES = "am.primitives"  # JSON list: what a scripted collector did in the episode

# How an arm reports its parallel gripper in /joint_states: one joint, 0 rad open .. closed travel.
GRIPPER_JOINT = "gripper_finger_joint"
GRIPPER_CLOSED_RAD = 0.8  # the Robotiq 2F-85 driver joint's travel


def gripper_closure(names, positions) -> float | None:
    """The measured closure 0 (open) .. 1 (closed) in a /joint_states message's ``name`` and ``position``
    (``GRIPPER_JOINT`` / ``GRIPPER_CLOSED_RAD``, clipped), or None when the message has no gripper joint
    position. NaN when the position is NaN (the caller decides what a broken reading means)."""
    names = list(names)
    if GRIPPER_JOINT not in names:
        return None
    k = names.index(GRIPPER_JOINT)
    if k >= len(positions):
        return None
    value = float(positions[k])
    return value if value != value else min(max(value / GRIPPER_CLOSED_RAD, 0.0), 1.0)

EPISODE_DIR_PREFIX = "episode_"
RECORDING_MARKER = ".recording"  # present while an episode is open; left behind by a crash


def episode_dir_name(index: int) -> str:
    """Directory name of episode ``index`` (episode_000042)."""
    return f"{EPISODE_DIR_PREFIX}{index:06d}"

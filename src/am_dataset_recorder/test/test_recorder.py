"""The recorder over real rclpy topics and DDS, with real bag files read back by two independent readers."""

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import rclpy
import yaml
from geometry_msgs.msg import PoseStamped
from rclpy.context import Context
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.qos import QoSDurabilityPolicy, QoSProfile, QoSReliabilityPolicy, qos_profile_sensor_data
from rosbags.rosbag2 import Reader
from rosbags.typesys import Stores, get_typestore
from sensor_msgs.msg import CameraInfo, Image, JointState
from std_msgs.msg import Float64, String
from std_srvs.srv import Trigger

from actionable_models.data import keys
from am_dataset_recorder.recorder_node import RecorderNode

pytestmark = pytest.mark.ros
TYPESTORE = get_typestore(Stores.ROS2_JAZZY)
LATCHED = QoSProfile(depth=1, reliability=QoSReliabilityPolicy.RELIABLE,
                     durability=QoSDurabilityPolicy.TRANSIENT_LOCAL)


class Publisher:
    """A node that plays a robot: one observation set and one command pair per step."""

    def __init__(self, context: Context) -> None:
        self.node = Node("fake_robot", context=context, start_parameter_services=False)
        n = self.node
        self.image = n.create_publisher(Image, keys.IMAGE, qos_profile_sensor_data)
        self.info = n.create_publisher(CameraInfo, keys.CAMERA_INFO, qos_profile_sensor_data)
        self.ee = n.create_publisher(PoseStamped, keys.EE_POSE, 10)
        self.joints = n.create_publisher(JointState, keys.JOINT_STATES, 10)
        self.pose_cmd = n.create_publisher(PoseStamped, keys.POSE_CMD, 10)
        self.gripper_cmd = n.create_publisher(Float64, keys.GRIPPER_CMD, 10)
        self.events = n.create_publisher(String, keys.EPISODE_EVENTS, 10)
        self.status: dict = {}
        n.create_subscription(String, "/am/recorder/status", self._on_status, LATCHED)
        self.step_index = 0

    def _on_status(self, msg):
        self.status = json.loads(msg.data)

    def connected(self) -> bool:
        pubs = (self.image, self.ee, self.joints, self.pose_cmd, self.gripper_cmd, self.events)
        return all(p.get_subscription_count() > 0 for p in pubs) and bool(self.status)

    def step(self) -> None:
        i = self.step_index
        stamp = rclpy.time.Time(nanoseconds=100_000_000 * (i + 1)).to_msg()
        img = Image(height=4, width=6, encoding="rgb8", step=18, data=bytes([i % 256]) * 72)
        img.header.stamp = stamp
        self.image.publish(img)
        info = CameraInfo(width=6, height=4)
        info.header.stamp = stamp
        self.info.publish(info)
        ee = PoseStamped()
        ee.header.stamp, ee.header.frame_id = stamp, "base_link"
        ee.pose.position.x = 0.4 + 0.01 * i
        self.ee.publish(ee)
        joints = JointState(name=["a"], position=[0.1 * i])
        joints.header.stamp = stamp
        self.joints.publish(joints)
        self.gripper_cmd.publish(Float64(data=float(i % 2)))
        cmd = PoseStamped()
        cmd.header.stamp, cmd.header.frame_id = stamp, "base_link"
        cmd.pose.position.x = 0.41 + 0.01 * i
        self.pose_cmd.publish(cmd)
        self.step_index += 1

    def event(self, **event) -> None:
        self.events.publish(String(data=json.dumps(event)))


class Spinner:
    def __init__(self, context, *nodes):
        self.executor = SingleThreadedExecutor(context=context)
        for node in nodes:
            self.executor.add_node(node)
        self.thread = threading.Thread(target=self.executor.spin, daemon=True)
        self.thread.start()

    def stop(self):
        self.executor.shutdown(timeout_sec=2.0)
        self.thread.join(timeout=2.0)



# What a raw camera publishes: every recorded topic but the compressed camera (recorded, here empty).
RAW_CAMERA_TOPICS = [t for t in keys.RECORDED_TOPICS if t != keys.IMAGE_COMPRESSED]

def wait_for(predicate, timeout=10.0, what="condition"):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.01)


def read_bag(path: Path) -> dict[str, list]:
    """topic -> deserialized messages, read with rosbags."""
    out: dict[str, list] = {}
    with Reader(path) as reader:
        for conn, _t, raw in reader.messages():
            out.setdefault(conn.topic, []).append(TYPESTORE.deserialize_cdr(raw, conn.msgtype))
    return out


def record_steps(pub: Publisher, steps: int, settle: float = 0.3) -> None:
    for _ in range(steps):
        pub.step()
        time.sleep(0.01)
    time.sleep(settle)


def test_episode_events_make_one_complete_bag_per_episode(context, tmp_path):
    recorder = RecorderNode(context=context, parameter_overrides=[Parameter("output_dir", value=str(tmp_path))])
    pub = Publisher(context)
    spin = Spinner(context, recorder, pub.node)
    try:
        wait_for(pub.connected, what="recorder discovery")
        for episode in range(2):
            pub.event(event="start", task="play", seed=40 + episode, collector="test", layout="default")
            wait_for(lambda: pub.status.get("recording"), what="episode start")
            record_steps(pub, 8)
            pub.event(event="stop", outcome="play", extra={"primitives": [{"primitive": "reach"}]})
            wait_for(lambda e=episode: pub.status.get("closed_count") == e + 1, what="episode close")
    finally:
        spin.stop()
        recorder.destroy_node()
        pub.node.destroy_node()

    bags = sorted(tmp_path.iterdir())
    assert [b.name for b in bags] == ["episode_000000", "episode_000001"]
    for episode, bag in enumerate(bags):
        assert not (bag / keys.RECORDING_MARKER).exists()
        messages = read_bag(bag)
        assert {t: len(m) for t, m in messages.items()} == {t: 8 for t in RAW_CAMERA_TOPICS}
        assert messages[keys.IMAGE][0].encoding == "rgb8"
        stamps = [m.header.stamp.sec * 10**9 + m.header.stamp.nanosec for m in messages[keys.IMAGE]]
        assert stamps == sorted(stamps) and len(set(stamps)) == 8
        meta = yaml.safe_load((bag / "metadata.yaml").read_text())["rosbag2_bagfile_information"]
        assert meta["custom_data"][keys.META_SEED] == str(40 + episode)
        assert meta["custom_data"][keys.META_TASK] == "play"
        assert meta["custom_data"][keys.META_OUTCOME] == "play"
        assert json.loads(meta["custom_data"]["am.primitives"]) == [{"primitive": "reach"}]


def test_bag_layout_matches_rosbag2_jazzy_and_mcap_decodes_independently(context, tmp_path):
    recorder = RecorderNode(context=context, parameter_overrides=[Parameter("output_dir", value=str(tmp_path))])
    pub = Publisher(context)
    client = pub.node.create_client(Trigger, "/recorder/start_episode")
    stop_client = pub.node.create_client(Trigger, "/recorder/stop_episode")
    spin = Spinner(context, recorder, pub.node)
    try:
        wait_for(pub.connected, what="recorder discovery")
        assert client.wait_for_service(timeout_sec=10)
        future = client.call_async(Trigger.Request())
        wait_for(future.done, what="start service")
        assert future.result().success, future.result().message
        record_steps(pub, 5)
        future = stop_client.call_async(Trigger.Request())
        wait_for(future.done, what="stop service")
        assert future.result().success
    finally:
        spin.stop()
        recorder.destroy_node()
        pub.node.destroy_node()
    bag = tmp_path / "episode_000000"
    info = yaml.safe_load((bag / "metadata.yaml").read_text())["rosbag2_bagfile_information"]
    # The fields ros2 bag (Jazzy, rosbag2 format 9) reads.
    assert info["version"] == 9 and info["storage_identifier"] == "mcap"
    assert info["relative_file_paths"] == ["episode_000000.mcap"]
    assert info["message_count"] == 5 * len(RAW_CAMERA_TOPICS)
    assert {"starting_time", "duration", "files", "custom_data", "topics_with_message_count"} <= set(info)
    assert info["files"][0]["path"] == "episode_000000.mcap"
    for entry in info["topics_with_message_count"]:
        topic = entry["topic_metadata"]
        assert {"name", "type", "serialization_format", "offered_qos_profiles", "type_description_hash"} <= set(topic)
        assert topic["serialization_format"] == "cdr" and topic["type_description_hash"].startswith("RIHS01_")
    assert info["custom_data"][keys.META_TASK] == "manual"
    assert info["custom_data"][keys.META_OUTCOME] == "manual_stop"

    from mcap.reader import make_reader
    from mcap_ros2.decoder import DecoderFactory

    decoded: dict[str, list] = {}
    with open(bag / "episode_000000.mcap", "rb") as f:
        reader = make_reader(f, decoder_factories=[DecoderFactory()])
        for _schema, channel, _message, ros_msg in reader.iter_decoded_messages():
            decoded.setdefault(channel.topic, []).append(ros_msg)
    assert {t: len(m) for t, m in decoded.items()} == {t: 5 for t in RAW_CAMERA_TOPICS}
    assert decoded[keys.POSE_CMD][2].pose.position.x == pytest.approx(0.43)
    assert bytes(decoded[keys.IMAGE][3].data) == bytes([3]) * 72


def test_never_overwrites_and_reports_episodes_left_open(context, tmp_path):
    (tmp_path / "episode_000004").mkdir()
    (tmp_path / "episode_000004" / keys.RECORDING_MARKER).write_text("left by a crash")
    recorder = RecorderNode(context=context, parameter_overrides=[Parameter("output_dir", value=str(tmp_path))])
    try:
        path = recorder.start_episode({keys.META_TASK: "manual"})
        assert path.name == "episode_000005"
        recorder.stop_episode("done")
    finally:
        recorder.destroy_node()
    assert (tmp_path / "episode_000004" / keys.RECORDING_MARKER).read_text() == "left by a crash"


def _recorder_config(tmp_path: Path, out: Path) -> Path:
    config = tmp_path / "recorder.yaml"
    config.write_text(yaml.safe_dump({"recorder": {"ros__parameters": {"output_dir": str(out)}}}))
    return config


def _start_recorder_process(config: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "am_bringup.cli", "run", str(config)], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env=os.environ.copy())


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signal_closes_the_open_bag_cleanly(context, tmp_path, sig):
    out = tmp_path / "bags"
    proc = _start_recorder_process(_recorder_config(tmp_path, out))
    pub = Publisher(context)
    spin = Spinner(context, pub.node)
    try:
        wait_for(pub.connected, timeout=30, what="recorder process discovery")
        pub.event(event="start", task="play", seed=1, collector="test")
        wait_for(lambda: pub.status.get("recording"), what="episode start")
        record_steps(pub, 6)
        proc.send_signal(sig)
        output, _ = proc.communicate(timeout=15)
    finally:
        spin.stop()
        pub.node.destroy_node()
        proc.kill()
    assert proc.returncode == 130, output
    bag = out / "episode_000000"
    assert not (bag / keys.RECORDING_MARKER).exists(), output
    meta = yaml.safe_load((bag / "metadata.yaml").read_text())["rosbag2_bagfile_information"]
    assert meta["custom_data"][keys.META_OUTCOME] == "interrupted"
    assert len(read_bag(bag)[keys.IMAGE]) == 6


def test_sigkill_mid_episode_leaves_earlier_episodes_intact(context, tmp_path):
    out = tmp_path / "bags"
    proc = _start_recorder_process(_recorder_config(tmp_path, out))
    pub = Publisher(context)
    spin = Spinner(context, pub.node)
    try:
        wait_for(pub.connected, timeout=30, what="recorder process discovery")
        for episode in range(2):
            pub.event(event="start", task="play", seed=episode, collector="test")
            wait_for(lambda: pub.status.get("recording"), what="episode start")
            record_steps(pub, 5)
            pub.event(event="stop", outcome="play")
            wait_for(lambda e=episode: pub.status.get("closed_count") == e + 1, what="episode close")
        pub.event(event="start", task="play", seed=2, collector="test")
        wait_for(lambda: pub.status.get("recording"), what="third episode start")
        record_steps(pub, 5)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        spin.stop()
        pub.node.destroy_node()
        proc.kill()
    for done in ("episode_000000", "episode_000001"):
        assert len(read_bag(out / done)[keys.IMAGE]) == 5
    broken = out / "episode_000002"
    assert (broken / keys.RECORDING_MARKER).exists()
    assert not (broken / "metadata.yaml").exists()
    from actionable_models.data.episode_writer import incomplete_episodes, next_episode_index
    assert incomplete_episodes(out) == [broken]
    assert next_episode_index(out) == 3


@pytest.fixture
def tiny_disk(tmp_path):
    mount = tmp_path / "tiny"
    mount.mkdir()
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount)], capture_output=True)
    if result.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {result.stderr.decode().strip()}")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)  # lazy: never leave a mount behind


def test_full_disk_gives_a_clear_error_and_keeps_earlier_episodes(context, tiny_disk):
    recorder = RecorderNode(context=context, parameter_overrides=[Parameter("output_dir", value=str(tiny_disk))])
    pub = Publisher(context)
    errors: list[str] = []
    pub.node.create_subscription(
        __import__("rcl_interfaces.msg", fromlist=["Log"]).Log, "/rosout",
        lambda m: errors.append(m.msg) if m.name == "recorder" and m.level >= 40 else None,
        QoSProfile(depth=100, reliability=QoSReliabilityPolicy.RELIABLE,
                   durability=QoSDurabilityPolicy.TRANSIENT_LOCAL))
    spin = Spinner(context, recorder, pub.node)
    big = Image(height=64, width=64, encoding="rgb8", step=192, data=bytes(64 * 64 * 3))
    try:
        wait_for(pub.connected, what="recorder discovery")
        pub.event(event="start", task="play", seed=0, collector="test")
        wait_for(lambda: pub.status.get("recording"), what="first episode")
        record_steps(pub, 3)
        pub.event(event="stop", outcome="play")
        wait_for(lambda: pub.status.get("closed_count") == 1, what="first episode closed")
        pub.event(event="start", task="play", seed=1, collector="test")
        wait_for(lambda: pub.status.get("recording"), what="second episode")
        for _ in range(200):  # ~2.4 MB of images into a 256 KB disk
            pub.image.publish(big)
            time.sleep(0.005)
        pub.event(event="stop", outcome="play")
        wait_for(lambda: any("No space left on device" in e for e in errors), what="the disk-full error")
        time.sleep(0.2)
        assert not pub.status.get("recording")
    finally:
        spin.stop()
        recorder.destroy_node()
        pub.node.destroy_node()
    message = next(e for e in errors if "No space left on device" in e)
    assert "episode_000001" in message and "incomplete" in message
    assert len(read_bag(tiny_disk / "episode_000000")[keys.IMAGE]) == 3
    assert (tiny_disk / "episode_000001" / keys.RECORDING_MARKER).exists()

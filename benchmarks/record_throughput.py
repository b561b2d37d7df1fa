"""Recorder throughput: 640x480 rgb8 camera images at 30 Hz into an episode bag.

Starts the recorder node in its own process (`am run` with a recorder-only config, real DDS), publishes
camera frames from this process for --seconds (with sensor-data QoS, as camera drivers do) plus a pose
and a command per frame, then reads the bag back and prints frames published vs written (target:
nothing dropped), the recorder process's CPU use, and bag megabytes per minute.

    .venv/bin/python benchmarks/record_throughput.py [--seconds 30] [--rate 30] [--width 640 --height 480]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
os.environ.setdefault("ROS_DOMAIN_ID", str(150 + os.getpid() % 50))

import rclpy  # noqa: E402
import yaml  # noqa: E402
from geometry_msgs.msg import PoseStamped  # noqa: E402
from rclpy.context import Context  # noqa: E402
from rclpy.executors import SingleThreadedExecutor  # noqa: E402
from rclpy.node import Node  # noqa: E402
from rclpy.qos import QoSDurabilityPolicy, QoSProfile, QoSReliabilityPolicy, qos_profile_sensor_data  # noqa: E402
from rosbags.rosbag2 import Reader  # noqa: E402
from sensor_msgs.msg import Image  # noqa: E402
from std_msgs.msg import Float64, String  # noqa: E402

from actionable_models.data import keys  # noqa: E402

LATCHED = QoSProfile(depth=1, reliability=QoSReliabilityPolicy.RELIABLE,
                     durability=QoSDurabilityPolicy.TRANSIENT_LOCAL)


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--rate", type=float, default=30.0)
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("--keep", action="store_true", help="keep the bag (default: deleted)")
    parser.add_argument("--reliable", action="store_true",
                        help="camera publishes reliably and the recorder subscribes reliably (default: sensor-data "
                             "QoS, best effort, as most camera drivers)")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="am_record_bench_"))
    config = work / "recorder.yaml"
    reliability = "reliable" if args.reliable else "best_effort"
    config.write_text(yaml.safe_dump({"recorder": {"ros__parameters": {
        "output_dir": str(work / "bags"), "camera_reliability": reliability}}}))
    proc = subprocess.Popen([sys.executable, "-m", "am_bringup.cli", "run", str(config)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=os.environ.copy())
    context = Context()
    rclpy.init(context=context)
    node = Node("bench_camera", context=context, start_parameter_services=False)
    camera_qos = QoSProfile(depth=10, reliability=QoSReliabilityPolicy.RELIABLE) if args.reliable \
        else qos_profile_sensor_data
    image_pub = node.create_publisher(Image, keys.IMAGE, camera_qos)
    pose_pub = node.create_publisher(PoseStamped, keys.EE_POSE, 10)
    cmd_pub = node.create_publisher(Float64, keys.GRIPPER_CMD, 10)
    event_pub = node.create_publisher(String, keys.EPISODE_EVENTS, 10)
    status: dict = {}
    node.create_subscription(String, "/am/recorder/status", lambda m: status.update(json.loads(m.data)), LATCHED)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)

    def spin_until(predicate, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise SystemExit(f"timed out waiting for {what}")
            executor.spin_once(timeout_sec=0.02)

    frame = Image(height=args.height, width=args.width, encoding="rgb8", step=3 * args.width,
                  data=os.urandom(3 * args.width * args.height))
    frame.header.frame_id = "camera"
    published = 0
    try:
        spin_until(lambda: image_pub.get_subscription_count() > 0 and event_pub.get_subscription_count() > 0
                   and bool(status), 60, "the recorder process")
        event_pub.publish(String(data=json.dumps({"event": "start", "task": "benchmark", "collector": "bench"})))
        spin_until(lambda: status.get("recording"), 10, "the episode to open")
        cpu0, wall0 = cpu_seconds(proc.pid), time.monotonic()
        period = 1.0 / args.rate
        next_tick = time.monotonic()
        while time.monotonic() - wall0 < args.seconds:
            now = node.get_clock().now().to_msg()
            frame.header.stamp = now
            image_pub.publish(frame)
            pose = PoseStamped()
            pose.header.stamp = now
            pose_pub.publish(pose)
            cmd_pub.publish(Float64(data=0.0))
            published += 1
            next_tick += period
            while (left := next_tick - time.monotonic()) > 0:
                executor.spin_once(timeout_sec=left)
        wall = time.monotonic() - wall0
        time.sleep(0.5)  # let the last frames land before the stop
        cpu = cpu_seconds(proc.pid) - cpu0
        event_pub.publish(String(data=json.dumps({"event": "stop", "outcome": "benchmark"})))
        spin_until(lambda: status.get("closed_count") == 1, 120, "the bag to close")
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
        executor.shutdown()
        node.destroy_node()
        rclpy.shutdown(context=context)

    bag = work / "bags" / "episode_000000"
    with Reader(bag) as reader:
        written = sum(c.msgcount for c in reader.connections if c.topic == keys.IMAGE)
    size_mb = sum(f.stat().st_size for f in bag.iterdir()) / 1e6
    transports = os.environ.get("FASTDDS_BUILTIN_TRANSPORTS", "DEFAULT")
    print(f"camera {args.width}x{args.height} rgb8 at {args.rate:g} Hz for {wall:.1f} s, {reliability} QoS, "
          f"Fast DDS transports {transports} ({os.cpu_count()} CPUs, recorder in its own process)")
    print(f"frames published {published}, written {written}, dropped {published - written} "
          f"({100.0 * (published - written) / max(published, 1):.2f} %)")
    print(f"recorder CPU {100.0 * cpu / wall:.0f} % of one core; "
          f"bag {size_mb:.0f} MB = {size_mb / wall * 60:.0f} MB/min")
    if args.keep:
        print(f"bag kept at {bag}")
    else:
        shutil.rmtree(work)


if __name__ == "__main__":
    main()

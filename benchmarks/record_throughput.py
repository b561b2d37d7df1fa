"""Recorder throughput: 640x480 rgb8 camera images at 30 Hz into an episode bag.

Starts the recorder node in its own process (`am run` with a recorder-only config, real DDS), publishes
camera frames from this process for --seconds (with sensor-data QoS, as camera drivers do) plus a pose
and a command per frame, then reads the bag back and prints frames published vs written (target:
nothing dropped), the recorder process's CPU use, and bag megabytes per minute.

    .venv/bin/python benchmarks/record_throughput.py [--seconds 30] [--rate 30] [--width 640 --height 480]
        [--compressed jpeg|png] [--hogs N] [--reliable]

``--compressed``: the camera publishes sensor_msgs/CompressedImage on /camera/image_raw/compressed (as
image_transport's compressed plugin) of a rendered-looking frame, and the benchmark also prints what
decoding one costs. ``--hogs N``: N busy-looping processes run beside it (a robot computer that also trains).
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
# Both ends use the project's Fast DDS profile (config/fastdds_large_frames.xml), as `am` and the launch files
# do, unless --no-dds-profile (Fast DDS defaults) or the environment names another profile.
if "--no-dds-profile" not in sys.argv:
    os.environ.setdefault("FASTRTPS_DEFAULT_PROFILES_FILE",
                          str(Path(__file__).resolve().parents[1] / "config" / "fastdds_large_frames.xml"))
else:
    os.environ.pop("FASTRTPS_DEFAULT_PROFILES_FILE", None)
    os.environ["AM_NO_DDS_PROFILE"] = "1"
os.environ.setdefault("ROS_DOMAIN_ID", str(150 + os.getpid() % 50))

import numpy as np  # noqa: E402
import rclpy  # noqa: E402
import yaml  # noqa: E402
from geometry_msgs.msg import PoseStamped  # noqa: E402
from rclpy.context import Context  # noqa: E402
from rclpy.executors import SingleThreadedExecutor  # noqa: E402
from rclpy.node import Node  # noqa: E402
from rclpy.qos import QoSDurabilityPolicy, QoSProfile, QoSReliabilityPolicy, qos_profile_sensor_data  # noqa: E402
from rosbags.rosbag2 import Reader  # noqa: E402
from sensor_msgs.msg import CompressedImage, Image  # noqa: E402
from std_msgs.msg import Float64, String  # noqa: E402

from actionable_models.data import keys  # noqa: E402
from actionable_models.imaging import compressed_to_rgb, rgb_to_compressed_fields  # noqa: E402

LATCHED = QoSProfile(depth=1, reliability=QoSReliabilityPolicy.RELIABLE,
                     durability=QoSDurabilityPolicy.TRANSIENT_LOCAL)


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def scene_like_frame(width: int, height: int) -> np.ndarray:
    """A frame that compresses like a camera image: smooth gradients, a few shapes, sensor noise."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:height, 0:width]
    rgb = np.stack([xx * 200 // width + 30, yy * 150 // height + 60, np.full_like(xx, 110)], -1).astype(np.int16)
    for _ in range(12):
        x, y, r = rng.integers(0, width), rng.integers(0, height), rng.integers(10, 60)
        rgb[(xx - x) ** 2 + (yy - y) ** 2 < r * r] = rng.integers(0, 255, 3)
    return np.clip(rgb + rng.normal(0, 3, rgb.shape), 0, 255).astype(np.uint8)


def decode_cost_ms(fields: dict, repeats: int = 50) -> float:
    """Mean milliseconds to decode one compressed frame to RGB (one core)."""
    start = time.perf_counter()
    for _ in range(repeats):
        compressed_to_rgb(fields["format"], fields["data"])
    return (time.perf_counter() - start) / repeats * 1e3


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
    parser.add_argument("--compressed", choices=("jpeg", "png"), default=None,
                        help="publish CompressedImage on /camera/image_raw/compressed instead of raw rgb8")
    parser.add_argument("--hogs", type=int, default=0, help="busy-looping processes to run beside (default 0)")
    parser.add_argument("--no-dds-profile", action="store_true",
                        help="Fast DDS defaults (512 KiB shared-memory segment) instead of config/fastdds_large_frames.xml")
    args = parser.parse_args()
    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(args.hogs)]

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
    topic = keys.IMAGE_COMPRESSED if args.compressed else keys.IMAGE
    image_pub = node.create_publisher(CompressedImage if args.compressed else Image, topic, camera_qos)
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

    if args.compressed:
        fields = rgb_to_compressed_fields(scene_like_frame(args.width, args.height), args.compressed)
        frame = CompressedImage(**fields)
    else:
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
        for hog in hogs:
            hog.kill()
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
        executor.shutdown()
        node.destroy_node()
        rclpy.shutdown(context=context)

    bag = work / "bags" / "episode_000000"
    with Reader(bag) as reader:
        written = sum(c.msgcount for c in reader.connections if c.topic == topic)
    size_mb = sum(f.stat().st_size for f in bag.iterdir()) / 1e6
    transports = os.environ.get("FASTDDS_BUILTIN_TRANSPORTS", "DEFAULT")
    profile = os.environ.get("FASTRTPS_DEFAULT_PROFILES_FILE")
    kind = f"{args.compressed} CompressedImage ({len(frame.data) / 1e3:.0f} kB)" if args.compressed else "rgb8"
    print(f"camera {args.width}x{args.height} {kind} at {args.rate:g} Hz for {wall:.1f} s, {reliability} QoS, "
          f"Fast DDS transports {transports}, profile {profile or 'none'} ({os.cpu_count()} CPUs, recorder in its "
          f"own process, {args.hogs} CPU hogs)")
    if args.compressed:
        cost = decode_cost_ms(fields)
        print(f"decoding one {args.compressed} frame: {cost:.2f} ms ({1e3 / cost:.0f} frames/s on one core)")
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

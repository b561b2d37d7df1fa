"""Policy latency: the decision itself, and camera frame to pose command through DDS.

Trains a small checkpoint on synthetic bags (a few steps: latency does not depend on training), starts
the policy node (trigger: observation) in this process beside a node that plays the camera and the arm,
publishes 64x64 camera frames with their poses, and times (1) each decision inside the node and (2) each
frame's publish to the arrival of the pose command that answers it (matched by stamp). Target on the
2-core development machine: 95th percentile decision under 20 ms at 64x64.

    .venv/bin/python benchmarks/policy_latency.py [--frames 200] [--size 64]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
os.environ.setdefault("ROS_DOMAIN_ID", str(200 + os.getpid() % 30))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src" / "actionable_models" / "test"))

import numpy as np  # noqa: E402
import rclpy  # noqa: E402
from geometry_msgs.msg import PoseStamped  # noqa: E402
from rclpy.context import Context  # noqa: E402
from rclpy.executors import SingleThreadedExecutor  # noqa: E402
from rclpy.node import Node  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402
from rclpy.qos import qos_profile_sensor_data  # noqa: E402
from sensor_msgs.msg import Image  # noqa: E402

from actionable_models.data.dataset import DatasetConfig  # noqa: E402
from actionable_models.imaging import rgb_to_image_fields  # noqa: E402
from actionable_models.learning.config import LearnerConfig  # noqa: E402
from actionable_models.learning.trainer import TrainConfig, train  # noqa: E402
from am_common.messages import LATCHED  # noqa: E402
from am_policy_node.policy_node import PolicyNode  # noqa: E402
from bagfactory import write_dataset  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=200)
    parser.add_argument("--size", type=int, default=64, help="learner image size (the default network)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="am_policy_bench_"))
    write_dataset(work / "bags", episodes=2, frames=6, height=args.size, width=args.size)
    train(work / "bags", work / "run", LearnerConfig(image_size=args.size, batch_size=8),
          TrainConfig(steps=2, checkpoint_every=2), DatasetConfig(image_size=args.size, cache_dir=work / "cache"))

    context = Context()
    rclpy.init(context=context)
    params = {"checkpoint": str(work / "run"), "trigger": "observation", "reached_q": 1.0, "use_terminate": False}
    policy = PolicyNode(context=context, parameter_overrides=[Parameter(k, value=v) for k, v in params.items()])
    decide = policy.policy.decide
    decision_ms: list[float] = []

    def timed_decide(*a, **k):
        start = time.perf_counter()
        result = decide(*a, **k)
        decision_ms.append((time.perf_counter() - start) * 1000)
        return result

    policy.policy.decide = timed_decide
    arm = Node("bench_arm", context=context, start_parameter_services=False)
    camera = arm.create_publisher(Image, "/camera/image_raw", qos_profile_sensor_data)
    pose_pub = arm.create_publisher(PoseStamped, "/arm/ee_pose", 10)
    goal = arm.create_publisher(Image, "/am/goal_image", LATCHED)
    sent: dict[int, float] = {}
    latency_ms: list[float] = []

    def on_command(msg: PoseStamped) -> None:
        stamp = msg.header.stamp.sec * 10**9 + msg.header.stamp.nanosec
        if stamp in sent:
            latency_ms.append((time.perf_counter() - sent.pop(stamp)) * 1000)

    arm.create_subscription(PoseStamped, "/arm/cartesian_cmd", on_command, 10)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(policy)
    executor.add_node(arm)
    rng = np.random.default_rng(0)
    goal.publish(Image(**rgb_to_image_fields(rng.integers(0, 255, (args.size, args.size, 3), dtype=np.uint8))))
    deadline = time.monotonic() + 20
    while camera.get_subscription_count() == 0 and time.monotonic() < deadline:
        executor.spin_once(timeout_sec=0.05)
    frame = rng.integers(0, 255, (args.size, args.size, 3), dtype=np.uint8)
    for i in range(args.frames):
        stamp_ns = (i + 1) * 100_000_000
        stamp = rclpy.time.Time(nanoseconds=stamp_ns).to_msg()
        image = Image(**rgb_to_image_fields(frame))
        image.header.stamp = stamp
        pose = PoseStamped()
        pose.header.stamp, pose.header.frame_id = stamp, "base_link"
        pose.pose.position.x, pose.pose.position.y, pose.pose.position.z = 0.45, 0.0, 0.2
        pose.pose.orientation.x = 1.0
        sent[stamp_ns] = time.perf_counter()
        camera.publish(image)
        pose_pub.publish(pose)
        end = time.monotonic() + 0.1  # 10 Hz camera
        while time.monotonic() < end:
            executor.spin_once(timeout_sec=max(0.0, end - time.monotonic()))
    executor.shutdown()
    policy.destroy_node()
    arm.destroy_node()
    rclpy.shutdown(context=context)

    d, lat = np.array(decision_ms[5:]), np.array(latency_ms[5:])
    print(f"policy at {args.size}x{args.size}, CEM {policy.policy.learner.cem_iterations}x"
          f"{policy.policy.learner.cem_samples}, {policy.config.torch_threads} torch thread(s), {os.cpu_count()} CPUs")
    print(f"decision: median {np.median(d):.1f} ms, 95th percentile {np.percentile(d, 95):.1f} ms "
          f"({len(d)} decisions; target p95 < 20 ms)")
    print(f"camera frame -> pose command through DDS: median {np.median(lat):.1f} ms, 95th percentile "
          f"{np.percentile(lat, 95):.1f} ms ({len(lat)} of {args.frames} frames answered)")


if __name__ == "__main__":
    main()

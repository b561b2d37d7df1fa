"""Control steps per second of the sim cell in lock-step mode, camera rendered at 64 and 128 px.

Two figures per size: the core cell alone (step + render), and the sim node over real rclpy topics and
DDS, driven by a node in the same single-threaded executor (as `am run` starts them) that answers each
new state with a gripper and a pose command, as a scripted collector does, and also receives every
camera frame. Target: at least 100 control steps/s at 64x64.

    .venv/bin/python benchmarks/sim_steps.py [--steps 300] [--sizes 64 128]
"""

from __future__ import annotations

import argparse
import os
import platform
import time

os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
os.environ.setdefault("ROS_DOMAIN_ID", str(100 + os.getpid() % 100))

import numpy as np  # noqa: E402
import rclpy  # noqa: E402

from actionable_models.sim.cell import Cell  # noqa: E402
from actionable_models.sim.config import CellConfig  # noqa: E402


def _targets(n: int) -> list[np.ndarray]:
    # A slow circle over the table with the gripper toggling: the arm moves every step.
    t = np.linspace(0, 2 * np.pi, n)
    return [np.array([0.45 + 0.1 * np.cos(a), 0.15 * np.sin(a), 0.12 + 0.05 * np.sin(2 * a)]) for a in t]


def bench_core(size: int, steps: int, lowpoly_cell_m: float) -> float:
    cell = Cell(CellConfig(image_width=size, image_height=size, lowpoly_cell_m=lowpoly_cell_m))
    cell.render()
    start = time.perf_counter()
    for i, target in enumerate(_targets(steps)):
        cell.set_command(target, 0.0, float(i // 20 % 2))
        cell.step()
        cell.render()
    rate = steps / (time.perf_counter() - start)
    cell.close()
    return rate


class _Driver:
    """A callback-driven controller like a scripted collector: each new state triggers the next command."""

    def __init__(self, node, targets: list[np.ndarray]) -> None:
        from geometry_msgs.msg import PoseStamped
        from rclpy.qos import qos_profile_sensor_data
        from sensor_msgs.msg import Image
        from std_msgs.msg import Float64, String

        from am_common.messages import LATCHED

        self.node, self.targets = node, targets
        self.sent = 0
        self.frames = 0
        self.pose_pub = node.create_publisher(PoseStamped, "/arm/cartesian_cmd", 10)
        self.gripper_pub = node.create_publisher(Float64, "/arm/gripper_cmd", 10)
        node.create_subscription(String, "/sim/privileged_state", self._on_state, LATCHED)
        node.create_subscription(Image, "/camera/image_raw", self._on_image, qos_profile_sensor_data)
        self._float = Float64

    def connected(self) -> bool:
        return self.pose_pub.get_subscription_count() > 0 and self.gripper_pub.get_subscription_count() > 0

    def _on_image(self, msg) -> None:
        self.frames += 1

    def _on_state(self, msg) -> None:
        from am_common.messages import pose_command

        if self.sent >= len(self.targets) or not self.connected():
            return
        target = self.targets[self.sent]
        self.gripper_pub.publish(self._float(data=float(self.sent // 20 % 2)))
        self.pose_pub.publish(pose_command(target, 0.0, "base_link"))
        self.sent += 1


def bench_ros(size: int, steps: int, lowpoly_cell_m: float) -> float:
    """Steps/s of the sim node in lock-step, driven by a callback-driven node in the same executor (as `am run`)."""
    from rclpy.context import Context
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.node import Node
    from rclpy.parameter import Parameter

    from am_sim.sim_node import SimCellNode

    context = Context()
    rclpy.init(context=context)
    params = {"mode": "lockstep", "image_width": size, "image_height": size, "lowpoly_cell_m": lowpoly_cell_m}
    sim = SimCellNode(context=context, parameter_overrides=[Parameter(k, value=v) for k, v in params.items()])
    node = Node("bench_driver", context=context, start_parameter_services=False)
    warmup = 10
    driver = _Driver(node, _targets(warmup + steps))
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(sim)
    executor.add_node(node)
    try:
        deadline = time.monotonic() + 30
        while not driver.connected() and time.monotonic() < deadline:
            executor.spin_once(timeout_sec=0.05)
        sim._publish()  # the latched first state may have gone out before the driver was connected
        while sim.cell.steps < warmup:
            executor.spin_once(timeout_sec=1.0)
        start, first = time.perf_counter(), sim.cell.steps
        while sim.cell.steps < warmup + steps:
            executor.spin_once(timeout_sec=1.0)
        rate = (sim.cell.steps - first) / (time.perf_counter() - start)
    finally:
        executor.shutdown()
        node.destroy_node()
        sim.destroy_node()
        rclpy.shutdown(context=context)
    if driver.frames < steps // 2:
        print(f"  warning: only {driver.frames} camera frames reached the driver")
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 128])
    parser.add_argument("--lowpoly-cell-m", type=float, default=CellConfig.lowpoly_cell_m,
                        help="render-mesh decimation grid; 0 renders the stock 185k-face meshes")
    args = parser.parse_args()
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"MUJOCO_GL={os.environ.get('MUJOCO_GL', 'egl')}, lowpoly_cell_m={args.lowpoly_cell_m}")
    for size in args.sizes:
        core = bench_core(size, args.steps, args.lowpoly_cell_m)
        ros = bench_ros(size, args.steps, args.lowpoly_cell_m)
        print(f"{size:>4} px: core cell {core:7.1f} steps/s | sim node lock-step over DDS {ros:7.1f} steps/s")


if __name__ == "__main__":
    main()

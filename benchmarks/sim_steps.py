"""Control steps per second of the sim cell in lock-step mode, camera rendered at 64 and 128 px.

Two figures per size: the core cell alone (step + render), and the sim node over real rclpy topics and
DDS, driven by a probe node in the same process that publishes a gripper and a pose command and waits
for the next state (what a data collector does). Target: at least 100 control steps/s at 64x64.

    .venv/bin/python benchmarks/sim_steps.py [--steps 300] [--sizes 64 128]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
os.environ.setdefault("ROS_DOMAIN_ID", str(100 + os.getpid() % 100))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src" / "am_sim" / "test"))

import numpy as np  # noqa: E402
import rclpy  # noqa: E402

from actionable_models.sim.cell import Cell  # noqa: E402
from actionable_models.sim.config import CellConfig  # noqa: E402


def _targets(n: int) -> list[np.ndarray]:
    # A slow circle over the table with the gripper toggling: the arm moves every step.
    t = np.linspace(0, 2 * np.pi, n)
    return [np.array([0.45 + 0.1 * np.cos(a), 0.15 * np.sin(a), 0.12 + 0.05 * np.sin(2 * a)]) for a in t]


def bench_core(size: int, steps: int) -> float:
    cell = Cell(CellConfig(image_width=size, image_height=size))
    cell.render()
    start = time.perf_counter()
    for i, target in enumerate(_targets(steps)):
        cell.set_command(target, 0.0, float(i // 20 % 2))
        cell.step()
        cell.render()
    rate = steps / (time.perf_counter() - start)
    cell.close()
    return rate


def bench_ros(size: int, steps: int) -> float:
    from harness import SimHarness, new_context

    context = new_context()
    sim = SimHarness(context, mode="lockstep", image_width=size, image_height=size)
    try:
        for _ in range(5):  # warm-up
            sim.step([0.45, 0.0, 0.2], 0.0, 0.0)
        start = time.perf_counter()
        for i, target in enumerate(_targets(steps)):
            sim.step(target, 0.0, float(i // 20 % 2))
        rate = steps / (time.perf_counter() - start)
        frames = sim.image_count
    finally:
        sim.close()
        rclpy.shutdown(context=context)
    if frames < steps // 2:
        print(f"  warning: only {frames} camera frames reached the probe")
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 128])
    args = parser.parse_args()
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"MUJOCO_GL={os.environ.get('MUJOCO_GL', 'egl')}")
    for size in args.sizes:
        core = bench_core(size, args.steps)
        ros = bench_ros(size, args.steps)
        print(f"{size:>4} px: core cell {core:7.1f} steps/s | sim node lock-step over DDS {ros:7.1f} steps/s")


if __name__ == "__main__":
    main()

"""Test-session setup shared by every package's tests.

Nodes started by tests talk over real DDS, so each test session gets its own ROS domain and stays on
localhost: parallel runs and other sessions on the machine never cross-talk.
"""

import os

import pytest

os.environ["ROS_DOMAIN_ID"] = str(1 + os.getpid() % 100)
os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
os.environ.setdefault("RMW_IMPLEMENTATION", "rmw_fastrtps_cpp")
os.environ.setdefault("MUJOCO_GL", "egl")
# Small tensors: OpenMP threads only spin against each other on the 2-core machines we test on
# (a learner update took 81 ms with 2 threads, 10 ms with 1).
os.environ.setdefault("OMP_NUM_THREADS", "1")


@pytest.fixture
def context():
    """A fresh rclpy context for one test (its nodes talk over real DDS in this session's domain)."""
    import rclpy  # here: the core's tests never import ROS
    from rclpy.context import Context

    ctx = Context()
    rclpy.init(context=ctx)
    yield ctx
    rclpy.shutdown(context=ctx)


@pytest.fixture
def spin_for():
    """``spin_for(executor, seconds, every=None, until=None)``: spin an executor for a while, calling
    ``every()`` (e.g. publishing a fake sensor) before each 20 ms spin; with ``until``, stop as soon as
    ``until()`` is true (so a test of something that takes a number of timer ticks can give a loaded
    machine time without waiting the whole limit on a quiet one)."""
    import time

    def spin(executor, seconds: float, every=None, until=None) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            if until is not None and until():
                return
            if every:
                every()
            executor.spin_once(timeout_sec=0.02)

    return spin

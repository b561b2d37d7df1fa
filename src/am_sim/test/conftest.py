import sys
from pathlib import Path

import pytest
import rclpy

sys.path.insert(0, str(Path(__file__).parent))
from harness import SimHarness, new_context  # noqa: E402


@pytest.fixture
def ros_context():
    context = new_context()
    yield context
    rclpy.shutdown(context=context)


@pytest.fixture
def make_sim(ros_context):
    harnesses = []

    def make(**params) -> SimHarness:
        harness = SimHarness(ros_context, **params)
        harnesses.append(harness)
        return harness

    yield make
    for harness in harnesses:
        harness.close()

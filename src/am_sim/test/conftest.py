import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from harness import SimHarness  # noqa: E402


@pytest.fixture
def make_sim(context):
    harnesses = []

    def make(**params) -> SimHarness:
        harness = SimHarness(context, **params)
        harnesses.append(harness)
        return harness

    yield make
    for harness in harnesses:
        harness.close()

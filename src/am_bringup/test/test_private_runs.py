"""Private embedded runs: nodes of one context hear each other and nothing from another run's context."""

import os
import time

import rclpy
from rclpy.context import Context
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from std_msgs.msg import String

from am_bringup.embedded import discovery_range

DOMAIN = 87  # away from the default domain 0 that the other tests' runs use


def _context(private: bool) -> Context:
    context = Context()
    with discovery_range("OFF" if private else None):
        rclpy.init(context=context, domain_id=DOMAIN)
    return context


def _heard(private: bool, seconds: float = 3.0) -> tuple[set[str], set[str]]:
    """Two runs' contexts, each a publisher and a subscriber on /probe: what each run's subscriber heard."""
    contexts = [_context(private), _context(private)]
    heard: list[set[str]] = [set(), set()]
    executor = SingleThreadedExecutor(context=contexts[0])
    other = SingleThreadedExecutor(context=contexts[1])
    publishers = []
    try:
        for i, (context, ex) in enumerate(zip(contexts, (executor, other))):
            node = Node(f"run{i}", context=context, start_parameter_services=False)
            node.create_subscription(String, "/probe", lambda m, i=i: heard[i].add(m.data), 10)
            publishers.append(node.create_publisher(String, "/probe", 10))
            ex.add_node(node)
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            for i, publisher in enumerate(publishers):
                publisher.publish(String(data=f"run{i}"))
            executor.spin_once(timeout_sec=0.02)
            other.spin_once(timeout_sec=0.02)
    finally:
        executor.shutdown()
        other.shutdown()
        for context in contexts:
            rclpy.shutdown(context=context)
    return heard[0], heard[1]


def test_private_runs_hear_only_themselves_where_shared_runs_cross():
    assert _heard(private=False) == ({"run0", "run1"}, {"run0", "run1"})  # the control: DDS crosses runs
    assert _heard(private=True) == ({"run0"}, {"run1"})


def test_discovery_range_is_restored(monkeypatch):
    monkeypatch.setenv("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    with discovery_range("OFF"):
        assert os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] == "OFF"
    assert os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] == "LOCALHOST"
    monkeypatch.delenv("ROS_AUTOMATIC_DISCOVERY_RANGE")
    with discovery_range("OFF"):
        pass
    assert "ROS_AUTOMATIC_DISCOVERY_RANGE" not in os.environ

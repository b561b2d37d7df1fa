"""The trainer node over real topics: trains from bags, announces each checkpoint on latched /am/checkpoint."""

import json
import sys
import time
from pathlib import Path

import pytest
import rclpy
from rclpy.context import Context
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.parameter import Parameter
from std_msgs.msg import String

from am_common.messages import LATCHED
from am_trainer.trainer_node import TrainerNode

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "actionable_models" / "test"))
from bagfactory import write_dataset  # noqa: E402

pytestmark = pytest.mark.ros


def test_trainer_node_trains_and_announces_checkpoints(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    write_dataset(tmp_path / "bags", episodes=2, frames=8, height=32, width=32)
    context = Context()
    rclpy.init(context=context)
    params = {"dataset": str(tmp_path / "bags"), "run_dir": str(tmp_path / "run"), "steps": 6,
              "checkpoint_every": 3, "log_every": 2, "image_size": 16, "embed_dim": 32, "batch_size": 8,
              "cem_samples": 16, "cem_elites": 4, "negative_candidates": 8, "device": "cpu"}
    trainer = TrainerNode(context=context, parameter_overrides=[Parameter(k, value=v) for k, v in params.items()])
    listener = Node("listener", context=context, start_parameter_services=False)
    announced, progress = [], []
    listener.create_subscription(String, "/am/checkpoint", lambda m: announced.append(m.data), LATCHED)
    listener.create_subscription(String, "/am/trainer/progress", lambda m: progress.append(json.loads(m.data)), 10)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(trainer)
    executor.add_node(listener)
    try:
        deadline = time.monotonic() + 120
        while not trainer.finished.done() and time.monotonic() < deadline:
            executor.spin_once(timeout_sec=0.05)
        for _ in range(20):  # the last announcements in flight
            executor.spin_once(timeout_sec=0.05)
        result = trainer.finished.result()
    finally:
        executor.shutdown()
        listener.destroy_node()
        trainer.destroy_node()
        rclpy.shutdown(context=context)
    assert result["step"] == 6
    assert announced[-1] == str((tmp_path / "run" / "checkpoint-00000006.safetensors").resolve())
    assert [p["step"] for p in progress] == [2, 4, 6] and all("loss/total" in p for p in progress)

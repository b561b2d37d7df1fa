"""The trainer node: trains the goal-conditioned Q-function from a folder of episode bags.

Training runs on a worker thread (it is CPU/GPU bound); the node publishes progress on
/am/trainer/progress (std_msgs/String JSON: step, total, metrics) and, reliable and transient local,
the path of each new checkpoint on /am/checkpoint so that a running policy can pick it up. Parameters:
``dataset``, ``run_dir`` and every field of LearnerConfig and TrainConfig (see config/train.yaml).
Destroying the node (Ctrl-C, SIGTERM) stops training after the current step with a checkpoint, so
starting it again resumes.
"""

from __future__ import annotations

import json
import threading

import rclpy
from rclpy.node import Node
from rclpy.task import Future
from std_msgs.msg import String

from actionable_models.learning.config import LearnerConfig
from actionable_models.learning.trainer import TrainConfig, train
from am_common.messages import LATCHED
from am_common.params import declare_config, declare_parameters, read_config, refuse_unknown_parameters, run_node


class TrainerNode(Node):
    """Offline training behind topics; completes ``finished`` with the TrainResult (or its error)."""

    def __init__(self, node_name: str = "trainer", **kwargs) -> None:
        super().__init__(node_name, **kwargs)
        p = declare_parameters(self, {"dataset": "data/play", "run_dir": "runs/am"})
        declare_config(self, LearnerConfig)
        declare_config(self, TrainConfig)
        refuse_unknown_parameters(self)
        self.learner = read_config(self, LearnerConfig)
        self.schedule = read_config(self, TrainConfig)
        self.dataset = p["dataset"]
        self.run_dir = p["run_dir"]
        self.checkpoint_pub = self.create_publisher(String, "/am/checkpoint", LATCHED)
        self.progress_pub = self.create_publisher(String, "/am/trainer/progress", 10)
        self.finished = Future()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="am-trainer", daemon=True)
        self._thread.start()
        self.get_logger().info(f"training {self.learner.method} ({self.learner.fusion} fusion) on {self.dataset} "
                               f"for {self.schedule.steps} steps into {self.run_dir}")

    def _run(self) -> None:
        try:
            result = train(self.dataset, self.run_dir, self.learner, self.schedule, progress=self._on_progress,
                           on_checkpoint=self._on_checkpoint, should_stop=self._stop.is_set)
        except Exception as exc:  # noqa: BLE001 - reported through the future and the log, not lost in a thread
            if self.context.ok():
                self.get_logger().error(f"training stopped: {exc}")
            self.finished.set_exception(exc)
            return
        self.finished.set_result({"step": result.step, "checkpoint": str(result.checkpoint),
                                  "seconds": round(result.seconds, 1), "resumed_from": result.resumed_from})

    def _on_progress(self, step: int, total: int, metrics: dict[str, float]) -> None:
        if self.context.ok():
            self.progress_pub.publish(String(data=json.dumps({"step": step, "total": total, **metrics})))

    def _on_checkpoint(self, path, step: int) -> None:
        if self.context.ok():
            self.checkpoint_pub.publish(String(data=str(path.resolve())))
            self.get_logger().info(f"checkpoint {path} (step {step})")

    def destroy_node(self) -> None:
        """Stop after the current step with a checkpoint, so that the next start resumes."""
        self._stop.set()
        self._thread.join()
        super().destroy_node()


def main(args: list[str] | None = None) -> int:
    """Entry point of ``ros2 run am_trainer trainer_node``."""
    return run_node("trainer", TrainerNode, args, lambda node: rclpy.spin_until_future_complete(node, node.finished))

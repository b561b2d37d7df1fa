"""The goal evaluator: held-out goals of the paper's tasks (or reaching), reached by a policy through real topics.

For each task and each evaluation seed (base_seed + i, never a collection seed) it renders the goal
image by driving its own copy of the cell into the goal state (actionable_models.sim.goals), publishes
it on /am/goal_image, resets the sim node to the seed, and lets the policy act until ``max_steps``
control steps have passed or the policy stops commanding. Success is the goal's privileged check on the
sim's final state. Writes results.json, results.md (success per task with 95 % Wilson intervals) and a
GIF per task (camera | goal) of the first rollouts; completes ``finished`` with the results.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import rclpy
from rclpy.clock import Clock, ClockType
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.parameter_client import AsyncParameterClient
from rclpy.qos import qos_profile_sensor_data
from rclpy.task import Future
from sensor_msgs.msg import Image
from std_msgs.msg import String
from std_srvs.srv import Trigger

from actionable_models.errors import GoalGenerationError
from actionable_models.evaluation import format_table, labelled_frame, result_row, summarize, write_gif
from actionable_models.imaging import image_to_rgb, rgb_to_image_fields
from actionable_models.sim.cell import Cell
from actionable_models.sim.camera_view import CAMERA_FIELDS
from actionable_models.sim.config import CellConfig
from actionable_models.sim.goals import EVALUATION_BASE_SEED, generate_goal
from actionable_models.sim.state import SceneState
from actionable_models.sim.tasks import PAPER_TASKS, check_task
from am_common.messages import LATCHED
from am_common.params import ParameterError, declare_parameters, refuse_unknown_parameters, run_node


CAMERA_DEFAULTS = {name: getattr(CellConfig(), name) for name in CAMERA_FIELDS}
"""The camera parameters of the goal evaluator's cell, as the sim node's (CellConfig's defaults)."""


class GoalEvaluatorNode(Node):
    """Runs the evaluation goals one after another through the sim node and a policy node."""

    def __init__(self, node_name: str = "goal_evaluator", **kwargs) -> None:
        super().__init__(node_name, **kwargs)
        p = declare_parameters(self, {
            "tasks": list(PAPER_TASKS), "goals_per_task": 3, "base_seed": EVALUATION_BASE_SEED, "layout": "default", "max_steps": 50,
            "idle_timeout_s": 3.0, "image_width": 128, "image_height": 128, "output_dir": "out/eval",
            "gif_rollouts_per_task": 1, "sim_node": "sim_cell", **CAMERA_DEFAULTS})
        refuse_unknown_parameters(self)
        for name in ("goals_per_task", "max_steps", "image_width", "image_height"):
            if p[name] < 1:
                raise ParameterError(f"parameter {name} must be at least 1, got {p[name]!r}")
        if p["gif_rollouts_per_task"] < 0 or not p["idle_timeout_s"] > 0:
            raise ParameterError("parameters gif_rollouts_per_task must be >= 0 and idle_timeout_s > 0, got "
                                 f"{p['gif_rollouts_per_task']!r} and {p['idle_timeout_s']!r}")
        for task in p["tasks"]:
            check_task(task)
        self.params = p
        # The goal images come from this copy of the cell: its camera must be the sim node's, or the policy
        # compares frames of two different views.
        self.cell = Cell(CellConfig(image_width=p["image_width"], image_height=p["image_height"], layout=p["layout"],
                                    **{name: p[name] for name in CAMERA_DEFAULTS}))
        self.plan = [(task, p["base_seed"] + i) for task in p["tasks"] for i in range(p["goals_per_task"])]
        self.results: list[dict] = []
        self.finished = Future()
        self.goal_pub = self.create_publisher(Image, "/am/goal_image", LATCHED)
        self.create_subscription(String, "/sim/privileged_state", self._on_state, LATCHED)
        self.create_subscription(Image, "/camera/image_raw", self._on_camera, qos_profile_sensor_data)
        self.policy_info: dict | None = None  # the policy's checkpoint and step, from its status
        self.create_subscription(String, "/am/policy_status", self._on_policy_status, 10)
        self.reset_client = self.create_client(Trigger, "/sim/reset")
        self.param_client = AsyncParameterClient(self, p["sim_node"])
        self.create_timer(0.05, self._tick, clock=Clock(clock_type=ClockType.STEADY_TIME))
        self.state: SceneState | None = None
        self.scored_state: SceneState | None = None  # the last state of the running rollout within max_steps
        self.last_state_time = time.monotonic()
        self.index = -1
        self.goal = None
        self.stage = "connecting"
        self.frames: list[np.ndarray] = []
        self.gif_frames: dict[str, list[np.ndarray]] = {}
        self._resets_before = 0
        self._started = time.monotonic()

    def _on_policy_status(self, msg: String) -> None:
        try:
            status = json.loads(msg.data)
        except ValueError:
            return
        if status.get("checkpoint"):
            self.policy_info = {"checkpoint": status["checkpoint"], "step": status.get("step")}

    def _on_state(self, msg: String) -> None:
        self.state = SceneState.from_json(msg.data)
        self.last_state_time = time.monotonic()
        # The policy answers the reset frame at once, so the latched step-0 state may be replaced before we
        # see it: a new episode is told by the sim's reset count, not by step 0.
        if self.stage == "awaiting_reset" and self.state.resets > self._resets_before:
            self.stage = "running"
            self.frames = []
        if self.stage == "running" and self.state.step <= self.params["max_steps"]:
            # The lock-step sim may run a few steps past the horizon before the timer scores the rollout:
            # it is scored on the last state within the horizon.
            self.scored_state = self.state

    def _on_camera(self, msg: Image) -> None:
        if self.stage == "running" and self._recording:
            self.frames.append(image_to_rgb(msg.encoding, msg.height, msg.width, msg.step, msg.data))

    @property
    def _recording(self) -> bool:
        task = self.goal.spec.task if self.goal else None
        done = sum(1 for r in self.results if r["task"] == task)
        return done < self.params["gif_rollouts_per_task"]

    def _tick(self) -> None:
        if self.finished.done():
            return
        if self.stage == "connecting":
            if (self.reset_client.service_is_ready() and self.param_client.services_are_ready()
                    and self.goal_pub.get_subscription_count() > 0 and self.state is not None):
                self._next_goal()
        elif self.stage == "running" and self.state.resets > self._resets_before:  # never a stale state
            done = self.state.step >= self.params["max_steps"]
            idle = time.monotonic() - self.last_state_time > self.params["idle_timeout_s"]
            if done or idle:
                self._score(idle and not done)

    def _next_goal(self) -> None:
        self.index += 1
        if self.index >= len(self.plan):
            self._finish()
            return
        task, seed = self.plan[self.index]
        try:
            self.goal = generate_goal(self.cell, task, seed, self.params["layout"])
        except GoalGenerationError as exc:
            self.get_logger().warning(f"skipped: {exc}")
            self.results.append({"task": task, "seed": seed, "success": None, "skipped": str(exc)})
            self._next_goal()
            return
        message = Image(**rgb_to_image_fields(self.goal.image))
        message.header.stamp, message.header.frame_id = self.get_clock().now().to_msg(), "goal"
        self.goal_pub.publish(message)  # before the reset: the policy has it when the first frame arrives
        self.stage = "setting_seed"
        future = self.param_client.set_parameters([Parameter("seed", value=seed),
                                                   Parameter("layout", value=self.params["layout"])])
        future.add_done_callback(self._on_seed_set)

    def _on_seed_set(self, future: Future) -> None:
        self._resets_before = self.state.resets
        self.stage = "awaiting_reset"
        self.reset_client.call_async(Trigger.Request())

    def _score(self, stopped_early: bool) -> None:
        spec = self.goal.spec
        # the evaluator's own cell is back at the start scene: its state is the rollout's start
        final = self.scored_state if self.scored_state is not None else self.state
        self.scored_state = None
        # A rollout that reached the horizon ran max_steps steps, even when the latched state of the last
        # step was replaced by a later one before we saw it (then the state scored is one step earlier).
        steps = final.step if stopped_early else self.params["max_steps"]
        result = result_row(self.goal, self.cell.scene_state(), final, steps, stopped_early)
        success = result["success"]
        self.results.append(result)
        if self.frames:
            goal_image = self.goal.image
            what = f"{spec.task}" + (f" of {spec.object}" if spec.object else "") + f", seed {spec.seed}"
            outcome = (f"{'success' if success else 'failure'} after {steps} steps"
                       + (" (policy stopped)" if stopped_early else ""))
            self.gif_frames.setdefault(spec.task, []).extend(
                labelled_frame(frame, goal_image, f"{what}: step {i}/{self.params['max_steps']}", outcome)
                for i, frame in enumerate(self.frames))
        what = spec.object or "gripper"
        print(f"[eval] {len(self.results)}/{len(self.plan)} {spec.task} seed {spec.seed} ({what}): "
              f"{'success' if success else 'failure'} after {steps} steps", flush=True)
        self._next_goal()

    def _results_header(self) -> str:
        p, rate = self.params, self.cell.config.control_rate_hz
        policy = self.policy_info or {}
        checkpoint = (f"`{policy['checkpoint']}` (step {policy.get('step')})" if policy.get("checkpoint")
                      else "unknown (no /am/policy_status seen)")
        seeds = f"{p['base_seed']}..{p['base_seed'] + p['goals_per_task'] - 1}"
        return (f"# Goal reaching in the sim cell\n\n- checkpoint: {checkpoint}\n"
                f"- horizon: {p['max_steps']} control steps ({p['max_steps'] / rate:.1f} s at {rate:g} Hz)\n"
                f"- goals: {p['goals_per_task']} per task, seeds {seeds}, layout {p['layout']}\n"
                "- distances are medians over the task's goals, from where the goal state has the gripper "
                "(and the task's object)\n")

    def _finish(self) -> None:
        out = Path(self.params["output_dir"])
        out.mkdir(parents=True, exist_ok=True)
        table = summarize(self.results)
        (out / "results.json").write_text(json.dumps({"results": self.results, "summary": table}, indent=2))
        (out / "results.md").write_text(self._results_header() + "\n" + format_table(table, self.results))
        gifs = []
        for task, frames in self.gif_frames.items():
            path = out / f"rollout_{task}.gif"
            write_gif(path, frames, self.cell.config.control_rate_hz)  # plays at the control rate
            gifs.append(str(path))
        self.cell.close()
        self.finished.set_result({"summary": table, "results_md": str(out / "results.md"), "gifs": gifs,
                                  "seconds": round(time.monotonic() - self._started, 1)})


def _spin_until_finished(node: GoalEvaluatorNode) -> None:
    rclpy.spin_until_future_complete(node, node.finished)
    print(format_table(node.finished.result()["summary"]))


def main(args: list[str] | None = None) -> int:
    """Entry point of ``ros2 run am_sim goal_evaluator``."""
    return run_node("goal_evaluator", GoalEvaluatorNode, args, _spin_until_finished)

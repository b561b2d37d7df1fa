"""The scripted play collector: N noisy, unlabeled episodes of robot experience through real topics.

For each episode (seed = base_seed + i) it announces the start on /am/episode, waits until the
recorder has opened the bag, resets the sim cell to the seed, then answers every new privileged state
with the core's noisy PlayScript (grasps, lifts, placements, drops into the container, pushes, random
motion, deliberate failures), publishing /arm/gripper_cmd and then /arm/cartesian_cmd stamped with the
observation it answers. At the end of the episode it announces the stop with the primitives' log and
waits for the recorder to close the bag. Never blocks inside a callback: futures and a tick timer move
it from one stage to the next. Completes ``finished`` with a summary.
"""

from __future__ import annotations

import json
import sys
import time
from collections import Counter

import numpy as np
import rclpy
from geometry_msgs.msg import PoseStamped
from rclpy.clock import Clock, ClockType
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.parameter_client import AsyncParameterClient
from rclpy.task import Future
from rclpy.time import Time
from std_msgs.msg import Float64, String
from std_srvs.srv import Trigger

from actionable_models.data import keys
from actionable_models.sim.layouts import get_layout
from actionable_models.sim.play import PRIMITIVES, PlayConfig, PlayScript, parse_object_weights, weights_of
from actionable_models.sim.state import SceneState
from am_common.messages import LATCHED, pose_command
from am_common.params import ParameterError, declare_parameters, refuse_unknown_parameters, run_node

STAGE_TIMEOUT_S = 30.0


class PlayCollectorNode(Node):
    """Drives the sim cell with noisy scripted play and brackets each episode for the recorder."""

    def __init__(self, node_name: str = "play_collector", **kwargs) -> None:
        super().__init__(node_name, **kwargs)
        p = declare_parameters(self, {
            "episodes": 10, "base_seed": 1000, "layout": "default", "episode_steps": 60, "position_noise_m": 0.01,
            "yaw_noise_rad": 0.1, "failure_prob": 0.2, "miss_approach_prob": 0.0, "primitives": list(PRIMITIVES),
            "object_weights": "",  # e.g. "red_cube=4": grasps and pushes pick it 4x as often
            "task": "play", "sim_node": "sim_cell", "frame_id": "base_link", "wait_for_recorder": True,
            "progress": True})
        refuse_unknown_parameters(self)
        if p["episodes"] < 1:
            raise ParameterError(f"parameter episodes must be at least 1, got {p['episodes']}")
        get_layout(p["layout"])  # an unknown layout fails here, before any episode is opened
        self.params = p
        self.play_config = PlayConfig(episode_steps=p["episode_steps"], position_noise_m=p["position_noise_m"],
                                      yaw_noise_rad=p["yaw_noise_rad"], failure_prob=p["failure_prob"],
                                      miss_approach_prob=p["miss_approach_prob"],
                                      primitive_weights=weights_of(p["primitives"]),
                                      object_weights=parse_object_weights(p["object_weights"]))
        self.finished = Future()
        self.summary: dict = {"episodes": [], "primitives": Counter(), "successes": Counter(), "judged": Counter()}

        self.pose_pub = self.create_publisher(PoseStamped, keys.POSE_CMD, 10)
        self.gripper_pub = self.create_publisher(Float64, keys.GRIPPER_CMD, 10)
        self.event_pub = self.create_publisher(String, keys.EPISODE_EVENTS, 10)
        self.create_subscription(String, "/sim/privileged_state", self._on_state, LATCHED)
        self.create_subscription(String, "/am/recorder/status", self._on_recorder_status, LATCHED)
        self.reset_client = self.create_client(Trigger, "/sim/reset")
        self.param_client = AsyncParameterClient(self, p["sim_node"])
        # Wall-clock timer: under use_sim_time a lock-step /clock only moves when we command.
        self.create_timer(0.05, self._tick, clock=Clock(clock_type=ClockType.STEADY_TIME))

        self.episode = -1
        self.stage = "connecting"
        self.stage_since = time.monotonic()
        self.script: PlayScript | None = None
        self.state: SceneState | None = None
        self.state_count = 0
        self._states_at_reset = 0
        self._answered_step = -1
        self.recorder: dict = {}
        self._recorder_closed_before = 0
        self._steps = 0
        self._t0 = time.monotonic()

    # --------------------------------------------------------------------------------------- inputs
    def _on_state(self, msg: String) -> None:
        self.state = SceneState.from_json(msg.data)
        self.state_count += 1
        if self.stage == "running":
            self._act()

    def _on_recorder_status(self, msg: String) -> None:
        self.recorder = json.loads(msg.data)

    # ---------------------------------------------------------------------------------------- stages
    def _enter(self, stage: str) -> None:
        self.stage, self.stage_since = stage, time.monotonic()

    def _tick(self) -> None:
        if self.finished.done():
            return
        if time.monotonic() - self.stage_since > STAGE_TIMEOUT_S and self.stage != "running":
            self._abort(f"stuck in stage {self.stage!r} for {STAGE_TIMEOUT_S:.0f} s "
                        f"(is the sim node {self.params['sim_node']!r} running in lock-step, and the recorder?)")
            return
        if self.stage == "connecting":
            sim_ready = (self.pose_pub.get_subscription_count() > 0 and self.gripper_pub.get_subscription_count() > 0
                         and self.reset_client.service_is_ready() and self.param_client.services_are_ready())
            recorder_ready = not self.params["wait_for_recorder"] or (
                bool(self.recorder) and self.event_pub.get_subscription_count() > 0)
            if sim_ready and recorder_ready:
                self._next_episode()
        elif self.stage == "awaiting_recorder" and self.recorder.get("recording"):
            self._reset_sim()
        elif self.stage == "awaiting_reset_state" and self.state_count > self._states_at_reset \
                and self.state is not None and self.state.step == 0:
            self._enter("running")
            self._act()
        elif self.stage == "awaiting_close" and (
                not self.params["wait_for_recorder"]
                or (not self.recorder.get("recording")
                    and self.recorder.get("closed_count", 0) > self._recorder_closed_before)):
            self._next_episode()

    def _next_episode(self) -> None:
        if self.episode < 0:
            self._t0 = time.monotonic()  # rates count from the first episode, not from start-up
        self.episode += 1
        if self.episode >= self.params["episodes"]:
            self._finish()
            return
        seed = int(self.params["base_seed"]) + self.episode
        self.script = PlayScript(np.random.default_rng(seed), self.play_config)
        self._answered_step = -1
        self._enter("setting_seed")
        future = self.param_client.set_parameters([Parameter("seed", value=seed),
                                                   Parameter("layout", value=self.params["layout"])])
        future.add_done_callback(lambda f, seed=seed: self._on_seed_set(f, seed))

    def _on_seed_set(self, future: Future, seed: int) -> None:
        results = future.result().results if future.result() else []
        if not results or not all(r.successful for r in results):
            self._abort(f"could not set seed/layout on {self.params['sim_node']}: {[r.reason for r in results]}")
            return
        self._recorder_closed_before = self.recorder.get("closed_count", 0)
        self.event_pub.publish(String(data=json.dumps({
            "event": "start", "task": self.params["task"], "seed": seed, "collector": self.get_name(),
            "layout": self.params["layout"]})))
        if self.params["wait_for_recorder"]:
            self._enter("awaiting_recorder")
        else:
            self._reset_sim()

    def _reset_sim(self) -> None:
        self._enter("awaiting_reset_response")
        self._states_at_reset = self.state_count
        self.reset_client.call_async(Trigger.Request()).add_done_callback(self._on_reset)

    def _on_reset(self, future: Future) -> None:
        response = future.result()
        if response is None or not response.success:
            self._abort(f"sim reset failed: {response.message if response else 'no response'}")
            return
        self._enter("awaiting_reset_state")

    # ---------------------------------------------------------------------------------------- acting
    def _act(self) -> None:
        state = self.state
        if state is None or state.step == self._answered_step:
            return
        self._answered_step = state.step
        command = self.script.act(state)
        if command is None:
            self._end_episode(state)
            return
        stamp = Time(nanoseconds=state.stamp_ns).to_msg()  # the observation this command answers
        self.gripper_pub.publish(Float64(data=float(command.gripper)))
        self.pose_pub.publish(pose_command(command.pos, command.yaw, self.params["frame_id"], stamp))
        self._steps += 1

    def _end_episode(self, state: SceneState) -> None:
        log = self.script.log
        for entry in log:
            if entry.get("interrupted"):
                continue  # cut short by the end of the episode: neither an attempt nor a failure
            self.summary["primitives"][entry["primitive"]] += 1
            self.summary["successes"][entry["primitive"]] += entry.get("outcome") == "success"
            self.summary["judged"][entry["primitive"]] += entry.get("outcome") in ("success", "failed")
        self.summary["episodes"].append({"seed": state.seed, "steps": state.step, "primitives": len(log)})
        extra = {keys.META_PRIMITIVES[len(keys.META_PREFIX):]: log}  # the recorder prefixes extra keys
        self.event_pub.publish(String(data=json.dumps({"event": "stop", "outcome": "play", "extra": extra})))
        self._progress()
        self._enter("awaiting_close")

    def _progress(self) -> None:
        if not self.params["progress"]:
            return
        done, total = self.episode + 1, self.params["episodes"]
        width = 30
        bar = "#" * (width * done // total) + "-" * (width - width * done // total)
        rate = self._steps / max(time.monotonic() - self._t0, 1e-9)
        print(f"\r[collect] [{bar}] {done}/{total} episodes, {self._steps} steps, {rate:.0f} steps/s",
              end="\n" if done == total else "", file=sys.stderr, flush=True)

    def _finish(self) -> None:
        elapsed = time.monotonic() - self._t0
        summary = {"episodes": len(self.summary["episodes"]), "steps": self._steps, "seconds": round(elapsed, 1),
                   "primitives": dict(self.summary["primitives"]), "successes": dict(self.summary["successes"]),
                   "judged": dict(self.summary["judged"]),
                   "recorded": self.recorder.get("closed_count")}
        self.stage = "done"
        self.finished.set_result(summary)

    def _abort(self, reason: str) -> None:
        self.get_logger().error(f"collection stopped: {reason}")
        self.stage = "failed"
        if self.recorder.get("recording"):
            self.event_pub.publish(String(data=json.dumps({"event": "stop", "outcome": "aborted"})))
        self.finished.set_exception(RuntimeError(reason))


def _spin_until_finished(node: PlayCollectorNode) -> None:
    rclpy.spin_until_future_complete(node, node.finished)
    print(json.dumps(node.finished.result(), indent=2))


def main(args: list[str] | None = None) -> int:
    """Entry point of ``ros2 run am_sim play_collector``."""
    return run_node("play_collector", PlayCollectorNode, args, _spin_until_finished)

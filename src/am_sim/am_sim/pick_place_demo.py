"""A scripted pick-and-place demo over ROS topics: the cell's first main job.

Reads the privileged state from the sim node, runs the core's scripted controller for each object in
turn (pick it, drop it into the container), publishes real commands on /arm/gripper_cmd and
/arm/cartesian_cmd, prints what happened and saves the camera view before and after as PNG files.
Completes ``finished`` (a Future) with a summary dict when done, so a runner can stop.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import rclpy
from geometry_msgs.msg import PoseStamped
from rclpy.clock import Clock, ClockType
from rclpy.node import Node
from rclpy.qos import qos_profile_sensor_data
from rclpy.task import Future
from sensor_msgs.msg import Image
from std_msgs.msg import Float64, String

from actionable_models.imaging import image_to_rgb
from actionable_models.sim.scripted import PickPlaceScript
from actionable_models.sim.state import SceneState
from actionable_models.sim.tasks import is_grasped_and_lifted, is_in_container
from am_common.messages import LATCHED, pose_command
from am_common.params import check_choice, declare_parameters, refuse_unknown_parameters, run_node



class PickPlaceDemoNode(Node):
    """Drives the cell with the scripted controller: each listed object into the container, or lifted."""

    def __init__(self, node_name: str = "pick_place_demo", **kwargs) -> None:
        super().__init__(node_name, **kwargs)
        p = declare_parameters(self, {"objects": ["red_cube", "blue_bar", "yellow_egg"], "finish": "container",
                                      "frame_id": "base_link", "output_dir": "out/demo", "max_steps_per_object": 250})
        refuse_unknown_parameters(self)
        self.objects = p["objects"]
        self.finish = check_choice("finish", p["finish"], ("container", "lift"))
        self.frame_id = p["frame_id"]
        self.output_dir = Path(p["output_dir"])
        self.max_steps = p["max_steps_per_object"]
        self.finished = Future()
        self.results: list[dict] = []
        self._index = 0
        self._script: PickPlaceScript | None = None
        self._steps = 0
        self._last_step = -1
        self._latest_rgb: np.ndarray | None = None
        self._start_saved = False

        self.pose_pub = self.create_publisher(PoseStamped, "/arm/cartesian_cmd", 10)
        self.gripper_pub = self.create_publisher(Float64, "/arm/gripper_cmd", 10)
        self.create_subscription(Image, "/camera/image_raw", self._on_image, qos_profile_sensor_data)
        self.create_subscription(String, "/sim/privileged_state", self._on_state, LATCHED)
        self._waiting_state: SceneState | None = None
        # Wall-clock timer: under use_sim_time a lock-step /clock only moves when we command.
        self.create_timer(0.1, self._act_when_connected, clock=Clock(clock_type=ClockType.STEADY_TIME))

    @property
    def _goal_text(self) -> str:
        return "into the container" if self.finish == "container" else "grasped and lifted"

    def _on_image(self, msg: Image) -> None:
        self._latest_rgb = image_to_rgb(msg.encoding, msg.height, msg.width, msg.step, msg.data)

    def _save(self, name: str) -> Path | None:
        if self._latest_rgb is None:
            return None
        self.output_dir.mkdir(parents=True, exist_ok=True)
        path = self.output_dir / name
        cv2.imwrite(str(path), cv2.cvtColor(self._latest_rgb, cv2.COLOR_RGB2BGR))
        return path

    def _on_state(self, msg: String) -> None:
        if self.finished.done():
            return
        state = SceneState.from_json(msg.data)
        if state.step == self._last_step:
            return  # a repeat of the state we already answered
        self._last_step = state.step
        if not self._start_saved and self._latest_rgb is not None:
            # In lock-step the frame published before we subscribed is gone, so the first saved view
            # may be one step in; control never waits for frames, which keeps runs deterministic.
            self._start_saved = True
            path = self._save("start.png")
            objects = ", ".join(state.objects)
            print(f"[demo] scene seed={state.seed} layout={state.layout}: {objects}; container at "
                  f"({state.container[0]:.2f}, {state.container[1]:.2f}); camera view saved to {path}", flush=True)
        self._waiting_state = state
        self._act_when_connected()

    def _act_when_connected(self) -> None:
        # A command published before the sim has matched our publishers is lost, and in lock-step the
        # cell would then wait forever: act only once both command topics are connected.
        if self._waiting_state is None or self.finished.done():
            return
        if self.pose_pub.get_subscription_count() == 0 or self.gripper_pub.get_subscription_count() == 0:
            return  # the retry timer calls again
        state, self._waiting_state = self._waiting_state, None
        self._act(state)

    def _act(self, state: SceneState) -> None:
        while True:
            if self._index >= len(self.objects):
                self._finish(state)
                return
            obj = self.objects[self._index]
            if obj not in state.objects:
                self._record(obj, False, 0, f"not in layout {state.layout!r}")
                continue
            if self._script is None:
                self._script = PickPlaceScript(obj, self.finish)
                self._steps = 0
            command = self._script.act(state) if self._steps < self.max_steps else None
            if command is not None:
                self._steps += 1
                self._publish(command.pos, command.yaw, command.gripper)
                return
            ok = is_in_container(state, obj) if self.finish == "container" else is_grasped_and_lifted(state, obj)
            phases = " > ".join(f"{name}:{n}" for name, n in self._script.phase_log)
            self._record(obj, ok, self._steps, phases)

    def _record(self, obj: str, ok: bool, steps: int, detail: str) -> None:
        outcome = "success" if ok else "FAILED"
        print(f"[demo] {obj}: {self._goal_text}: {outcome} after {steps} control steps ({detail})", flush=True)
        self.results.append({"object": obj, "success": bool(ok), "steps": steps})
        self._index += 1
        self._script = None

    def _publish(self, pos: np.ndarray, yaw: float, gripper: float) -> None:
        self.gripper_pub.publish(Float64(data=float(gripper)))
        self.pose_pub.publish(pose_command(pos, yaw, self.frame_id, self.get_clock().now().to_msg()))

    def _finish(self, state: SceneState) -> None:
        path = self._save("end.png")
        done = sum(r["success"] for r in self.results)
        summary = {"successes": done, "attempts": len(self.results), "results": self.results,
                   "end_image": str(path) if path else None}
        print(f"[demo] {done}/{len(self.results)} objects {self._goal_text}; final camera view saved to {path}",
              flush=True)
        if path is not None:
            (self.output_dir / "summary.json").write_text(json.dumps(summary, indent=2))
        self.finished.set_result(summary)


def main(args: list[str] | None = None) -> int:
    """Entry point of ``ros2 run am_sim pick_place_demo``."""
    return run_node("pick_place_demo", PickPlaceDemoNode, args,
                    lambda node: rclpy.spin_until_future_complete(node, node.finished))

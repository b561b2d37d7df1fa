"""The policy node: reach the goal image with argmax_a Q(s, a, g), as Cartesian commands.

Subscribes /camera/image_raw (sensor-data QoS), /am/goal_image (reliable, transient local: a goal
published before the node starts still counts), /arm/ee_pose, /joint_states (the measured gripper closure,
``gripper_finger_joint``, which a checkpoint trained with use_proprio reads beside the image) and
/am/checkpoint (reloads the network when a trainer announces a new checkpoint). Decides at
``control_rate_hz`` (``trigger: timer``) or on every new camera frame (``trigger: observation``, for a
lock-step sim), publishing /arm/gripper_cmd then /arm/cartesian_cmd stamped with the camera frame it
answers, and its state on /am/policy_status (JSON: state acting | holding | reached, q, reason). Safety:
holds (commands nothing) while the camera or pose (or, for a use_proprio checkpoint, the gripper joint
state) is stale or missing or no goal is set; every target is step-limited and clamped to the workspace;
non-finite inputs are rejected with a logged error. Stops commanding when the goal is judged reached
(Q >= reached_q or terminate) until a new goal arrives.
"""

from __future__ import annotations

import json
import time

import numpy as np
from geometry_msgs.msg import PoseStamped
from rclpy.clock import Clock, ClockType
from rclpy.node import Node
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import CompressedImage, Image, JointState
from std_msgs.msg import Float64, String

from actionable_models.data import keys
from actionable_models.errors import ActionableModelsError
from actionable_models.geometry import yaw_from_quat
from actionable_models.imaging import message_to_rgb, rgb_to_image_fields
from actionable_models.policy import GoalReachingPolicy, PolicyConfig, SafetyMonitor
from am_common.messages import LATCHED, pose_command
from am_common.params import (ParameterError, check_choice, declare_config, declare_parameters, read_config,
                              refuse_unknown_parameters, run_node)

TRIGGERS = ("timer", "observation")


class PolicyNode(Node):
    """Camera + goal image in, Cartesian commands out."""

    def __init__(self, node_name: str = "policy", **kwargs) -> None:
        super().__init__(node_name, **kwargs)
        p = declare_parameters(self, {"checkpoint": "", "control_rate_hz": 5.0, "trigger": "timer",
                                      "frame_id": "base_link", "goal_image_file": "", "camera_transport": "raw"})
        declare_config(self, PolicyConfig)
        refuse_unknown_parameters(self)
        self.config = read_config(self, PolicyConfig)
        checkpoint = p["checkpoint"]
        self.trigger = check_choice("trigger", p["trigger"], TRIGGERS)
        if not p["control_rate_hz"] > 0:
            raise ParameterError(f"parameter control_rate_hz must be positive, got {p['control_rate_hz']!r}")
        if not checkpoint:
            raise ParameterError("parameter checkpoint is empty: give a checkpoint file or a run directory "
                                 "(am train --out DIR)")
        self.policy = GoalReachingPolicy(checkpoint, self.config)  # CheckpointError names a bad file
        self.frame_id = p["frame_id"]
        self.safety = SafetyMonitor(self.config.stale_after_s)
        self.camera: tuple[np.ndarray, object, float] | None = None  # rgb, header stamp, receive time
        self.pose: tuple[np.ndarray, float, float] | None = None  # position, yaw, receive time
        self.pose_stamp = None
        self.gripper: tuple[float, float] | None = None  # measured closure 0..1, receive time
        self.gripper_stamp = None
        self.goal_time: float | None = None
        self.reached = False
        self.decisions = 0
        self._last_answered = None
        self._last_reason = None

        self.pose_pub = self.create_publisher(PoseStamped, keys.POSE_CMD, 10)
        self.gripper_pub = self.create_publisher(Float64, keys.GRIPPER_CMD, 10)
        self.status_pub = self.create_publisher(String, "/am/policy_status", 10)
        # raw: sensor_msgs/Image on /camera/image_raw; compressed: CompressedImage on /camera/image_raw/compressed
        if check_choice("camera_transport", p["camera_transport"], ("raw", "compressed")) == "raw":
            self.create_subscription(Image, keys.IMAGE, self._on_camera, qos_profile_sensor_data)
        else:
            self.create_subscription(CompressedImage, keys.IMAGE_COMPRESSED, self._on_camera, qos_profile_sensor_data)
        self.create_subscription(PoseStamped, keys.EE_POSE, self._on_pose, 10)
        self.create_subscription(JointState, keys.JOINT_STATES, self._on_joint_state, 10)
        self.create_subscription(Image, "/am/goal_image", self._on_goal, LATCHED)
        self.create_subscription(String, "/am/checkpoint", self._on_checkpoint, LATCHED)
        goal_file = p["goal_image_file"]
        if goal_file:
            self._use_goal_file(goal_file)
        if self.trigger == "timer":
            period = 1.0 / p["control_rate_hz"]
            self.create_timer(period, self._step, clock=Clock(clock_type=ClockType.STEADY_TIME))
        reads = ", reads the gripper closure" if self.policy.needs_gripper_closure else ""
        self.get_logger().info(f"policy ready: {self.policy.info.path} (step {self.policy.info.step}, "
                               f"{self.policy.image_size} px{reads}), trigger {self.trigger}")

    # ----------------------------------------------------------------------------------------- inputs
    def _rgb(self, msg, what: str) -> np.ndarray | None:
        try:
            return message_to_rgb(msg)
        except ActionableModelsError as exc:
            self.get_logger().error(f"ignored {what}: {exc}")
            return None

    def _on_camera(self, msg) -> None:
        rgb = self._rgb(msg, "camera image")
        if rgb is not None:
            self.camera = (rgb, msg.header.stamp, time.monotonic())
            self._step_on_observation()

    def _on_pose(self, msg: PoseStamped) -> None:
        p, q = msg.pose.position, msg.pose.orientation
        pos = np.array([p.x, p.y, p.z])
        quat = np.array([q.w, q.x, q.y, q.z])
        if not (np.all(np.isfinite(pos)) and np.all(np.isfinite(quat))):
            self.get_logger().error(f"ignored end-effector pose with non-finite values {pos.tolist()}")
            return
        self.pose = (pos, yaw_from_quat(quat), time.monotonic())
        self.pose_stamp = msg.header.stamp
        self._step_on_observation()

    def _on_joint_state(self, msg: JointState) -> None:
        closure = keys.gripper_closure(msg.name, msg.position)
        if closure is None:
            return  # a joint state without the gripper joint (an arm driver publishing its joints alone)
        if not np.isfinite(closure):
            self.get_logger().error(f"ignored joint state with a non-finite {keys.GRIPPER_JOINT} position")
            return
        self.gripper = (closure, time.monotonic())
        self.gripper_stamp = msg.header.stamp
        self._step_on_observation()

    def _step_on_observation(self) -> None:
        # An observation is a camera frame and the pose measured with it (same stamp, as the sim cell sends
        # them), or failing that the first pose received after the frame; they may arrive in either order.
        # A checkpoint that reads the gripper closure waits for the joint state of the frame the same way.
        if self.trigger != "observation" or self.camera is None or self.pose is None:
            return
        if not (self.pose_stamp == self.camera[1] or self.pose[2] >= self.camera[2]):
            return
        # (With none at all, step anyway: the hold rule then reports what is missing.)
        if self.policy.needs_gripper_closure and self.gripper is not None and not (
                self.gripper_stamp == self.camera[1] or self.gripper[1] >= self.camera[2]):  # an older one: wait
            return
        self._step()

    def _on_goal(self, msg: Image) -> None:
        rgb = self._rgb(msg, "goal image")
        if rgb is not None:
            self.policy.set_goal(rgb)
            self.goal_time = time.monotonic()
            self.reached = False
            self._last_answered = None  # the current frame may be answered again, toward the new goal
            self.get_logger().info(f"new goal image {msg.width}x{msg.height}")
            self._step_on_observation()

    def _use_goal_file(self, path: str) -> None:
        import cv2

        bgr = cv2.imread(path, cv2.IMREAD_COLOR)
        if bgr is None:
            raise ValueError(f"parameter goal_image_file: {path} is not a readable image file")
        rgb = np.ascontiguousarray(bgr[:, :, ::-1])
        goal_pub = self.create_publisher(Image, "/am/goal_image", LATCHED)
        message = Image(**rgb_to_image_fields(rgb))
        message.header.stamp, message.header.frame_id = self.get_clock().now().to_msg(), "goal"
        goal_pub.publish(message)  # latched: our own subscription and everyone else get it

    def _on_checkpoint(self, msg: String) -> None:
        if str(self.policy.info.path) == msg.data:
            return
        try:
            self.policy.load(msg.data)
        except ActionableModelsError as exc:
            self.get_logger().error(f"kept the current network: {exc}")
            return
        self.get_logger().info(f"reloaded {msg.data} (step {self.policy.info.step})")

    # --------------------------------------------------------------------------------------- deciding
    def _status(self, state: str, **fields) -> None:
        self.status_pub.publish(String(data=json.dumps({"state": state, "decisions": self.decisions,
                                                        "checkpoint": str(self.policy.info.path),
                                                        "step": self.policy.info.step, **fields})))

    def _step(self) -> None:
        now = time.monotonic()
        reason = self.safety.hold_reason(now, self.camera[2] if self.camera else None, self.goal_time,
                                         self.pose[2] if self.pose else None,
                                         self.gripper[1] if self.gripper else None,
                                         needs_gripper=self.policy.needs_gripper_closure)
        if reason is not None:
            if reason != self._last_reason:
                self.get_logger().warning(f"holding: {reason}")
            self._last_reason = reason
            self._status("holding", reason=reason)
            return
        self._last_reason = None
        if self.reached:
            self._status("reached")
            return
        rgb, stamp, _ = self.camera
        if self.trigger == "observation" and stamp == self._last_answered:
            return
        pos, yaw, _ = self.pose
        closure = self.gripper[0] if self.gripper else None
        decision = self.policy.decide(rgb, pos, yaw, closure)
        self.decisions += 1
        self._last_answered = stamp
        if decision.reached:
            self.reached = True
            self._status("reached", q=decision.q, terminate=decision.terminate)
            self.get_logger().info(f"goal judged reached (q {decision.q:.3f}); holding until a new goal")
            return
        self.gripper_pub.publish(Float64(data=decision.gripper))
        self.pose_pub.publish(pose_command(decision.target_pos, decision.target_yaw, self.frame_id, stamp))
        self._status("acting", q=decision.q, target=[round(float(v), 4) for v in decision.target_pos],
                     gripper=round(decision.gripper, 3))


def main(args: list[str] | None = None) -> int:
    """Entry point of ``ros2 run am_policy_node policy_node``."""
    return run_node("policy", PolicyNode, args)

"""The real-arm adapter node: the sim cell's arm topics on a real (or Gazebo) arm through MoveIt Servo.

Subscribes /arm/cartesian_cmd (PoseStamped of the pinch point, base frame) and /arm/gripper_cmd (Float64
closure 0 open .. 1 closed), the same topics the policy and the collectors send to the sim cell. Each tick
(``rate_hz``) it sends a rate-limited, workspace-clamped target to MoveIt Servo's pose input
(``servo_pose_topic``, PoseStamped of Servo's ee_frame); gripper closures go to a
``control_msgs/action/GripperCommand`` server (``gripper_interface: action``) or as a Float64 position to a
topic (``gripper_interface: topic``). It publishes /arm/ee_pose (the measured pinch-point pose, from TF or
from the robot's own pose topic) and its state on ``status_topic`` (JSON, latched).

Emergency stop: a True on ``estop_topic`` (std_msgs/Bool) latches a stop: commands are dropped, one hold
target (the measured pose) goes to Servo and Servo is paused (``servo_pause_service``). A False does not
release it: call ``~/reset_estop`` (std_srvs/Trigger) once the stop topic reads False. This is a software
stop for the learning stack, not a safety function: keep the robot's own emergency stop within reach.

The mapping itself (limits, staleness, the latch, the gripper scale) is :mod:`am_real_arm.mapping`.
/arm/* names are the cell's (remap them like any node's); the robot-side names are parameters.
"""

from __future__ import annotations

import json
import time

import numpy as np
from geometry_msgs.msg import PoseStamped
from rclpy.clock import Clock, ClockType
from rclpy.node import Node
from rclpy.time import Time
from std_msgs.msg import Bool, Float64, String
from std_srvs.srv import SetBool, Trigger

from actionable_models.data import keys
from am_common.messages import LATCHED, pose_stamped
from am_common.params import (ParameterError, check_choice, declare_config, declare_parameters, read_config,
                              refuse_unknown_parameters, run_node)
from am_real_arm.mapping import AdapterConfig, AdapterError, CommandMapper, GripperGoal, ee_from_pinch

EE_POSE_SOURCES = ("tf", "topic")
GRIPPER_INTERFACES = ("action", "topic", "none")
SERVO_POSE_COMMAND = 2  # moveit_msgs/srv/ServoCommandType POSE (0 joint jog, 1 twist)
STATUS_PERIOD_S = 0.5

# Robot-side names: they differ from robot to robot, so they are parameters (defaults: MoveIt Servo's
# servo_node in Jazzy and a ros2_control GripperActionController called gripper_controller).
NODE_PARAMETERS: dict[str, str] = {
    "servo_pose_topic": "/servo_node/pose_target_cmds",
    "servo_command_type_service": "/servo_node/switch_command_type",  # '' skips switching Servo to pose input
    "servo_pause_service": "/servo_node/pause_servo",  # '' never pauses Servo on an emergency stop
    "ee_pose_source": "tf",  # tf: look up frame_id -> ee_frame; topic: read measured_pose_topic
    "ee_frame": "tool0",  # the frame MoveIt Servo moves (its ee_frame)
    "measured_pose_topic": "",  # PoseStamped of ee_frame in frame_id, with ee_pose_source: topic
    "gripper_interface": "action",  # action | topic | none
    "gripper_action": "/gripper_controller/gripper_cmd",  # control_msgs/action/GripperCommand
    "gripper_topic": "/gripper/position_cmd",  # std_msgs/Float64 position, with gripper_interface: topic
    "estop_topic": "/arm/estop",  # std_msgs/Bool: True latches the stop
    "status_topic": "/arm/adapter_status",  # std_msgs/String JSON, latched
}


def _missing(package: str, apt: str, why: str) -> AdapterError:
    return AdapterError(f"{why} needs the ROS 2 package {package}, which is not installed in this Python "
                        f"environment (apt install {apt}, then source /opt/ros/jazzy/setup.bash)")


class RealArmAdapterNode(Node):
    """Cartesian and gripper commands of the cell -> MoveIt Servo pose tracking and a gripper."""

    def __init__(self, node_name: str = "real_arm_adapter", **kwargs) -> None:
        super().__init__(node_name, **kwargs)
        declare_config(self, AdapterConfig)
        p = declare_parameters(self, NODE_PARAMETERS)
        refuse_unknown_parameters(self)
        self.config = read_config(self, AdapterConfig)
        check_choice("ee_pose_source", p["ee_pose_source"], EE_POSE_SOURCES)
        check_choice("gripper_interface", p["gripper_interface"], GRIPPER_INTERFACES)
        if p["ee_pose_source"] == "topic" and not p["measured_pose_topic"]:
            raise ParameterError("parameter measured_pose_topic is empty: with ee_pose_source: topic, name the robot's "
                             "PoseStamped topic of its end effector (or use ee_pose_source: tf)")
        self.params = p
        self.mapper = CommandMapper(self.config)
        self._last_status: tuple | None = None
        self._last_status_time = 0.0
        self._servo_switched = False

        self.servo_pub = self.create_publisher(PoseStamped, p["servo_pose_topic"], 10)
        self.ee_pose_pub = self.create_publisher(PoseStamped, keys.EE_POSE, 10)
        self.status_pub = self.create_publisher(String, p["status_topic"], LATCHED)
        self._gripper_pub = None
        self._gripper_client = None
        self._gripper_action_type = None
        if p["gripper_interface"] == "topic":
            self._gripper_pub = self.create_publisher(Float64, p["gripper_topic"], 10)
        elif p["gripper_interface"] == "action":
            try:
                from control_msgs.action import GripperCommand
            except ImportError:
                raise _missing("control_msgs", "ros-jazzy-control-msgs", "gripper_interface: action") from None
            from rclpy.action import ActionClient

            self._gripper_action_type = GripperCommand
            self._gripper_client = ActionClient(self, GripperCommand, p["gripper_action"])
        self._tf_buffer = None
        if p["ee_pose_source"] == "tf":
            try:
                from tf2_ros import Buffer, TransformListener
            except ImportError:
                raise _missing("tf2_ros", "ros-jazzy-tf2-ros", "ee_pose_source: tf") from None
            self._tf_buffer = Buffer()
            self._tf_listener = TransformListener(self._tf_buffer, self)
        else:
            self.create_subscription(PoseStamped, p["measured_pose_topic"], self._on_measured_pose, 10)

        self._command_type_client = self._servo_command_type_client(p["servo_command_type_service"])
        self._pause_client = (self.create_client(SetBool, p["servo_pause_service"])
                              if p["servo_pause_service"] else None)

        self.create_subscription(PoseStamped, keys.POSE_CMD, self._on_pose_command, 10)
        self.create_subscription(Float64, keys.GRIPPER_CMD, self._on_gripper_command, 10)
        # Reliable and volatile, like `ros2 topic pub` and most e-stop relays (a latched subscription would not
        # match a volatile publisher).
        self.create_subscription(Bool, p["estop_topic"], self._on_estop, 10)
        self.create_service(Trigger, "~/reset_estop", self._on_reset)
        self.create_timer(1.0 / self.config.rate_hz, self._tick, clock=Clock(clock_type=ClockType.STEADY_TIME))
        self._status("idle", "no pose command yet")
        c = self.config
        self.get_logger().info(
            f"real-arm adapter ready: {keys.POSE_CMD} -> {p['servo_pose_topic']} at {c.rate_hz:g} Hz "
            f"(<= {c.max_linear_speed:g} m/s, {c.max_yaw_rate:g} rad/s, box {list(c.workspace_min)}.."
            f"{list(c.workspace_max)}), gripper via {p['gripper_interface']}, pose from {p['ee_pose_source']}, "
            f"emergency stop on {p['estop_topic']}")

    # ------------------------------------------------------------------------------------ MoveIt Servo
    def _servo_command_type_client(self, service: str):
        if not service:
            self.get_logger().info("servo_command_type_service is empty: not switching MoveIt Servo's input type "
                                   "(switch it to pose commands yourself)")
            return None
        try:
            from moveit_msgs.srv import ServoCommandType
        except ImportError:
            self.get_logger().warning(
                "moveit_msgs is not installed here, so MoveIt Servo is not switched to pose commands; install "
                "ros-jazzy-moveit-msgs, or call once: ros2 service call " f"{service} moveit_msgs/srv/ServoCommandType "
                "'{command_type: 2}' (set servo_command_type_service:='' to silence this)")
            return None
        return self.create_client(ServoCommandType, service)

    def _switch_servo_to_pose(self) -> None:
        client = self._command_type_client
        if client is None or self._servo_switched or not client.service_is_ready():
            return
        self._servo_switched = True
        request = client.srv_type.Request(command_type=SERVO_POSE_COMMAND)
        client.call_async(request).add_done_callback(self._on_switched)

    def _on_switched(self, future) -> None:
        response = future.result()
        if response is not None and response.success:
            self.get_logger().info("MoveIt Servo switched to pose commands")
        else:
            self.get_logger().error("MoveIt Servo refused to switch to pose commands; is it running with a "
                                    "pose_command_in_topic?")

    def _pause_servo(self, pause: bool) -> None:
        if self._pause_client is None:
            return
        if not self._pause_client.service_is_ready():
            self.get_logger().warning(f"{self.params['servo_pause_service']} is not available: Servo was not "
                                      f"{'paused' if pause else 'resumed'}")
            return
        self._pause_client.call_async(SetBool.Request(data=pause))

    def _send_to_servo(self, pos: np.ndarray, quat: np.ndarray) -> None:
        self.servo_pub.publish(pose_stamped(pos, quat, self.config.frame_id, self.get_clock().now().to_msg()))

    # ------------------------------------------------------------------------------------------ inputs
    def _on_pose_command(self, msg: PoseStamped) -> None:
        p, q = msg.pose.position, msg.pose.orientation
        result = self.mapper.on_pose_command(np.array([p.x, p.y, p.z]), np.array([q.w, q.x, q.y, q.z]),
                                             msg.header.frame_id, time.monotonic())
        for problem in result.problems:
            self.get_logger().warning(problem, throttle_duration_sec=1.0)

    def _on_gripper_command(self, msg: Float64) -> None:
        goal, problems = self.mapper.on_gripper_command(msg.data)
        for problem in problems:
            self.get_logger().warning(problem, throttle_duration_sec=1.0)
        if goal is not None and not self._send_gripper(goal):
            self.mapper.gripper_sent = None  # not delivered: the next command tries again

    def _send_gripper(self, goal: GripperGoal) -> bool:
        if self._gripper_pub is not None:
            self._gripper_pub.publish(Float64(data=float(goal.position)))
            return True
        if self._gripper_client is None:
            return True  # gripper_interface: none
        if not self._gripper_client.server_is_ready():
            self.get_logger().warning(f"gripper action {self.params['gripper_action']} is not available; "
                                      "gripper command dropped", throttle_duration_sec=2.0)
            return False
        action = self._gripper_action_type.Goal()
        action.command.position = float(goal.position)
        action.command.max_effort = float(goal.max_effort)
        self._gripper_client.send_goal_async(action)
        return True

    def _on_measured_pose(self, msg: PoseStamped) -> None:
        if msg.header.frame_id != self.config.frame_id:
            self.get_logger().warning(f"measured pose in frame {msg.header.frame_id!r}, expected "
                                      f"{self.config.frame_id!r}; ignored", throttle_duration_sec=2.0)
            return
        p, q = msg.pose.position, msg.pose.orientation
        self._measured(np.array([p.x, p.y, p.z]), np.array([q.w, q.x, q.y, q.z]), msg.header.stamp)

    def _measured(self, pos: np.ndarray, quat: np.ndarray, stamp) -> None:
        result = self.mapper.on_measured_pose(pos, quat, time.monotonic())
        for problem in result.problems:
            self.get_logger().warning(problem, throttle_duration_sec=2.0)
        if result.accepted:
            measured_quat = self.mapper.measured_ee[1]
            self.ee_pose_pub.publish(pose_stamped(self.mapper.measured.pos, measured_quat, self.config.frame_id,
                                                  stamp))

    def _lookup_tf(self) -> None:
        try:
            tf = self._tf_buffer.lookup_transform(self.config.frame_id, self.params["ee_frame"], Time())
        except Exception as exc:  # tf2 raises several lookup exception types; all mean "not yet"
            self.get_logger().warning(f"no transform {self.config.frame_id} -> {self.params['ee_frame']}: {exc}",
                                      throttle_duration_sec=5.0)
            return
        t, r = tf.transform.translation, tf.transform.rotation
        self._measured(np.array([t.x, t.y, t.z]), np.array([r.w, r.x, r.y, r.z]), tf.header.stamp)

    # ---------------------------------------------------------------------------------- emergency stop
    def _on_estop(self, msg: Bool) -> None:
        was_latched = self.mapper.estopped
        hold = self.mapper.on_estop_signal(msg.data)
        if self.mapper.estopped and not was_latched:
            if hold is not None:
                self._send_to_servo(*hold)
            self._pause_servo(True)
            self.get_logger().error("EMERGENCY STOP latched: commands are dropped until ~/reset_estop "
                                    f"({'holding the measured pose' if hold is not None else 'no pose measured'})")
            self._status("estopped", "emergency stop latched", force=True)

    def _on_reset(self, request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        was_latched = self.mapper.estopped
        response.success, response.message = self.mapper.reset()
        if was_latched and response.success:
            self._pause_servo(False)
            self._status("idle", response.message, force=True)
        self.get_logger().info(f"reset_estop: {response.message}")
        return response

    # ------------------------------------------------------------------------------------------- ticks
    def _status(self, state: str, reason: str, target: list[float] | None = None, force: bool = False) -> None:
        """Publish the state when it changes, and at most every STATUS_PERIOD_S while it stays (the target moves)."""
        key, now = (state, reason), time.monotonic()
        if key == self._last_status and not force and now - self._last_status_time < STATUS_PERIOD_S:
            return
        self._last_status, self._last_status_time = key, now
        self.status_pub.publish(String(data=json.dumps({
            "state": state, "reason": reason, "estopped": self.mapper.estopped, "target": target,
            "gripper": self.mapper.gripper_sent})))

    def _tick(self) -> None:
        self._switch_servo_to_pose()
        if self._tf_buffer is not None:
            self._lookup_tf()
        tick = self.mapper.tick(time.monotonic())
        if tick.target is None:
            self._status(tick.state, tick.reason)
            return
        pos, quat = ee_from_pinch(tick.target.pos, tick.target.yaw, self.config.tcp_offset_m)
        self._send_to_servo(pos, quat)
        target = [round(float(v), 4) for v in tick.target.pos] + [round(tick.target.yaw, 4)]
        self._status(tick.state, tick.reason, target)


def main(args: list[str] | None = None) -> int:
    """Entry point of ``ros2 run am_real_arm adapter_node``."""
    return run_node("real_arm_adapter", RealArmAdapterNode, args)

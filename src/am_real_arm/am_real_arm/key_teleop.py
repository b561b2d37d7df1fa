"""Keyboard teleoperation that publishes the cell's command topics: record play data on a real arm by hand.

    ros2 run am_real_arm key_teleop          # in a terminal; keys below, Ctrl-C or x quits

It starts from the measured /arm/ee_pose and sends /arm/gripper_cmd then /arm/cartesian_cmd at
``rate_hz`` (5 Hz, the policy's default rate), exactly what the policy would send, so the recorder stores the same
topics and the dataset reconstructs actions the same way. Space starts and stops recorder episodes through
its ``/recorder/start_episode`` and ``/recorder/stop_episode`` services (std_srvs/Trigger).

    w/s: +x/-x   a/d: +y/-y   r/f: up/down   q/e: yaw left/right   g: open/close   space: episode   x: quit
"""

from __future__ import annotations

import math
import select
import sys
from dataclasses import dataclass

import numpy as np
import rclpy
from geometry_msgs.msg import PoseStamped
from rclpy.node import Node
from std_msgs.msg import Float64
from std_srvs.srv import Trigger

from actionable_models.data import keys
from actionable_models.geometry import yaw_from_quat
from am_common.messages import pose_command
from am_common.params import ParameterError, declare_parameters, refuse_unknown_parameters, run_node

HELP = ("w/s: +x/-x  a/d: +y/-y  r/f: up/down  q/e: yaw left/right  g: open/close gripper  "
        "space: start/stop episode  x: quit")
MOVES = {"w": (0, 1.0), "s": (0, -1.0), "a": (1, 1.0), "d": (1, -1.0), "r": (2, 1.0), "f": (2, -1.0)}
TURNS = {"q": 1.0, "e": -1.0}


@dataclass
class TeleopState:
    """The target a teleoperator steers: pinch-point position, yaw and gripper closure, inside the limits."""

    workspace_min: tuple[float, float, float] = (0.25, -0.30, 0.005)
    workspace_max: tuple[float, float, float] = (0.65, 0.30, 0.35)
    yaw_limits: tuple[float, float] = (-math.pi / 2, math.pi / 2)
    step_m: float = 0.01
    yaw_step: float = 0.1
    pos: np.ndarray | None = None
    yaw: float = 0.0
    gripper: float = 0.0

    def start(self, pos: np.ndarray, yaw: float) -> None:
        """Start from the measured pose, clamped into the limits."""
        self.pos = np.clip(np.asarray(pos, dtype=float), self.workspace_min, self.workspace_max)
        self.yaw = min(max(float(yaw), self.yaw_limits[0]), self.yaw_limits[1])

    def press(self, key: str) -> str | None:
        """Apply one key to the target; returns what it did (None for keys that do not move the arm)."""
        if self.pos is None:
            return None
        if key in MOVES:
            axis, sign = MOVES[key]
            self.pos[axis] += sign * self.step_m
            self.pos = np.clip(self.pos, self.workspace_min, self.workspace_max)
            return f"target {np.round(self.pos, 3).tolist()}"
        if key in TURNS:
            self.yaw = min(max(self.yaw + TURNS[key] * self.yaw_step, self.yaw_limits[0]), self.yaw_limits[1])
            return f"yaw {self.yaw:.2f}"
        if key == "g":
            self.gripper = 0.0 if self.gripper > 0.5 else 1.0
            return "gripper closed" if self.gripper else "gripper open"
        return None


class KeyTeleopNode(Node):
    """Publishes the teleoperator's target on the cell's command topics; keys come from :meth:`press`."""

    def __init__(self, node_name: str = "key_teleop", **kwargs) -> None:
        super().__init__(node_name, **kwargs)
        p = declare_parameters(self, {"rate_hz": 5.0, "frame_id": "base_link", "step_m": 0.01, "yaw_step": 0.1})
        refuse_unknown_parameters(self)
        for name in ("rate_hz", "step_m", "yaw_step"):
            if not p[name] > 0:
                raise ParameterError(f"parameter {name} must be positive, got {p[name]!r}")
        self.frame_id = p["frame_id"]
        self.state = TeleopState(step_m=p["step_m"], yaw_step=p["yaw_step"])
        self.recording = False
        self.pose_pub = self.create_publisher(PoseStamped, keys.POSE_CMD, 10)
        self.gripper_pub = self.create_publisher(Float64, keys.GRIPPER_CMD, 10)
        self.create_subscription(PoseStamped, keys.EE_POSE, self._on_pose, 10)
        self.start_client = self.create_client(Trigger, "/recorder/start_episode")
        self.stop_client = self.create_client(Trigger, "/recorder/stop_episode")
        self.create_timer(1.0 / p["rate_hz"], self._publish)

    def _on_pose(self, msg: PoseStamped) -> None:
        if self.state.pos is None and msg.header.frame_id == self.frame_id:
            p, q = msg.pose.position, msg.pose.orientation
            self.state.start(np.array([p.x, p.y, p.z]), yaw_from_quat(np.array([q.w, q.x, q.y, q.z])))
            self.get_logger().info(f"teleop starts at {np.round(self.state.pos, 3).tolist()}; {HELP}")

    def _publish(self) -> None:
        if self.state.pos is None:
            return  # no measured pose yet: never command a guess
        self.gripper_pub.publish(Float64(data=self.state.gripper))
        self.pose_pub.publish(pose_command(self.state.pos, self.state.yaw, self.frame_id,
                                           self.get_clock().now().to_msg()))

    def press(self, key: str) -> str | None:
        """Handle one key: move the target or toggle the gripper or a recorder episode."""
        if key == " ":
            client = self.stop_client if self.recording else self.start_client
            if not client.service_is_ready():
                return f"{client.srv_name} is not available: is the recorder running?"
            client.call_async(Trigger.Request())
            self.recording = not self.recording
            return "episode started" if self.recording else "episode stopped"
        return self.state.press(key)


def _read_key(timeout: float) -> str | None:
    ready, _, _ = select.select([sys.stdin], [], [], timeout)
    return sys.stdin.read(1) if ready else None


def _spin_with_keys(node: KeyTeleopNode) -> None:
    """Raw terminal keys, one executor spin per key poll, until 'x'; the terminal is restored after."""
    import termios
    import tty

    fd = sys.stdin.fileno()
    saved = termios.tcgetattr(fd)
    try:
        print(HELP, file=sys.stderr)
        tty.setcbreak(fd)
        while rclpy.ok():
            rclpy.spin_once(node, timeout_sec=0.01)
            key = _read_key(0.01)
            if key == "x":
                break
            if key is not None and (said := node.press(key.lower())):
                print(said, file=sys.stderr)
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


def main(args: list[str] | None = None) -> int:
    """Entry point of ``ros2 run am_real_arm key_teleop``."""
    return run_node("key_teleop", KeyTeleopNode, args, _spin_with_keys)

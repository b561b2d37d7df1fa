"""What the real-arm adapter does with each message, without ROS: the node around it is only plumbing.

The policy (or a teleoperator) sends target poses of the gripper's pinch point on /arm/cartesian_cmd and a
closure 0 (open) .. 1 (closed) on /arm/gripper_cmd, exactly as to the sim cell. :class:`CommandMapper`
turns them into what a real arm can take:

- Bad commands are rejected and out-of-range ones clamped by the same checks as the sim cell
  (:mod:`actionable_models.sim.commands`): wrong frame, NaN, zero quaternion; workspace box, yaw limits.
- A reference pose starts at the measured pose and moves toward the latest command by at most
  ``max_linear_speed / rate_hz`` metres and ``max_yaw_rate / rate_hz`` radians per tick. The reference is
  what MoveIt Servo tracks, so the arm's speed is bounded whatever the command.
- A command older than ``command_timeout_s`` is not forwarded (Servo then halts on its own timeout); so is
  everything while the measured pose is missing or stale, or when the arm stands outside the box.
- An emergency stop latches: commands are dropped, one hold target (the measured pose) is sent, and only
  :meth:`CommandMapper.reset` releases the latch, while the stop signal reads False. After a reset the
  arm moves only on a command received after the reset.

Poses here are of the pinch point. :func:`ee_from_pinch` and :func:`pinch_from_ee` convert to and from the
frame MoveIt Servo moves (``tool0`` on a UR), ``tcp_offset_m`` along that frame's z axis.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from actionable_models.errors import ActionableModelsError, ConfigError
from actionable_models.geometry import quat_from_yaw, wrap_angle, yaw_from_quat
from actionable_models.sim.commands import check_gripper_command, check_pose_command
from actionable_models.sim.config import CellConfig

# Adapter states, as reported on the status topic.
TRACKING = "tracking"  # forwarding a rate-limited target to Servo
IDLE = "idle"  # no fresh command: nothing forwarded
HOLDING = "holding"  # a fresh command, but no usable measured pose: nothing forwarded
ESTOPPED = "estopped"  # emergency stop latched


class AdapterError(ActionableModelsError):
    """The adapter cannot run as configured (for example a message package it needs is not installed)."""


@dataclass
class AdapterConfig:
    """Limits and gripper mapping of the real-arm adapter. ROS parameters of the adapter node map onto these."""

    frame_id: str = "base_link"
    """Frame of every command and of the published end-effector pose (MoveIt Servo's planning frame)."""
    workspace_min: tuple[float, float, float] = (0.25, -0.30, 0.005)
    """Lower corner (x, y, z) in metres of the box every forwarded target stays in (the sim cell's default)."""
    workspace_max: tuple[float, float, float] = (0.65, 0.30, 0.35)
    """Upper corner (x, y, z) in metres of the workspace box."""
    yaw_limits: tuple[float, float] = (-math.pi / 2, math.pi / 2)
    """Range of the gripper yaw in radians (the sim cell's default)."""
    rate_hz: float = 50.0
    """How often the target is sent to MoveIt Servo (and the end-effector pose published, with TF)."""
    max_linear_speed: float = 0.10
    """Fastest the forwarded target moves, m/s. The sim cell allows 0.5; start a real arm slower."""
    max_yaw_rate: float = 0.5
    """Fastest the forwarded target turns about the vertical, rad/s."""
    command_timeout_s: float = 0.5
    """A pose command older than this is not forwarded (the policy commands at 5 Hz by default, every 0.2 s)."""
    pose_timeout_s: float = 0.5
    """A measured pose older than this counts as missing: nothing is forwarded."""
    tcp_offset_m: float = 0.0
    """Distance from the frame Servo moves (ee_frame, e.g. tool0) to the pinch point, along its z axis."""
    gripper_open_position: float = 0.0
    """Gripper command position for closure 0 (Robotiq 2F-85 knuckle: 0.0 rad; Franka Hand: 0.04 m per finger)."""
    gripper_closed_position: float = 0.8
    """Gripper command position for closure 1 (Robotiq 2F-85: 0.8 rad; Franka Hand: 0.0 m)."""
    gripper_max_effort: float = 50.0
    """max_effort of each GripperCommand goal (N for most grippers; 0 lets some drivers use their default)."""
    gripper_deadband: float = 0.05
    """A closure change smaller than this sends no new gripper goal (the policy repeats its gripper value)."""

    def __post_init__(self) -> None:
        self.workspace_min = tuple(float(v) for v in self.workspace_min)
        self.workspace_max = tuple(float(v) for v in self.workspace_max)
        self.yaw_limits = tuple(float(v) for v in self.yaw_limits)
        if not self.frame_id:
            raise ConfigError("frame_id must name the arm's base frame, got ''")
        if len(self.workspace_min) != 3 or len(self.workspace_max) != 3:
            raise ConfigError("workspace_min and workspace_max need three values (x, y, z)")
        if any(lo >= hi for lo, hi in zip(self.workspace_min, self.workspace_max)):
            raise ConfigError(f"workspace_min {self.workspace_min} must be below workspace_max {self.workspace_max}")
        if len(self.yaw_limits) != 2 or not -math.pi <= self.yaw_limits[0] < self.yaw_limits[1] <= math.pi:
            raise ConfigError(f"yaw_limits must be an increasing pair within [-pi, pi], got {self.yaw_limits!r}")
        for name in ("rate_hz", "max_linear_speed", "max_yaw_rate", "command_timeout_s", "pose_timeout_s"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ConfigError(f"{name} must be positive, got {value!r}")
        for name in ("tcp_offset_m", "gripper_open_position", "gripper_closed_position", "gripper_max_effort"):
            if not math.isfinite(getattr(self, name)):
                raise ConfigError(f"{name} must be a finite number, got {getattr(self, name)!r}")
        if self.gripper_max_effort < 0:
            raise ConfigError(f"gripper_max_effort must be >= 0, got {self.gripper_max_effort!r}")
        if not 0 <= self.gripper_deadband < 1:
            raise ConfigError(f"gripper_deadband must be in [0, 1), got {self.gripper_deadband!r}")

    @property
    def max_step_m(self) -> float:
        """Largest move of the forwarded target per tick, metres."""
        return self.max_linear_speed / self.rate_hz

    @property
    def max_yaw_step(self) -> float:
        """Largest turn of the forwarded target per tick, radians."""
        return self.max_yaw_rate / self.rate_hz

    def limits(self) -> CellConfig:
        """The box and yaw limits as the sim cell's config, so both run the same command checks."""
        return CellConfig(workspace_min=self.workspace_min, workspace_max=self.workspace_max,
                          yaw_limits=self.yaw_limits)


@dataclass
class Pose:
    """A pinch-point pose: position (3,) in the base frame and yaw about the vertical (gripper pointing down)."""

    pos: np.ndarray
    yaw: float


@dataclass
class Tick:
    """What to do on one control tick: the target to send to Servo (None: send nothing), and why."""

    target: Pose | None
    state: str
    reason: str = ""


@dataclass
class GripperGoal:
    """A gripper command for the robot: position and effort in the gripper driver's units."""

    closure: float
    position: float
    max_effort: float


@dataclass
class Accepted:
    """Outcome of offering a command to the mapper: accepted or not, and the problems to log."""

    accepted: bool
    problems: list[str] = field(default_factory=list)


def rotate(quat_wxyz: np.ndarray, vector: np.ndarray) -> np.ndarray:
    """``vector`` rotated by the unit quaternion (w, x, y, z)."""
    w, x, y, z = (float(v) for v in quat_wxyz)
    u = np.array([x, y, z])
    v = np.asarray(vector, dtype=float)
    return v + 2.0 * np.cross(u, np.cross(u, v) + w * v)


def ee_from_pinch(pos: np.ndarray, yaw: float, tcp_offset_m: float) -> tuple[np.ndarray, np.ndarray]:
    """Pose (position, quaternion wxyz) of the frame Servo moves, for a pinch-point target."""
    quat = quat_from_yaw(yaw)
    return np.asarray(pos, dtype=float) - rotate(quat, [0.0, 0.0, tcp_offset_m]), quat


def pinch_from_ee(pos: np.ndarray, quat_wxyz: np.ndarray, tcp_offset_m: float) -> np.ndarray:
    """Position of the pinch point for a measured pose of the frame Servo moves."""
    quat = np.asarray(quat_wxyz, dtype=float)
    return np.asarray(pos, dtype=float) + rotate(quat / np.linalg.norm(quat), [0.0, 0.0, tcp_offset_m])


class CommandMapper:
    """The adapter's state machine: commands and measurements in, rate-limited Servo targets out."""

    def __init__(self, config: AdapterConfig) -> None:
        self.config = config
        self._limits = config.limits()
        self._lo, self._hi = np.asarray(config.workspace_min), np.asarray(config.workspace_max)
        self.command: Pose | None = None
        self.command_time: float | None = None
        self.measured: Pose | None = None
        self.measured_ee: tuple[np.ndarray, np.ndarray] | None = None  # as measured: ee_frame position, quaternion
        self.measured_time: float | None = None
        self.reference: Pose | None = None  # the last target sent to Servo; None: restart from the measured pose
        self.estopped = False
        self.estop_signal = False  # the last value read on the emergency stop topic
        self.gripper_sent: float | None = None  # closure of the last gripper goal

    # ------------------------------------------------------------------------------------------ inputs
    def on_pose_command(self, pos: np.ndarray, quat_wxyz: np.ndarray, frame_id: str, now: float) -> Accepted:
        """A target pose from /arm/cartesian_cmd; clamped into the limits or rejected, with the problems found."""
        if self.estopped:
            return Accepted(False, ["emergency stop latched: pose command ignored (reset the stop first)"])
        checked = check_pose_command(pos, quat_wxyz, frame_id, self.config.frame_id, self._limits)
        if not checked.accepted:
            return Accepted(False, checked.problems)
        self.command, self.command_time = Pose(checked.pos, checked.yaw), now
        return Accepted(True, checked.problems)

    def on_measured_pose(self, pos: np.ndarray, quat_wxyz: np.ndarray, now: float) -> Accepted:
        """The measured pose of the frame Servo moves (ee_frame) in the base frame; kept as a pinch-point pose."""
        pos, quat = np.asarray(pos, dtype=float), np.asarray(quat_wxyz, dtype=float)
        if not (np.all(np.isfinite(pos)) and np.all(np.isfinite(quat))) or np.linalg.norm(quat) < 1e-6:
            return Accepted(False, [f"measured pose {pos.tolist()} {quat.tolist()} is not a valid pose; ignored"])
        self.measured = Pose(pinch_from_ee(pos, quat, self.config.tcp_offset_m), yaw_from_quat(quat))
        self.measured_ee = (pos.copy(), quat / np.linalg.norm(quat))
        self.measured_time = now
        return Accepted(True)

    def on_gripper_command(self, closure: float) -> tuple[GripperGoal | None, list[str]]:
        """A closure from /arm/gripper_cmd: the goal to send (None: nothing new to send) and the problems found."""
        if self.estopped:
            return None, ["emergency stop latched: gripper command ignored (reset the stop first)"]
        checked = check_gripper_command(closure)
        if not checked.accepted:
            return None, checked.problems
        value = checked.value
        if self.gripper_sent is not None and abs(value - self.gripper_sent) < self.config.gripper_deadband:
            return None, checked.problems
        self.gripper_sent = value
        return self.gripper_goal(value), checked.problems

    def gripper_goal(self, closure: float) -> GripperGoal:
        """Closure 0 (open) .. 1 (closed) as a gripper position between the configured open and closed ones."""
        c = self.config
        position = c.gripper_open_position + closure * (c.gripper_closed_position - c.gripper_open_position)
        return GripperGoal(closure, position, c.gripper_max_effort)

    # ------------------------------------------------------------------------------- emergency stop
    def on_estop_signal(self, active: bool) -> tuple[np.ndarray, np.ndarray] | None:
        """A value from the emergency stop topic. True latches the stop; when it latches, returns the hold target:
        the measured ee_frame pose as it is (position, quaternion), None when no pose was ever measured.

        False only records that the stop was released: the latch stays until :meth:`reset`.
        """
        self.estop_signal = bool(active)
        if not active or self.estopped:
            return None
        self.estopped = True
        self.command = self.command_time = self.reference = None
        return self.measured_ee

    def reset(self) -> tuple[bool, str]:
        """Release a latched emergency stop; refused while the stop signal still reads True."""
        if not self.estopped:
            return True, "no emergency stop was latched"
        if self.estop_signal:
            return False, "the emergency stop topic still reads True: release the stop first, then reset"
        self.estopped = False
        self.command = self.command_time = self.reference = None  # move only on a command sent after the reset
        return True, "emergency stop reset: waiting for a new pose command"

    # ----------------------------------------------------------------------------------------- ticks
    def tick(self, now: float) -> Tick:
        """One control tick: the next rate-limited target toward the latest command, or why there is none."""
        c = self.config
        if self.estopped:
            return Tick(None, ESTOPPED, "emergency stop latched")
        if self.command is None:
            self.reference = None
            return Tick(None, IDLE, "no pose command yet")
        if now - self.command_time > c.command_timeout_s:
            self.reference = None
            return Tick(None, IDLE, f"pose command is stale (none for {c.command_timeout_s:g} s)")
        if self.measured is None:
            self.reference = None
            return Tick(None, HOLDING, "no measured end-effector pose")
        if now - self.measured_time > c.pose_timeout_s:
            self.reference = None
            return Tick(None, HOLDING, f"measured end-effector pose is stale (none for {c.pose_timeout_s:g} s)")
        if self.reference is None:
            start = self._start_reference()
            if isinstance(start, str):
                return Tick(None, HOLDING, start)
            self.reference = start
        ref, cmd = self.reference, self.command
        delta = cmd.pos - ref.pos
        distance = float(np.linalg.norm(delta))
        if distance > c.max_step_m:
            delta *= c.max_step_m / distance
        # Plain difference, not wrapped: both yaws lie within yaw_limits, and the short way round could leave them.
        dyaw = float(np.clip(cmd.yaw - ref.yaw, -c.max_yaw_step, c.max_yaw_step))
        self.reference = Pose(np.clip(ref.pos + delta, self._lo, self._hi), ref.yaw + dyaw)
        return Tick(Pose(self.reference.pos.copy(), self.reference.yaw), TRACKING)

    def _start_reference(self) -> Pose | str:
        """The measured pose as the first reference, or why the arm may not start from where it is."""
        c = self.config
        pos = self.measured.pos
        inside = np.clip(pos, self._lo, self._hi)
        outside = float(np.linalg.norm(pos - inside))
        if outside > c.max_step_m:
            return (f"the arm is {outside:.3f} m outside the workspace box {list(c.workspace_min)}.."
                    f"{list(c.workspace_max)}; move it inside by hand first")
        yaw = wrap_angle(self.measured.yaw)
        lo, hi = c.yaw_limits
        clamped = min(max(yaw, lo), hi)
        if abs(yaw - clamped) > c.max_yaw_step:
            return (f"the gripper yaw {yaw:.2f} rad is outside the yaw limits [{lo:.2f}, {hi:.2f}]; "
                    "turn the wrist into range by hand first")
        return Pose(inside, clamped)

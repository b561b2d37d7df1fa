"""The adapter node over real rclpy and DDS: a fake robot (pose topic, Servo input and pause service, gripper
position topic) on one side, the cell's command topics on the other."""

import json
import math

import numpy as np
import pytest
from geometry_msgs.msg import PoseStamped
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.parameter import Parameter
from std_msgs.msg import Bool, Float64, String
from std_srvs.srv import SetBool, Trigger

from am_common.messages import LATCHED, pose_command, pose_stamped
from am_real_arm.adapter_node import RealArmAdapterNode
from am_real_arm.mapping import AdapterError
from actionable_models.geometry import quat_from_yaw, yaw_from_quat

pytestmark = pytest.mark.ros

TOOL_POSE = "/fake_robot/tool_pose"


class FakeRobot:
    """Publishes the measured tool pose; records what reaches Servo, the gripper and the status topic."""

    def __init__(self, context, tool_pos=(0.4, 0.0, 0.3)):
        self.node = Node("fake_robot", context=context, start_parameter_services=False)
        self.tool_pos = np.array(tool_pos)
        self.tool_pub = self.node.create_publisher(PoseStamped, TOOL_POSE, 10)
        self.cmd_pub = self.node.create_publisher(PoseStamped, "/arm/cartesian_cmd", 10)
        self.gripper_cmd_pub = self.node.create_publisher(Float64, "/arm/gripper_cmd", 10)
        self.estop_pub = self.node.create_publisher(Bool, "/arm/estop", 10)
        self.servo: list[PoseStamped] = []
        self.ee_poses: list[PoseStamped] = []
        self.gripper: list[float] = []
        self.status: list[dict] = []
        self.pauses: list[bool] = []
        self.node.create_subscription(PoseStamped, "/servo_node/pose_target_cmds", self.servo.append, 10)
        self.node.create_subscription(PoseStamped, "/arm/ee_pose", self.ee_poses.append, 10)
        self.node.create_subscription(Float64, "/gripper/position_cmd", lambda m: self.gripper.append(m.data), 10)
        self.node.create_subscription(String, "/arm/adapter_status", lambda m: self.status.append(json.loads(m.data)),
                                      LATCHED)
        self.node.create_service(SetBool, "/servo_node/pause_servo", self._on_pause)
        self.reset_client = self.node.create_client(Trigger, "/real_arm_adapter/reset_estop")

    def _on_pause(self, request, response):
        self.pauses.append(request.data)
        response.success = True
        return response

    def publish_tool_pose(self):
        self.tool_pub.publish(pose_stamped(self.tool_pos, quat_from_yaw(0.0), "base_link"))

    def command(self, pos, yaw=0.0, frame="base_link"):
        self.cmd_pub.publish(pose_command(np.array(pos, dtype=float), yaw, frame))


def positions(messages):
    return np.array([[m.pose.position.x, m.pose.position.y, m.pose.position.z] for m in messages])


@pytest.fixture
def rig(context):
    nodes = []

    def make(**params):
        params = {"ee_pose_source": "topic", "measured_pose_topic": TOOL_POSE, "gripper_interface": "topic",
                  "servo_command_type_service": "", "rate_hz": 20.0, "max_linear_speed": 0.2,
                  "command_timeout_s": 0.3, "tcp_offset_m": 0.1, **params}
        robot = FakeRobot(context)
        adapter = RealArmAdapterNode(context=context,
                                     parameter_overrides=[Parameter(k, value=v) for k, v in params.items()])
        executor = SingleThreadedExecutor(context=context)
        executor.add_node(robot.node)
        executor.add_node(adapter)
        nodes.append((executor, robot.node, adapter))
        return robot, adapter, executor

    yield make
    for executor, *others in nodes:
        executor.shutdown()
        for node in others:
            node.destroy_node()


def test_commands_are_clamped_rate_limited_and_sent_to_servo(rig, spin_for):
    robot, adapter, executor = rig()
    spin_for(executor, 0.4, every=robot.publish_tool_pose)
    pinch = positions(robot.ee_poses)[-1]
    assert np.allclose(pinch, [0.4, 0.0, 0.2])  # tool pose at 0.3, pinch point 0.1 m below it
    assert robot.ee_poses[-1].header.frame_id == "base_link"

    def both():
        robot.publish_tool_pose()
        robot.command([0.9, 0.0, 0.2], yaw=0.3)  # x beyond the box's 0.65

    def reached():  # 0.25 m at 0.01 m a tick is 25 ticks of the 20 Hz timer: 1.25 s on an idle machine
        return len(robot.servo) > 0 and math.isclose(robot.servo[-1].pose.position.x, 0.65)

    spin_for(executor, 2.0, every=both)
    spin_for(executor, 6.0, every=both, until=reached)  # more ticks where a loaded machine fired fewer
    sent = positions(robot.servo)
    assert len(sent) > 10, len(sent)
    assert all(m.header.frame_id == "base_link" for m in robot.servo)
    assert np.all(sent[:, 0] <= 0.65 + 1e-9)
    assert math.isclose(sent[-1][0], 0.65) and math.isclose(sent[-1][2], 0.3)  # reached; the tool 0.1 m higher
    steps = np.linalg.norm(np.diff(np.vstack([[0.4, 0.0, 0.3], sent]), axis=0), axis=1)
    assert steps.max() <= 0.2 / 20.0 + 1e-6  # 0.2 m/s at 20 Hz
    q = robot.servo[-1].pose.orientation
    assert math.isclose(yaw_from_quat(np.array([q.w, q.x, q.y, q.z])), 0.3, abs_tol=1e-6)
    tracking = [s for s in robot.status if s["state"] == "tracking"]
    assert tracking and tracking[-1]["target"][0] <= 0.65


def test_bad_commands_are_not_forwarded(rig, spin_for):
    robot, adapter, executor = rig()

    def bad():
        robot.publish_tool_pose()
        robot.command([0.5, float("nan"), 0.2])
        robot.command([0.5, 0.0, 0.2], frame="world")

    spin_for(executor, 0.6, every=bad)
    assert robot.servo == []
    assert robot.status[-1]["state"] == "idle"


def test_stale_command_stops_forwarding(rig, spin_for):
    robot, adapter, executor = rig()

    def both():
        robot.publish_tool_pose()
        robot.command([0.5, 0.0, 0.2])

    spin_for(executor, 0.5, every=both)
    assert robot.servo
    spin_for(executor, 0.5, every=robot.publish_tool_pose)  # the commands stop; timeout 0.3 s
    sent = len(robot.servo)
    spin_for(executor, 0.5, every=robot.publish_tool_pose)
    assert len(robot.servo) == sent
    assert robot.status[-1]["state"] == "idle" and "stale" in robot.status[-1]["reason"]


def test_emergency_stop_latches_holds_pauses_servo_and_resets(rig, spin_for):
    robot, adapter, executor = rig()

    def both():
        robot.publish_tool_pose()
        robot.command([0.6, 0.0, 0.2])

    spin_for(executor, 0.5, every=both)
    robot.estop_pub.publish(Bool(data=True))
    spin_for(executor, 0.3, every=robot.publish_tool_pose)
    assert robot.pauses == [True]
    hold = robot.servo[-1]
    assert np.allclose(positions([hold])[0], [0.4, 0.0, 0.3])  # the measured tool pose, as it is
    assert robot.status[-1]["state"] == "estopped" and robot.status[-1]["estopped"]
    sent = len(robot.servo)
    spin_for(executor, 0.5, every=both)  # commands keep coming: all dropped
    assert len(robot.servo) == sent

    def reset():
        future = robot.reset_client.call_async(Trigger.Request())
        executor.spin_until_future_complete(future, timeout_sec=2.0)
        return future.result()

    response = reset()
    assert not response.success and "still reads True" in response.message
    robot.estop_pub.publish(Bool(data=False))
    spin_for(executor, 0.3, every=robot.publish_tool_pose)
    assert adapter.mapper.estopped and len(robot.servo) == sent  # released, but latched until the reset
    response = reset()
    assert response.success
    spin_for(executor, 0.3, every=robot.publish_tool_pose)
    assert robot.pauses == [True, False]
    assert len(robot.servo) == sent  # no command since the reset: nothing moves
    spin_for(executor, 0.4, every=both)
    assert len(robot.servo) > sent and robot.status[-1]["state"] == "tracking"


def test_gripper_closure_is_mapped_to_positions(rig, spin_for):
    robot, adapter, executor = rig(gripper_open_position=0.0, gripper_closed_position=0.8)
    for value in (1.0, 0.99, float("nan"), 0.0, 0.5):
        robot.gripper_cmd_pub.publish(Float64(data=value))
        spin_for(executor, 0.15)
    assert robot.gripper == pytest.approx([0.8, 0.0, 0.4])  # 0.99: within the deadband; NaN: rejected


def test_missing_robot_interfaces_are_named(rig, context):
    with pytest.raises(ValueError, match="measured_pose_topic is empty"):
        RealArmAdapterNode(context=context, parameter_overrides=[Parameter("ee_pose_source", value="topic")])
    with pytest.raises(ValueError, match="gripper_interface must be one of"):
        RealArmAdapterNode(context=context, parameter_overrides=[Parameter("gripper_interface", value="serial")])
    try:
        import control_msgs.action  # noqa: F401
    except ImportError:
        with pytest.raises(AdapterError, match="control_msgs.*ros-jazzy-control-msgs"):
            RealArmAdapterNode(context=context, parameter_overrides=[
                Parameter("ee_pose_source", value="topic"), Parameter("measured_pose_topic", value=TOOL_POSE),
                Parameter("gripper_interface", value="action")])
    try:
        import tf2_ros  # noqa: F401
    except ImportError:
        with pytest.raises(AdapterError, match="tf2_ros"):
            RealArmAdapterNode(context=context, parameter_overrides=[Parameter("gripper_interface", value="none")])
    try:
        import moveit_msgs.srv  # noqa: F401
    except ImportError:  # no moveit_msgs: the node still starts and skips switching Servo's command type
        robot, adapter, executor = rig(servo_command_type_service="/servo_node/switch_command_type")
        assert adapter._command_type_client is None


def test_gripper_action_goals_where_control_msgs_is_installed(rig, spin_for):
    action = pytest.importorskip("control_msgs.action", reason="control_msgs is not installed (no PyPI wheel)")
    from rclpy.action import ActionServer

    robot, adapter, executor = rig(gripper_interface="action", gripper_action="/gripper_controller/gripper_cmd",
                                   gripper_max_effort=30.0)
    goals = []

    def execute(handle):
        goals.append((handle.request.command.position, handle.request.command.max_effort))
        handle.succeed()
        return action.GripperCommand.Result(reached_goal=True)

    ActionServer(robot.node, action.GripperCommand, "/gripper_controller/gripper_cmd", execute)
    spin_for(executor, 0.5)
    robot.gripper_cmd_pub.publish(Float64(data=1.0))
    spin_for(executor, 0.5)
    assert goals == [(pytest.approx(0.8), 30.0)]


def test_servo_is_switched_to_pose_commands_where_moveit_msgs_is_installed(rig, spin_for):
    srv = pytest.importorskip("moveit_msgs.srv", reason="moveit_msgs is not installed (no PyPI wheel)")
    requests = []

    def robot_setup(robot):
        def on_switch(request, response):
            requests.append(request.command_type)
            response.success = True
            return response
        robot.node.create_service(srv.ServoCommandType, "/servo_node/switch_command_type", on_switch)

    robot, adapter, executor = rig(servo_command_type_service="/servo_node/switch_command_type")
    robot_setup(robot)
    spin_for(executor, 1.0)
    assert requests == [srv.ServoCommandType.Request.POSE]

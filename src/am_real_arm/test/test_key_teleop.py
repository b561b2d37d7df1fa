"""The keyboard teleop over real rclpy: it waits for a measured pose, then sends the cell's command topics."""


import numpy as np
import pytest
from geometry_msgs.msg import PoseStamped
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from std_msgs.msg import Float64

from actionable_models.geometry import quat_from_yaw
from am_common.messages import pose_stamped
from am_real_arm.key_teleop import KeyTeleopNode

pytestmark = pytest.mark.ros


def test_keys_steer_the_commanded_pose_from_the_measured_one(context, spin_for):
    arm = Node("fake_arm", context=context, start_parameter_services=False)
    pose_pub = arm.create_publisher(PoseStamped, "/arm/ee_pose", 10)
    commands, grippers = [], []
    arm.create_subscription(PoseStamped, "/arm/cartesian_cmd", commands.append, 10)
    arm.create_subscription(Float64, "/arm/gripper_cmd", lambda m: grippers.append(m.data), 10)
    teleop = KeyTeleopNode(context=context)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(arm)
    executor.add_node(teleop)

    try:
        spin_for(executor, 0.4)
        assert commands == []  # no measured pose: no command
        def publish_measured():
            pose_pub.publish(pose_stamped(np.array([0.4, 0.0, 0.2]), quat_from_yaw(0.0), "base_link"))

        spin_for(executor, 0.4, every=publish_measured)
        assert commands
        for key in "wwr":
            teleop.press(key)
        assert teleop.press("g") == "gripper closed"
        assert "not available" in teleop.press(" ")  # no recorder running
        commands.clear()
        spin_for(executor, 0.4)
        last = commands[-1]
        assert last.header.frame_id == "base_link"
        assert np.allclose([last.pose.position.x, last.pose.position.y, last.pose.position.z], [0.42, 0.0, 0.21])
        assert grippers[-1] == 1.0
    finally:
        executor.shutdown()
        teleop.destroy_node()
        arm.destroy_node()

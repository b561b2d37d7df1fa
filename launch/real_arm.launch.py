"""The real-arm adapter: the cell's arm topics on a real arm through MoveIt Servo and its gripper.

    ros2 launch am_bringup real_arm.launch.py [config:=/path/to/params.yaml]

Start the robot's driver, its gripper driver and MoveIt Servo first (docs/real_robot.md: a UR with a
Robotiq 2F-85, or a Franka FR3 with its hand). The adapter, configured by the `real_arm_adapter` entry
of the parameter file (default: config/real_arm.yaml, a UR5e with a 2F-85; config/real_arm_franka.yaml for
a Franka), then maps /arm/cartesian_cmd to Servo pose tracking within its workspace box and rate limits,
/arm/gripper_cmd to the gripper, publishes /arm/ee_pose, and latches a stop on /arm/estop
(reset: ros2 service call /real_arm_adapter/reset_estop std_srvs/srv/Trigger). Then run
reach_goal.launch.py sim:=false, or the recorder and `ros2 run am_real_arm key_teleop`, beside it.
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, SetEnvironmentVariable
from launch.substitutions import EnvironmentVariable, LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare


def generate_launch_description() -> LaunchDescription:
    config = LaunchConfiguration("config")
    return LaunchDescription([
        # Fast DDS profile for large camera frames (docs/data.md), unless the environment names another
        DeclareLaunchArgument("dds_profile", default_value=EnvironmentVariable(
            "FASTRTPS_DEFAULT_PROFILES_FILE",
            default_value=PathJoinSubstitution([FindPackageShare("am_bringup"), "config", "fastdds_large_frames.xml"])),
            description="Fast DDS XML profile file for every node"),
        SetEnvironmentVariable("FASTRTPS_DEFAULT_PROFILES_FILE", LaunchConfiguration("dds_profile")),
        DeclareLaunchArgument(
            "config",
            default_value=PathJoinSubstitution([FindPackageShare("am_bringup"), "config", "real_arm.yaml"]),
            description="ROS 2 parameter file with a 'real_arm_adapter' entry",
        ),
        Node(package="am_real_arm", executable="adapter_node", name="real_arm_adapter", parameters=[config],
             output="screen"),
    ])

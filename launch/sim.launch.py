"""The simulated cell alone, behind the arm and camera topics: the same job as `am run sim`.

    ros2 launch am_bringup sim.launch.py [config:=/path/to/params.yaml]

The sim cell reads its parameters from a ROS 2 parameter file (default: config/sim.yaml, installed into
share/am_bringup/config; real-time mode). Command it on /arm/cartesian_cmd and /arm/gripper_cmd.
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
            default_value=PathJoinSubstitution([FindPackageShare("am_bringup"), "config", "sim.yaml"]),
            description="ROS 2 parameter file with a 'sim_cell' entry",
        ),
        Node(
            package="am_sim",
            executable="sim_node",
            name="sim_cell",
            parameters=[config],
            output="screen",
        ),
    ])

"""The simulated cell in lock-step and the scripted pick-and-place demo: the same job as `am run demo`.

    ros2 launch am_bringup demo.launch.py [config:=/path/to/params.yaml]

Both nodes read their parameters from one ROS 2 parameter file (default: config/demo.yaml, installed
into share/am_bringup/config). The demo node exits when it has tried every object; stop the sim cell
with Ctrl-C.
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
            default_value=PathJoinSubstitution([FindPackageShare("am_bringup"), "config", "demo.yaml"]),
            description="ROS 2 parameter file with 'sim_cell' and 'pick_place_demo' entries",
        ),
        Node(
            package="am_sim",
            executable="sim_node",
            name="sim_cell",
            parameters=[config],
            output="screen",
        ),
        Node(
            package="am_sim",
            executable="pick_place_demo",
            name="pick_place_demo",
            parameters=[config],
            output="screen",
        ),
    ])

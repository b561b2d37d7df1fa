"""Scripted play data collection: the sim cell in lock-step, the play collector and the episode recorder.

    ros2 launch am_bringup collect.launch.py [config:=/path/to/params.yaml]

All three nodes read one ROS 2 parameter file (default: config/collect.yaml, installed into
share/am_bringup/config): episodes, base seed and steps per episode are `play_collector` parameters,
the bag folder is the `recorder`'s `output_dir`. The collector exits when it is done; stop the others
with Ctrl-C (the recorder closes any open bag). `am collect` does the same in one process.
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
            default_value=PathJoinSubstitution([FindPackageShare("am_bringup"), "config", "collect.yaml"]),
            description="ROS 2 parameter file with 'sim_cell', 'recorder' and 'play_collector' entries",
        ),
        Node(package="am_sim", executable="sim_node", name="sim_cell", parameters=[config], output="screen"),
        Node(package="am_dataset_recorder", executable="recorder_node", name="recorder", parameters=[config],
             output="screen"),
        Node(package="am_sim", executable="play_collector", name="play_collector", parameters=[config],
             output="screen"),
    ])

"""Offline training as a ROS 2 node: trains from episode bags and announces checkpoints on /am/checkpoint.

    ros2 launch am_bringup train.launch.py [config:=/path/to/params.yaml]

The `trainer` entry of the parameter file (default: config/train.yaml, installed into
share/am_bringup/config) names the dataset folder, the run directory and every learner and schedule
setting. A run directory that already holds a training state resumes. `am train` runs the same training
without ROS (and under torchrun on several GPUs or nodes).
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
            default_value=PathJoinSubstitution([FindPackageShare("am_bringup"), "config", "train.yaml"]),
            description="ROS 2 parameter file with a 'trainer' entry",
        ),
        Node(package="am_trainer", executable="trainer_node", name="trainer", parameters=[config], output="screen"),
    ])

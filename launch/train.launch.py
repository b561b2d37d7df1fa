"""Offline training as a ROS 2 node: trains from episode bags and announces checkpoints on /am/checkpoint.

    ros2 launch am_bringup train.launch.py [config:=/path/to/params.yaml]

The `trainer` entry of the parameter file (default: config/train.yaml, installed into
share/am_bringup/config) names the dataset folder, the run directory and every learner and schedule
setting. A run directory that already holds a training state resumes. `am train` runs the same training
without ROS (and under torchrun on several GPUs or nodes).
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare


def generate_launch_description() -> LaunchDescription:
    config = LaunchConfiguration("config")
    return LaunchDescription([
        DeclareLaunchArgument(
            "config",
            default_value=PathJoinSubstitution([FindPackageShare("am_bringup"), "config", "train.yaml"]),
            description="ROS 2 parameter file with a 'trainer' entry",
        ),
        Node(package="am_trainer", executable="trainer_node", name="trainer", parameters=[config], output="screen"),
    ])

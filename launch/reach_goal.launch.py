"""Reach a goal image: the policy node driving the sim cell (or a real arm), optionally recording.

    ros2 launch am_bringup reach_goal.launch.py checkpoint:=runs/am [goal_image:=goal.png] [sim:=false]
        [record:=true record_dir:=data/reach] [config:=/path/to/params.yaml]

The `sim_cell` and `policy` entries of the parameter file (default: config/reach_goal.yaml) configure the
nodes; `checkpoint` and `goal_image` override the policy's. With sim:=false the policy talks to whatever
publishes /camera/image_raw and /arm/ee_pose and obeys /arm/cartesian_cmd (a real-arm driver). Publish or
change the goal any time with `am goal --png FILE` (latched /am/goal_image).
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, SetEnvironmentVariable
from launch.conditions import IfCondition
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
            default_value=PathJoinSubstitution([FindPackageShare("am_bringup"), "config", "reach_goal.yaml"]),
            description="ROS 2 parameter file with 'sim_cell' and 'policy' entries",
        ),
        DeclareLaunchArgument("checkpoint", default_value="runs/am",
                              description="checkpoint file or run directory (its latest checkpoint)"),
        DeclareLaunchArgument("goal_image", default_value="",
                              description="PNG file to use as the goal at start (empty: wait for /am/goal_image)"),
        DeclareLaunchArgument("sim", default_value="true", description="start the MuJoCo sim cell (false: real arm)"),
        DeclareLaunchArgument("record", default_value="false", description="record episodes with the recorder"),
        DeclareLaunchArgument("record_dir", default_value="data/reach", description="where the recorder writes"),
        Node(package="am_sim", executable="sim_node", name="sim_cell", parameters=[config], output="screen",
             condition=IfCondition(LaunchConfiguration("sim"))),
        Node(package="am_policy_node", executable="policy_node", name="policy", output="screen",
             parameters=[config, {"checkpoint": LaunchConfiguration("checkpoint"),
                                  "goal_image_file": LaunchConfiguration("goal_image")}]),
        Node(package="am_dataset_recorder", executable="recorder_node", name="recorder", output="screen",
             parameters=[{"output_dir": LaunchConfiguration("record_dir"), "task": "reach_goal",
                          "collector": "policy"}],
             condition=IfCondition(LaunchConfiguration("record"))),
    ])

"""The Gazebo Harmonic cell in place of the MuJoCo one: same topics, driven through the real-arm adapter.

    ros2 launch am_bringup gazebo.launch.py [layout:=default] [ur_type:=ur5e] [gazebo_gui:=true]
        [config:=/path/to/params.yaml]

Starts am_gazebo's gz_cell.launch.py (Gazebo with the world of `layout`, the UR5e + 2F-85 under
ros2_control, the camera bridge and MoveIt Servo) and the am_real_arm adapter, configured by the
`real_arm_adapter` entry of the parameter file (default: config/gazebo.yaml). Then /camera/image_raw,
/camera/camera_info, /joint_states, /arm/ee_pose and /clock come from Gazebo, and /arm/cartesian_cmd and
/arm/gripper_cmd move the simulated arm, exactly as with sim.launch.py: run reach_goal.launch.py sim:=false
(or the recorder and a teleop) beside it. There is no /sim/reset nor privileged state: scripted play
collection (collect.launch.py) and the goal evaluator stay with the MuJoCo cell. Needs a full ROS 2 Jazzy
install with Gazebo Harmonic (docs/gazebo.md).
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, IncludeLaunchDescription, SetEnvironmentVariable
from launch.launch_description_sources import PythonLaunchDescriptionSource
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
            default_value=PathJoinSubstitution([FindPackageShare("am_bringup"), "config", "gazebo.yaml"]),
            description="ROS 2 parameter file with a 'real_arm_adapter' entry",
        ),
        DeclareLaunchArgument("layout", default_value="default",
                              description="scene layout: default, container_left or three_objects"),
        DeclareLaunchArgument("ur_type", default_value="ur5e", description="UR model of the simulated arm"),
        DeclareLaunchArgument("gazebo_gui", default_value="true", description="show Gazebo's window"),
        IncludeLaunchDescription(
            PythonLaunchDescriptionSource(
                PathJoinSubstitution([FindPackageShare("am_gazebo"), "launch", "gz_cell.launch.py"])),
            launch_arguments={"layout": LaunchConfiguration("layout"), "ur_type": LaunchConfiguration("ur_type"),
                              "gazebo_gui": LaunchConfiguration("gazebo_gui")}.items(),
        ),
        Node(package="am_real_arm", executable="adapter_node", name="real_arm_adapter", parameters=[config],
             output="screen"),
    ])

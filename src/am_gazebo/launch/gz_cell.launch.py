"""The Gazebo Harmonic cell: the world, its camera bridge and the UR5e + 2F-85 under MoveIt Servo.

    ros2 launch am_gazebo gz_cell.launch.py [layout:=default] [ur_type:=ur5e] [gazebo_gui:=true]

Usually started by am_bringup's gazebo.launch.py, which adds the am_real_arm adapter so that the sim cell's
topics (/arm/cartesian_cmd, /arm/gripper_cmd, /arm/ee_pose) exist. This file starts:

- ur_simulation_gz's ur_sim_control.launch.py: gz sim on worlds/am_cell_<layout>.sdf, robot_state_publisher
  and the arm spawned from urdf/am_ur_robotiq.urdf.xacro, the /clock bridge, joint_state_broadcaster and
  forward_position_controller (config/controllers.yaml);
- a spawner for gripper_controller (control_msgs/action/GripperCommand on /gripper_controller/gripper_cmd);
- ros_gz_bridge with config/bridge.yaml: /camera/image_raw and /camera/camera_info;
- MoveIt Servo (servo_node) with ur_moveit_config's SRDF and config/servo.yaml, taking poses on
  /servo_node/pose_target_cmds.

Needs a full ROS 2 Jazzy install with the packages docker/Dockerfile installs (see docs/gazebo.md).
"""

from pathlib import Path

import yaml
from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, IncludeLaunchDescription, OpaqueFunction
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare


def _servo(context) -> list:
    """MoveIt Servo with the UR's semantic description (resolved at launch: it needs ur_type's value)."""
    from moveit_configs_utils import MoveItConfigsBuilder

    ur_type = LaunchConfiguration("ur_type").perform(context)
    moveit_config = (MoveItConfigsBuilder(robot_name="ur", package_name="ur_moveit_config")
                     .robot_description_semantic(Path("srdf") / "ur.srdf.xacro", {"name": ur_type})
                     .to_moveit_configs())
    servo_yaml = Path(get_package_share_directory("am_gazebo")) / "config" / "servo.yaml"
    servo_params = yaml.safe_load(servo_yaml.read_text())
    return [Node(package="moveit_servo", executable="servo_node", name="servo_node", output="screen",
                 parameters=[moveit_config.to_dict(), {"moveit_servo": servo_params}, {"use_sim_time": True}])]


def generate_launch_description() -> LaunchDescription:
    share = FindPackageShare("am_gazebo")
    layout = LaunchConfiguration("layout")
    return LaunchDescription([
        DeclareLaunchArgument("layout", default_value="default",
                              description="scene layout of the world: default, container_left or three_objects"),
        DeclareLaunchArgument("ur_type", default_value="ur5e", description="UR model (the MuJoCo cell's is ur5e)"),
        DeclareLaunchArgument("gazebo_gui", default_value="true", description="show Gazebo's window"),
        DeclareLaunchArgument("launch_rviz", default_value="false", description="start RViz with the robot"),
        IncludeLaunchDescription(
            PythonLaunchDescriptionSource(
                PathJoinSubstitution([FindPackageShare("ur_simulation_gz"), "launch", "ur_sim_control.launch.py"])),
            launch_arguments={
                "ur_type": LaunchConfiguration("ur_type"),
                "description_file": PathJoinSubstitution([share, "urdf", "am_ur_robotiq.urdf.xacro"]),
                "controllers_file": PathJoinSubstitution([share, "config", "controllers.yaml"]),
                "world_file": PathJoinSubstitution([share, "worlds", ["am_cell_", layout, ".sdf"]]),
                "initial_joint_controller": "forward_position_controller",
                "launch_rviz": LaunchConfiguration("launch_rviz"),
                "gazebo_gui": LaunchConfiguration("gazebo_gui"),
            }.items(),
        ),
        Node(package="controller_manager", executable="spawner", name="gripper_controller_spawner",
             arguments=["gripper_controller", "-c", "/controller_manager", "--controller-manager-timeout", "60"]),
        Node(package="ros_gz_bridge", executable="parameter_bridge", name="am_camera_bridge", output="screen",
             parameters=[{"config_file": PathJoinSubstitution([share, "config", "bridge.yaml"]),
                          "use_sim_time": True}]),
        OpaqueFunction(function=_servo),
    ])

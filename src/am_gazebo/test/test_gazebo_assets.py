"""The Gazebo cell checked without Gazebo: worlds against the MuJoCo cell, the bridge against the topics our
nodes read, the controllers and Servo config against the adapter's, and the launch files' references."""

import ast
import math
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
import yaml

from actionable_models.data import keys
from actionable_models.sim import scene
from actionable_models.sim.cell import CONTAINER_CLEARANCE, MIN_OBJECT_GAP, OBJECT_AREA
from actionable_models.sim.config import CellConfig
from actionable_models.sim.layouts import LAYOUTS, OBJECTS
from am_gazebo.world import build_world, world_file_name

PACKAGE = Path(__file__).resolve().parents[1]
REPO = PACKAGE.parents[1]
WORLDS = PACKAGE / "worlds"
# Launch arguments of ur_simulation_gz's ur_sim_control.launch.py (Jazzy, 0.1.0 and later; it also
# bridges /clock).
UR_SIM_CONTROL_ARGS = {"ur_type", "safety_limits", "safety_pos_margin", "safety_k_position", "controllers_file",
                       "tf_prefix", "activate_joint_controller", "initial_joint_controller", "description_file",
                       "launch_rviz", "rviz_config_file", "gazebo_gui", "world_file"}
# Packages the Gazebo launch files start nodes or include launch files from, besides ours.
EXTERNAL_PACKAGES = {"ur_simulation_gz", "controller_manager", "ros_gz_bridge", "moveit_servo"}


def _world(layout="default") -> ET.Element:
    return ET.parse(WORLDS / world_file_name(layout)).getroot()


def _models(root: ET.Element) -> dict[str, ET.Element]:
    return {m.get("name"): m for m in root.find("world").findall("model")}


def _floats(text: str) -> np.ndarray:
    return np.array([float(v) for v in text.split()])


def _rotation(roll: float, pitch: float, yaw: float) -> np.ndarray:
    """SDF's pose rotation: extrinsic x-y-z, R = Rz(yaw) Ry(pitch) Rx(roll)."""
    cr, sr, cp, sp, cy, sy = (math.cos(roll), math.sin(roll), math.cos(pitch), math.sin(pitch), math.cos(yaw),
                              math.sin(yaw))
    rx = np.array([[1, 0, 0], [0, cr, -sr], [0, sr, cr]])
    ry = np.array([[cp, 0, sp], [0, 1, 0], [-sp, 0, cp]])
    rz = np.array([[cy, -sy, 0], [sy, cy, 0], [0, 0, 1]])
    return rz @ ry @ rx


def _bridge() -> list[dict]:
    return yaml.safe_load((PACKAGE / "config" / "bridge.yaml").read_text())


@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_worlds_are_generated_from_the_cell_as_it_is_now(layout):
    path = WORLDS / world_file_name(layout)
    assert path.read_text() == build_world(layout), (
        f"{path.name} is out of date with the MuJoCo cell: run `python -m am_gazebo.world`")


def test_camera_sits_where_cell_config_puts_it():
    config = CellConfig()
    camera = _models(_world())[scene.CAMERA_NAME]
    pose = _floats(camera.find("pose").text)
    assert np.allclose(pose[:3], config.camera_pos, atol=1e-6)
    rotation = _rotation(*pose[3:])
    forward = np.subtract(config.camera_target, config.camera_pos)
    assert np.allclose(rotation[:, 0], forward / np.linalg.norm(forward), atol=1e-5)  # Gazebo cameras look along +x
    assert rotation[2, 2] > 0 and abs(rotation[2, 1]) < 1e-9  # upright, no roll
    sensor = camera.find("link/sensor")
    assert sensor.get("type") == "camera"
    hfov = float(sensor.find("camera/horizontal_fov").text)
    vfov = 2 * math.atan(math.tan(hfov / 2) * config.image_height / config.image_width)
    assert math.isclose(math.degrees(vfov), config.camera_fovy_deg, abs_tol=1e-3)
    assert int(sensor.find("camera/image/width").text) == config.image_width
    assert int(sensor.find("camera/image/height").text) == config.image_height
    assert sensor.find("camera/image/format").text == "R8G8B8"  # bridged as rgb8, like the sim cell
    assert float(sensor.find("update_rate").text) == config.control_rate_hz
    sim_node = (REPO / "src" / "am_sim" / "am_sim" / "sim_node.py").read_text()
    frame = re.search(r'"camera_frame_id": "([^"]+)"', sim_node).group(1)
    assert sensor.find("gz_frame_id").text == frame


@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_scene_matches_the_layout(layout):
    spec = LAYOUTS[layout]
    models = _models(_world(layout))
    assert set(models) == {"floor", "table", scene.CONTAINER_BODY, scene.CAMERA_NAME, *spec.objects}
    assert np.allclose(_floats(models[scene.CONTAINER_BODY].find("pose").text)[:2], spec.container_xy)
    top = models["table"].find("link/collision[@name='top_collision']")
    assert np.allclose(_floats(top.find("geometry/box/size").text), np.multiply(scene.TABLE_HALF, 2))
    assert np.isclose(_floats(top.find("pose").text)[2] + scene.TABLE_HALF[2], 0.0)  # table top at z = 0
    placed = []
    for name in spec.objects:
        obj, model = OBJECTS[name], models[name]
        assert float(model.find("link/inertial/mass").text) == obj.mass
        geometry = model.find("link/collision/geometry")
        if obj.shape == "box":
            assert np.allclose(_floats(geometry.find("box/size").text), np.multiply(obj.size, 2))
        elif obj.shape == "ellipsoid":
            assert np.allclose(_floats(geometry.find("ellipsoid/radii").text), obj.size)
        else:
            shape = geometry.find(obj.shape)
            assert float(shape.find("radius").text) == obj.size[0]
            assert math.isclose(float(shape.find("length").text), 2 * obj.size[1])
        colour = _floats(model.find("link/visual/material/diffuse").text)
        assert np.allclose(colour, obj.rgba)
        x, y, z = _floats(model.find("pose").text)[:3]
        assert z >= obj.rest_height  # resting on the table, not in it
        (x0, x1), (y0, y1) = OBJECT_AREA
        assert x0 <= x <= x1 and y0 <= y <= y1, name
        keep_out = scene.CONTAINER_HALF + CONTAINER_CLEARANCE
        assert not np.all(np.abs(np.subtract((x, y), spec.container_xy)) < keep_out), name
        assert all(math.dist((x, y), other) >= MIN_OBJECT_GAP for other in placed), name
        placed.append((x, y))


def test_bridge_maps_exactly_the_camera_topics_the_nodes_read():
    entries = _bridge()
    assert all(set(e) == {"ros_topic_name", "gz_topic_name", "ros_type_name", "gz_type_name", "direction"}
               for e in entries)
    assert all(e["direction"] == "GZ_TO_ROS" for e in entries)
    bridged = {e["ros_topic_name"]: e for e in entries}
    assert set(bridged) == {keys.IMAGE, keys.CAMERA_INFO}
    gz_types = {"sensor_msgs/msg/Image": "gz.msgs.Image", "sensor_msgs/msg/CameraInfo": "gz.msgs.CameraInfo"}
    for topic, entry in bridged.items():
        assert entry["ros_type_name"] == keys.RECORDED_TOPICS[topic]
        assert entry["gz_type_name"] == gz_types[entry["ros_type_name"]]
    sensor = _models(_world())[scene.CAMERA_NAME].find("link/sensor")
    image_topic = sensor.find("topic").text
    assert bridged[keys.IMAGE]["gz_topic_name"] == image_topic
    # gz-sensors publishes the camera info beside the image: the image topic's parent + /camera_info.
    assert bridged[keys.CAMERA_INFO]["gz_topic_name"] == image_topic.rsplit("/", 1)[0] + "/camera_info"


def test_every_topic_the_recorder_and_policy_read_has_one_source_in_the_gazebo_stack():
    # recorder inputs from the robot; Gazebo's camera is bridged raw (the compressed topic is optional)
    robot_side = set(keys.RECORDED_TOPICS) - {keys.POSE_CMD, keys.GRIPPER_CMD, keys.IMAGE_COMPRESSED}
    policy_inputs = {keys.IMAGE, keys.EE_POSE}
    needed = robot_side | policy_inputs
    bridged = {e["ros_topic_name"] for e in _bridge()}
    adapter = (REPO / "src" / "am_real_arm" / "am_real_arm" / "adapter_node.py").read_text()
    from_adapter = {keys.EE_POSE} if "create_publisher(PoseStamped, keys.EE_POSE" in adapter else set()
    controllers = yaml.safe_load((PACKAGE / "config" / "controllers.yaml").read_text())
    manager = controllers["controller_manager"]["ros__parameters"]
    from_ros2_control = ({keys.JOINT_STATES} if manager["joint_state_broadcaster"]["type"]
                         == "joint_state_broadcaster/JointStateBroadcaster" else set())
    sources = [bridged, from_adapter, from_ros2_control]
    assert set().union(*sources) == needed
    assert sum(len(s) for s in sources) == len(needed)  # no topic with two publishers
    assert not bridged & {keys.POSE_CMD, keys.GRIPPER_CMD, "/clock"}  # commands go to the adapter; /clock is
    # bridged by ur_sim_control.launch.py already


def _adapter_params() -> dict:
    return yaml.safe_load((REPO / "config" / "gazebo.yaml").read_text())["real_arm_adapter"]["ros__parameters"]


def test_servo_controllers_and_adapter_agree():
    adapter = _adapter_params()
    servo = yaml.safe_load((PACKAGE / "config" / "servo.yaml").read_text())
    controllers = yaml.safe_load((PACKAGE / "config" / "controllers.yaml").read_text())
    manager = controllers["controller_manager"]["ros__parameters"]
    launch = (PACKAGE / "launch" / "gz_cell.launch.py").read_text()
    assert 'package="moveit_servo", executable="servo_node", name="servo_node"' in launch
    assert adapter["servo_pose_topic"] == "/servo_node/" + servo["pose_command_in_topic"].removeprefix("~/")
    assert adapter["servo_command_type_service"] == "/servo_node/switch_command_type"
    assert adapter["servo_pause_service"] == "/servo_node/pause_servo"
    assert servo["ee_frame"] == adapter["ee_frame"] and servo["planning_frame"] == adapter["frame_id"]
    out = servo["command_out_topic"]
    controller = out.strip("/").split("/")[0]
    assert out == f"/{controller}/commands" and servo["command_out_type"] == "std_msgs/Float64MultiArray"
    assert manager[controller]["type"] == "position_controllers/JointGroupPositionController"
    assert '"initial_joint_controller": "' + controller + '"' in launch
    assert controllers[controller]["ros__parameters"]["joints"] == [
        "shoulder_pan_joint", "shoulder_lift_joint", "elbow_joint", "wrist_1_joint", "wrist_2_joint", "wrist_3_joint"]
    gripper = adapter["gripper_action"].strip("/").split("/")[0]
    assert adapter["gripper_action"] == f"/{gripper}/gripper_cmd" and adapter["gripper_interface"] == "action"
    assert manager[gripper]["type"] == "position_controllers/GripperActionController"
    assert f'arguments=["{gripper}", ' in launch
    xacro = ET.parse(PACKAGE / "urdf" / "am_ur_robotiq.urdf.xacro").getroot()
    commanded = {j.get("name") for rc in xacro.iter("ros2_control") for j in rc.findall("joint")
                 if j.find("command_interface[@name='position']") is not None}
    assert controllers[gripper]["ros__parameters"]["joint"] in commanded
    assert adapter["gripper_closed_position"] == 0.8  # the 2F-85 driver joint's closed travel, as in keys
    assert keys.GRIPPER_CLOSED_RAD == 0.8


def test_xacro_spawns_the_arm_under_gz_ros2_control_with_our_controllers():
    root = ET.parse(PACKAGE / "urdf" / "am_ur_robotiq.urdf.xacro").getroot()
    ns = "{http://wiki.ros.org/xacro}"
    args = {a.get("name") for a in root.iter(ns + "arg")}
    # ur_sim_control.launch.py calls xacro with these arguments.
    assert {"name", "ur_type", "tf_prefix", "safety_limits", "safety_pos_margin", "safety_k_position",
            "simulation_controllers"} <= args
    plugin = root.find("gazebo/plugin")
    assert plugin.get("filename") == "gz_ros2_control-system"
    assert plugin.find("parameters").text == "$(arg simulation_controllers)"
    includes = [i.get("filename") for i in root.iter(ns + "include")]
    packages = {re.match(r"\$\(find (\w+)\)", f).group(1) for f in includes}
    package_xml = (PACKAGE / "package.xml").read_text()
    assert all(f"<exec_depend>{p}</exec_depend>" in package_xml for p in packages), packages
    hardware = {h.text for rc in root.iter("ros2_control") for h in rc.iter("plugin")}
    assert hardware == {"gz_ros2_control/GazeboSimSystem"}


def _calls(tree: ast.AST, name: str) -> list[ast.Call]:
    return [c for c in ast.walk(tree) if isinstance(c, ast.Call) and getattr(c.func, "id", "") == name]


def _kw(call: ast.Call, name: str):
    return next((kw.value for kw in call.keywords if kw.arg == name), None)


def _package_files(tree: ast.AST, package: str) -> list[list]:
    """The constant parts of each PathJoinSubstitution([FindPackageShare(package), ...]) in ``tree``."""
    found = []
    for call in _calls(tree, "PathJoinSubstitution"):
        parts = call.args[0].elts
        first = parts[0]
        if (isinstance(first, ast.Call) and getattr(first.func, "id", "") == "FindPackageShare"
                and first.args[0].value == package):
            found.append([p.value if isinstance(p, ast.Constant) else None for p in parts[1:]])
        elif isinstance(first, ast.Name):  # share = FindPackageShare("am_gazebo")
            found.append([p.value if isinstance(p, ast.Constant) else None for p in parts[1:]])
    return found


def test_gz_cell_launch_references_existing_files_and_known_packages():
    source = (PACKAGE / "launch" / "gz_cell.launch.py").read_text()
    tree = ast.parse(source)
    for parts in _package_files(tree, "am_gazebo"):
        folder = PACKAGE / parts[0]
        if parts[-1] is None:  # worlds/am_cell_<layout>.sdf
            assert parts[0] == "worlds"
            assert {world_file_name(name) for name in LAYOUTS} <= {p.name for p in folder.iterdir()}
        else:
            assert (folder / parts[-1]).is_file(), parts
    nodes = [(ast.literal_eval(_kw(c, "package")), ast.literal_eval(_kw(c, "executable")))
             for c in _calls(tree, "Node")]
    assert {p for p, _ in nodes} <= EXTERNAL_PACKAGES
    package_xml = (PACKAGE / "package.xml").read_text()
    assert all(f"<exec_depend>{p}</exec_depend>" in package_xml for p in EXTERNAL_PACKAGES)
    include = _calls(tree, "IncludeLaunchDescription")[0]
    passed = {k.value for k in _kw(include, "launch_arguments").func.value.keys}
    assert passed <= UR_SIM_CONTROL_ARGS
    setup = (PACKAGE / "setup.py").read_text()
    for folder, pattern in (("worlds", "*.sdf"), ("config", "*.yaml"), ("urdf", "*.xacro"), ("launch", "*.launch.py")):
        assert f'share("{folder}", "{pattern}")' in setup


def test_gazebo_launch_includes_the_cell_and_starts_the_adapter():
    source = (REPO / "launch" / "gazebo.launch.py").read_text()
    tree = ast.parse(source)
    assert _package_files(tree, "am_gazebo") == [["launch", "gz_cell.launch.py"]]
    include = _calls(tree, "IncludeLaunchDescription")[0]
    passed = {k.value for k in _kw(include, "launch_arguments").func.value.keys}
    cell_args = {c.args[0].value for c in _calls(ast.parse((PACKAGE / "launch" / "gz_cell.launch.py").read_text()),
                                                 "DeclareLaunchArgument")}
    assert passed <= cell_args
    nodes = [{k: ast.literal_eval(_kw(c, k)) for k in ("package", "executable", "name")} for c in _calls(tree, "Node")]
    assert nodes == [{"package": "am_real_arm", "executable": "adapter_node", "name": "real_arm_adapter"}]
    assert '"adapter_node = ' in (REPO / "src" / "am_real_arm" / "setup.py").read_text()


def test_colcon_installs_the_gazebo_files_into_share(tmp_path):
    colcon = Path(sys.executable).with_name("colcon")
    if not colcon.exists():
        pytest.skip("colcon is not installed (pip install -r requirements-dev.txt)")
    result = subprocess.run([str(colcon), "--log-base", str(tmp_path / "log"), "build", "--base-paths", str(PACKAGE),
                             "--build-base", str(tmp_path / "build"), "--install-base", str(tmp_path / "install")],
                            capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    share = tmp_path / "install" / "am_gazebo" / "share" / "am_gazebo"
    for path in [*WORLDS.glob("*.sdf"), *(PACKAGE / "config").glob("*.yaml"), *(PACKAGE / "urdf").glob("*.xacro"),
                 *(PACKAGE / "launch").glob("*.launch.py")]:
        assert (share / path.parent.name / path.name).read_text() == path.read_text(), path

"""docker/ checked without docker (no daemon here): pins, copied files, apt packages, entrypoint and compose."""

import ast
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[3]
DOCKER = REPO / "docker"
# What the ros:jazzy (ros-base) image already holds of the ros-jazzy-* wheels in requirements.txt.
ROS_BASE = {"ros-jazzy-rclpy", "ros-jazzy-std-msgs", "ros-jazzy-std-srvs", "ros-jazzy-sensor-msgs",
            "ros-jazzy-geometry-msgs", "ros-jazzy-rosgraph-msgs", "ros-jazzy-rmw-fastrtps-cpp",
            "ros-jazzy-tf2-ros", "ros-jazzy-controller-manager"}


def _requirements() -> list[str]:
    return [line.strip() for line in (REPO / "requirements.txt").read_text().splitlines()]


def _pins() -> dict[str, str]:
    return dict(line.split("==", 1) for line in _requirements() if "==" in line and not line.startswith("#"))


def _dockerfile() -> str:
    return (DOCKER / "Dockerfile").read_text()


def _apt_packages() -> set[str]:
    return set(re.findall(r"^\s+(ros-jazzy-[a-z0-9-]+)", _dockerfile(), re.MULTILINE))


def test_python_pins_in_the_image_are_the_projects():
    dockerfile, pins = _dockerfile(), _pins()
    assert re.search(r"^FROM ros:jazzy$", dockerfile, re.MULTILINE)
    torch = re.search(r"^ARG TORCH_VERSION=(\S+)$", dockerfile, re.MULTILINE).group(1)
    assert torch == pins["torch"]
    assert re.search(r"^ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu$", dockerfile, re.MULTILINE)
    for name, version in re.findall(r"([A-Za-z][\w.-]*)==([0-9][\w.]*)", dockerfile):
        assert pins.get(name) == version, f"Dockerfile pins {name}=={version}, requirements.txt {pins.get(name)}"
    # The image installs requirements.txt itself, filtered by this grep: check what the filter keeps.
    pattern = re.search(r"grep -Ev '([^']+)' requirements.txt", dockerfile).group(1)
    kept = [line for line in _requirements() if line and not line.startswith("#") and not re.search(pattern, line)]
    assert kept and all(re.fullmatch(r"[\w.-]+==[\w.]+", line) for line in kept), kept
    names = {line.split("==")[0] for line in kept}
    assert {"mujoco", "ogbench", "numpy", "rosbags", "safetensors"} <= names
    assert not any(n.startswith("ros-jazzy-") or n == "torch" for n in names)


def test_ros_wheels_of_the_venv_come_from_apt_in_the_image():
    wheels = {line.split("==")[0] for line in _requirements() if line.startswith("ros-jazzy-")}
    missing = wheels - _apt_packages() - ROS_BASE
    assert not missing, f"ros-jazzy wheels without an apt package in the image: {sorted(missing)}"


def test_ros_packages_our_packages_need_are_installed_in_the_image():
    import xml.etree.ElementTree as ET

    ours = {p.name for p in (REPO / "src").iterdir() if (p / "package.xml").is_file()}
    base = {"rclpy", "std_msgs", "std_srvs", "sensor_msgs", "geometry_msgs", "rosgraph_msgs", "launch",
            "launch_ros", "python3-yaml", "python3-pytest", "tf2_ros", "controller_manager"}
    needed = set()
    for package in ("am_gazebo", "am_real_arm"):
        root = ET.parse(REPO / "src" / package / "package.xml").getroot()
        needed |= {e.text for e in root.iter("exec_depend")}
    apt = {name.removeprefix("ros-jazzy-").replace("-", "_") for name in _apt_packages()}
    missing = needed - ours - base - apt
    assert not missing, f"exec_depends with no apt package in docker/Dockerfile: {sorted(missing)}"


def test_copied_files_exist_and_the_entrypoint_launches_reach_goal():
    copies = re.findall(r"^COPY (\S+) ", _dockerfile(), re.MULTILINE)
    assert {"requirements.txt", "src", "launch", "config", "docker/entrypoint.sh"} <= set(copies)
    for source in copies:
        assert (REPO / source).exists(), source
    entrypoint = (DOCKER / "entrypoint.sh").read_text()
    assert "source /opt/ros/jazzy/setup.bash" in entrypoint and "source /ws/install/setup.bash" in entrypoint
    assert 'exec ros2 launch am_bringup reach_goal.launch.py "$@"' in entrypoint
    assert 'ENTRYPOINT ["/entrypoint.sh"]' in _dockerfile()
    if shutil.which("bash"):
        assert subprocess.run(["bash", "-n", str(DOCKER / "entrypoint.sh")]).returncode == 0
    ignored = (DOCKER / "Dockerfile.dockerignore").read_text().split()
    assert ".venv" in ignored and ".git" in ignored


def _launch_arguments(launch: Path) -> set[str]:
    tree = ast.parse(launch.read_text())
    return {call.args[0].value for call in ast.walk(tree) if isinstance(call, ast.Call)
            and getattr(call.func, "id", "") == "DeclareLaunchArgument"}


def test_compose_runs_sim_policy_and_recorder_on_one_ros_graph():
    compose = yaml.safe_load((DOCKER / "compose.yaml").read_text())
    services = compose["services"]
    assert set(services) == {"sim", "policy", "recorder"}
    for name, service in services.items():
        assert service["network_mode"] == "host", name
        assert service["environment"]["ROS_DOMAIN_ID"] == "${ROS_DOMAIN_ID:-0}", name
        assert service["build"]["dockerfile"] == "docker/Dockerfile"
        assert (DOCKER / service["build"]["context"] / service["build"]["dockerfile"]).is_file()
    sim = services["sim"]["command"]
    assert sim[:3] == ["ros2", "launch", "am_bringup"] and (REPO / "launch" / sim[3]).is_file()
    # The policy service passes launch arguments to the image's default reach_goal.launch.py.
    declared = _launch_arguments(REPO / "launch" / "reach_goal.launch.py")
    args = services["policy"]["command"]
    assert all(":=" in a for a in args) and {a.split(":=")[0] for a in args} <= declared
    assert "sim:=false" in args
    recorder = services["recorder"]["command"]
    assert recorder[:3] == ["ros2", "run", "am_dataset_recorder"]
    assert f'"{recorder[3]} = ' in (REPO / "src" / "am_dataset_recorder" / "setup.py").read_text()


@pytest.mark.parametrize("launch", ["gazebo.launch.py", "real_arm.launch.py"])
def test_new_launch_files_default_to_an_adapter_config(launch):
    source = (REPO / "launch" / launch).read_text()
    config = re.search(r'"config", "(\w+\.yaml)"', source).group(1)
    assert "real_arm_adapter" in yaml.safe_load((REPO / "config" / config).read_text())
    assert 'package="am_real_arm", executable="adapter_node", name="real_arm_adapter"' in source


@pytest.mark.parametrize("config", ["gazebo.yaml", "real_arm.yaml", "real_arm_franka.yaml"])
def test_adapter_configs_use_declared_parameters_with_valid_values(config):
    import dataclasses

    from am_real_arm.adapter_node import EE_POSE_SOURCES, GRIPPER_INTERFACES, NODE_PARAMETERS
    from am_real_arm.mapping import AdapterConfig

    params = yaml.safe_load((REPO / "config" / config).read_text())["real_arm_adapter"]["ros__parameters"]
    fields = {f.name for f in dataclasses.fields(AdapterConfig)}
    assert set(params) <= fields | set(NODE_PARAMETERS) | {"use_sim_time"}, set(params) - fields - set(NODE_PARAMETERS)
    AdapterConfig(**{k: v for k, v in params.items() if k in fields})  # raises ConfigError on a bad value
    assert params["ee_pose_source"] in EE_POSE_SOURCES and params["gripper_interface"] in GRIPPER_INTERFACES

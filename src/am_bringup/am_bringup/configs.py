"""Finding and reading the parameter YAML files in config/ (the same files launch files use)."""

from __future__ import annotations

import sys
from pathlib import Path

import yaml


class ConfigFileError(Exception):
    """A configuration file that is missing or not ROS 2 parameter YAML; the message names the file."""


def config_dirs() -> list[Path]:
    """Where named configurations are looked up, first match wins.

    The source checkout's config/ (an editable install), the package's share directory in a colcon
    install (ament index), then the share directory of a pip install.
    """
    dirs = [Path(__file__).resolve().parents[3] / "config"]
    try:
        from ament_index_python.packages import PackageNotFoundError, get_package_share_directory
        try:
            dirs.append(Path(get_package_share_directory("am_bringup")) / "config")
        except (PackageNotFoundError, OSError):  # OSError: AMENT_PREFIX_PATH unset (pip install)
            pass
    except ImportError:
        pass
    dirs.append(Path(sys.prefix) / "share" / "am_bringup" / "config")
    return [d for d in dirs if d.is_dir()]


def available_configs() -> list[str]:
    """Names of the configurations that ``am run NAME`` can start."""
    names: set[str] = set()
    for d in config_dirs():
        names.update(p.stem for p in d.glob("*.yaml"))
    return sorted(names)


def find_config(name_or_path: str) -> Path:
    """Path of a configuration given by name (``demo``) or by a path to a YAML file."""
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") or path.exists():
        if not path.is_file():
            raise ConfigFileError(f"configuration file {path} does not exist")
        return path
    for d in config_dirs():
        candidate = d / f"{name_or_path}.yaml"
        if candidate.is_file():
            return candidate
    known = ", ".join(available_configs()) or "none found"
    raise ConfigFileError(f"unknown configuration {name_or_path!r}; known configurations: {known}")


def read_node_params(path: Path) -> dict[str, dict]:
    """``{node_name: {param: value}}`` of a ROS 2 parameter file (``<node>: ros__parameters: ...``)."""
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ConfigFileError(f"{path} is not valid YAML: {exc}") from exc
    if not isinstance(raw, dict) or not raw:
        raise ConfigFileError(f"{path} holds no nodes; expected '<node_name>: ros__parameters: ...' entries")
    nodes = {}
    for node, body in raw.items():
        if not isinstance(body, dict) or "ros__parameters" not in body:
            raise ConfigFileError(f"{path}: entry {node!r} has no 'ros__parameters' mapping")
        nodes[str(node)] = body["ros__parameters"] or {}
    return nodes


DDS_PROFILE = "fastdds_large_frames.xml"
DDS_PROFILE_VARIABLE = "FASTRTPS_DEFAULT_PROFILES_FILE"  # Fast DDS 2.x (ROS 2 Jazzy) reads this one


def use_dds_profile() -> str | None:
    """Point Fast DDS at config/fastdds_large_frames.xml for this process and its children, unless the
    environment already names a profile file; returns the file in use. Call before the first rclpy node."""
    import os

    if os.environ.get(DDS_PROFILE_VARIABLE):
        return os.environ[DDS_PROFILE_VARIABLE]
    if os.environ.get("AM_NO_DDS_PROFILE"):  # Fast DDS defaults, on purpose (benchmarks compare them)
        return None
    for folder in config_dirs():
        if (folder / DDS_PROFILE).is_file():
            os.environ[DDS_PROFILE_VARIABLE] = str(folder / DDS_PROFILE)
            return os.environ[DDS_PROFILE_VARIABLE]
    return None

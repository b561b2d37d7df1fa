"""The Gazebo Harmonic worlds, generated from the MuJoCo cell's own definitions so the two cannot drift.

    ros2 run am_gazebo write_worlds [FOLDER]      # or: python -m am_gazebo.world [FOLDER]

Writes ``am_cell_<layout>.sdf`` for every layout of :mod:`actionable_models.sim.layouts`: the table with
its rim, the open container where the layout puts it, the layout's objects (same shapes, sizes, colours
and masses) and the over-the-shoulder camera at :class:`CellConfig`'s pose, field of view and image size,
publishing on the Gazebo topics that ``config/bridge.yaml`` maps to /camera/image_raw and
/camera/camera_info. The MuJoCo cell places objects at random per seed; a world holds one fixed,
reachable arrangement (:data:`OBJECT_POSES`). The arm is not in the world: the launch file spawns the
UR5e + 2F-85 from its robot_description (urdf/am_ur_robotiq.urdf.xacro), with its base at the origin, as
in the MuJoCo cell. Default FOLDER: the ``worlds/`` folder beside this package's source.
"""

from __future__ import annotations

import math
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np

WORLD_NAME = "am_cell"
SDF_VERSION = "1.11"  # Gazebo Harmonic (sdformat 14); gz_frame_id needs it
IMAGE_TOPIC = "/am/camera/image"  # Gazebo side; the camera info goes to the sibling .../camera_info
CAMERA_INFO_TOPIC = "/am/camera/camera_info"
CAMERA_FRAME_ID = "shoulder_camera_optical_frame"  # the sim node's camera_frame_id
# One arrangement (x, y, yaw) inside the cell's object area, clear of the container in every layout.
OBJECT_POSES: dict[str, tuple[float, float, float]] = {
    "red_cube": (0.34, -0.12, 0.0),
    "green_cylinder": (0.34, 0.0, 0.0),
    "blue_bar": (0.34, 0.12, 0.5),
    "yellow_egg": (0.48, 0.0, 0.3),
    "purple_capsule": (0.60, 0.0, 0.0),
}


def _num(value: float) -> str:
    text = f"{float(value):.6f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _vec(values) -> str:
    return " ".join(_num(v) for v in values)


def camera_pose(config) -> tuple[np.ndarray, np.ndarray]:
    """SDF pose (xyz, roll-pitch-yaw) of a Gazebo camera (looks along +x, +z up) at ``config``'s camera."""
    pos = np.asarray(config.camera_pos, dtype=float)
    forward = np.asarray(config.camera_target, dtype=float) - pos
    forward /= np.linalg.norm(forward)
    yaw = math.atan2(forward[1], forward[0])
    pitch = math.asin(-forward[2])  # positive: looking down
    return pos, np.array([0.0, pitch, yaw])


def horizontal_fov(config) -> float:
    """Gazebo's horizontal field of view (radians) for the cell's vertical one and image aspect."""
    half = math.radians(config.camera_fovy_deg) / 2.0
    return 2.0 * math.atan(math.tan(half) * config.image_width / config.image_height)


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attrib) -> ET.Element:
    element = ET.SubElement(parent, tag, attrib)
    if text is not None:
        element.text = text
    return element


def _material(parent: ET.Element, rgba) -> None:
    material = _sub(parent, "material")
    _sub(material, "ambient", _vec(rgba))
    _sub(material, "diffuse", _vec(rgba))
    _sub(material, "specular", "0.1 0.1 0.1 1")


def _box_geometry(parent: ET.Element, full_size) -> None:
    _sub(_sub(_sub(parent, "geometry"), "box"), "size", _vec(full_size))


def _add_box(link: ET.Element, name: str, center, half, rgba) -> None:
    """A static box (collision + visual) as MuJoCo's box geom: centre and half extents."""
    for kind in ("collision", "visual"):
        element = _sub(link, kind, name=f"{name}_{kind}")
        _sub(element, "pose", _vec([*center, 0, 0, 0]))
        _box_geometry(element, [2 * h for h in half])
        if kind == "visual":
            _material(element, rgba)


def _object_geometry(parent: ET.Element, shape: str, size) -> None:
    geometry = _sub(parent, "geometry")
    if shape == "box":
        _sub(_sub(geometry, "box"), "size", _vec([2 * s for s in size]))
    elif shape == "cylinder":
        cylinder = _sub(geometry, "cylinder")
        _sub(cylinder, "radius", _num(size[0]))
        _sub(cylinder, "length", _num(2 * size[1]))
    elif shape == "ellipsoid":
        _sub(_sub(geometry, "ellipsoid"), "radii", _vec(size))
    elif shape == "capsule":  # MuJoCo: radius, half length of the cylinder part; SDF: radius, that length
        capsule = _sub(geometry, "capsule")
        _sub(capsule, "radius", _num(size[0]))
        _sub(capsule, "length", _num(2 * size[1]))
    else:
        raise ValueError(f"no SDF geometry for MuJoCo shape {shape!r}")


def _inertia(shape: str, size, mass: float, lying: bool) -> tuple[float, float, float]:
    """Principal moments (ixx, iyy, izz) of a uniform solid, in the body frame."""
    if shape == "box":
        x, y, z = (2 * s for s in size)
        moments = (y * y + z * z, x * x + z * z, x * x + y * y)
        ixx, iyy, izz = (mass * m / 12.0 for m in moments)
    elif shape == "ellipsoid":
        a, b, c = size
        ixx, iyy, izz = (mass * (b * b + c * c) / 5, mass * (a * a + c * c) / 5, mass * (a * a + b * b) / 5)
    else:  # cylinder, and a capsule taken as a cylinder of its full length
        r = size[0]
        h = 2 * size[1] + (2 * r if shape == "capsule" else 0.0)
        ixx = iyy = mass * (3 * r * r + h * h) / 12.0
        izz = mass * r * r / 2.0
    if lying:  # axis turned from z onto x
        ixx, izz = izz, ixx
    return ixx, iyy, izz


def _add_object(world: ET.Element, spec, x: float, y: float, yaw: float) -> None:
    model = _sub(world, "model", name=spec.name)
    _sub(model, "pose", _vec([x, y, spec.rest_height + 0.002, 0, 0, yaw]))
    link = _sub(model, "link", name="link")
    inertial = _sub(link, "inertial")
    _sub(inertial, "mass", _num(spec.mass))
    inertia = _sub(inertial, "inertia")
    for axis, value in zip(("ixx", "iyy", "izz"), _inertia(spec.shape, spec.size, spec.mass, spec.lying)):
        _sub(inertia, axis, f"{value:.3e}")
    for axis in ("ixy", "ixz", "iyz"):
        _sub(inertia, axis, "0")
    geometry_pose = _vec([0, 0, 0, 0, math.pi / 2 if spec.lying else 0, 0])
    for kind in ("collision", "visual"):
        element = _sub(link, kind, name=kind)
        _sub(element, "pose", geometry_pose)
        _object_geometry(element, spec.shape, spec.size)
        if kind == "collision":
            ode = _sub(_sub(_sub(element, "surface"), "friction"), "ode")
            _sub(ode, "mu", "1.0")
            _sub(ode, "mu2", "1.0")
        else:
            _material(element, spec.rgba)


def _add_table(world: ET.Element, scene) -> None:
    ground = _sub(world, "model", name="floor")
    _sub(ground, "static", "true")
    _sub(ground, "pose", _vec([0, 0, scene.FLOOR_Z, 0, 0, 0]))
    link = _sub(ground, "link", name="link")
    for kind in ("collision", "visual"):
        element = _sub(link, kind, name=kind)
        plane = _sub(_sub(element, "geometry"), "plane")
        _sub(plane, "normal", "0 0 1")
        _sub(plane, "size", "6 6")
        if kind == "visual":
            _material(element, [0.25, 0.25, 0.28, 1])

    table = _sub(world, "model", name="table")
    _sub(table, "static", "true")
    link = _sub(table, "link", name="link")
    hx, hy, hz = scene.TABLE_HALF
    _add_box(link, "top", [scene.TABLE_CENTER[0], scene.TABLE_CENTER[1], -hz], [hx, hy, hz], [0.62, 0.50, 0.38, 1])
    (x0, x1), (y0, y1) = scene.RIM_INNER
    t, h = scene.RIM_THICKNESS / 2, scene.RIM_HEIGHT / 2
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    sx, sy = (x1 - x0) / 2 + 2 * t, (y1 - y0) / 2 + 2 * t
    rims = (([x0 - t, cy, h], [t, sy, h]), ([x1 + t, cy, h], [t, sy, h]),
            ([cx, y0 - t, h], [sx, t, h]), ([cx, y1 + t, h], [sx, t, h]))
    for i, (center, half) in enumerate(rims):
        _add_box(link, f"rim{i}", center, half, [0.45, 0.36, 0.27, 1])


def _add_container(world: ET.Element, scene, xy) -> None:
    model = _sub(world, "model", name=scene.CONTAINER_BODY)
    _sub(model, "static", "true")  # a mocap body in MuJoCo: it never moves
    _sub(model, "pose", _vec([xy[0], xy[1], 0, 0, 0, 0]))
    link = _sub(model, "link", name="link")
    h, t, wall = scene.CONTAINER_HALF, scene.CONTAINER_WALL / 2, scene.CONTAINER_WALL_HEIGHT / 2
    _add_box(link, "container_floor", [0, 0, t], [h, h, t], [0.93, 0.93, 0.88, 1])
    for i, (dx, dy) in enumerate(((1, 0), (-1, 0), (0, 1), (0, -1))):
        half = [t, h, wall] if dx else [h, t, wall]
        _add_box(link, f"container_wall{i}", [dx * (h - t), dy * (h - t), wall], half, [0.95, 0.55, 0.15, 1])


def _add_camera(world: ET.Element, config, scene) -> None:
    pos, rpy = camera_pose(config)
    model = _sub(world, "model", name=scene.CAMERA_NAME)
    _sub(model, "static", "true")
    _sub(model, "pose", _vec([*pos, *rpy]))
    link = _sub(model, "link", name="link")
    sensor = _sub(link, "sensor", name=scene.CAMERA_NAME, type="camera")
    _sub(sensor, "always_on", "true")
    _sub(sensor, "update_rate", _num(config.control_rate_hz))
    _sub(sensor, "topic", IMAGE_TOPIC)
    _sub(sensor, "gz_frame_id", CAMERA_FRAME_ID)
    camera = _sub(sensor, "camera", name=scene.CAMERA_NAME)
    _sub(camera, "horizontal_fov", _num(horizontal_fov(config)))
    image = _sub(camera, "image")
    _sub(image, "width", str(config.image_width))
    _sub(image, "height", str(config.image_height))
    _sub(image, "format", "R8G8B8")
    clip = _sub(camera, "clip")
    _sub(clip, "near", "0.05")  # the MuJoCo camera's znear / zfar
    _sub(clip, "far", "5")


def _add_systems(world: ET.Element, config) -> None:
    physics = _sub(world, "physics", name="1ms", type="ignored")
    _sub(physics, "max_step_size", "0.001")
    _sub(physics, "real_time_factor", "1.0")
    for filename, name in (("gz-sim-physics-system", "Physics"), ("gz-sim-user-commands-system", "UserCommands"),
                           ("gz-sim-scene-broadcaster-system", "SceneBroadcaster")):
        _sub(world, "plugin", filename=filename, name=f"gz::sim::systems::{name}")
    sensors = _sub(world, "plugin", filename="gz-sim-sensors-system", name="gz::sim::systems::Sensors")
    _sub(sensors, "render_engine", "ogre2")
    _sub(world, "gravity", "0 0 -9.81")
    scene_element = _sub(world, "scene")
    _sub(scene_element, "ambient", "0.35 0.35 0.35 1")
    _sub(scene_element, "background", "0.7 0.7 0.72 1")
    _sub(scene_element, "shadows", "false")
    light = _sub(world, "light", name="sun", type="directional")
    _sub(light, "pose", "0.4 0 1.5 0 0 0")
    _sub(light, "diffuse", "0.55 0.55 0.55 1")
    _sub(light, "specular", "0 0 0 1")
    _sub(light, "direction", "0 0 -1")
    _sub(light, "cast_shadows", "false")


def build_world(layout_name: str = "default", config=None) -> str:
    """The SDF text of the cell with ``layout_name``'s objects and container, for ``config`` (CellConfig())."""
    from actionable_models.sim import scene
    from actionable_models.sim.config import CellConfig
    from actionable_models.sim.layouts import OBJECTS, get_layout

    config = config or CellConfig()
    layout = get_layout(layout_name)
    root = ET.Element("sdf", version=SDF_VERSION)
    world = _sub(root, "world", name=WORLD_NAME)
    _add_systems(world, config)
    _add_table(world, scene)
    _add_container(world, scene, layout.container_xy)
    for name in layout.objects:
        _add_object(world, OBJECTS[name], *OBJECT_POSES[name])
    _add_camera(world, config, scene)
    ET.indent(root, space="  ")
    header = (f"<?xml version=\"1.0\"?>\n<!-- Generated by `ros2 run am_gazebo write_worlds` from the MuJoCo cell's "
              f"definitions (layout {layout_name!r}); do not edit by hand. -->\n")
    return header + ET.tostring(root, encoding="unicode") + "\n"


def world_file_name(layout_name: str) -> str:
    """File name of the world of ``layout_name``."""
    return f"{WORLD_NAME}_{layout_name}.sdf"


def write_worlds(folder: Path) -> list[Path]:
    """Write one world per layout into ``folder``; returns the paths."""
    from actionable_models.sim.layouts import LAYOUTS

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name in LAYOUTS:
        path = folder / world_file_name(name)
        path.write_text(build_world(name))
        paths.append(path)
    return paths


def main(argv: list[str] | None = None) -> None:
    """Entry point of ``write_worlds``: regenerate the worlds after the cell's scene or camera changed."""
    argv = sys.argv[1:] if argv is None else argv
    folder = Path(argv[0]) if argv else Path(__file__).resolve().parents[1] / "worlds"
    for path in write_worlds(folder):
        print(path)


if __name__ == "__main__":
    main()

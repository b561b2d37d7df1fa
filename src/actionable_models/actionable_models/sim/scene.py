"""Builds the cell's MuJoCo model: table with a rim, UR5e + 2F-85, objects, an open container, a camera.

The arm and gripper MJCF and meshes come from the ``ogbench`` package (UR5e: BSD-3-Clause, ROS-Industrial;
2F-85: BSD-2-Clause, ROS-Industrial; their LICENSE files ship beside them in ogbench/manipspace/descriptions).
"""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import mujoco
import numpy as np

from actionable_models.sim.config import CellConfig
from actionable_models.sim.layouts import OBJECTS, ObjectSpec
from actionable_models.sim.lowpoly import lowpoly_mesh

ARM_PREFIX = "arm/"
GRIPPER_PREFIX = "gripper/"
ARM_JOINTS = ("shoulder_pan_joint", "shoulder_lift_joint", "elbow_joint", "wrist_1_joint", "wrist_2_joint",
              "wrist_3_joint")
GRIPPER_JOINT = "right_driver_joint"  # 0 (open) .. 0.8 rad (closed)
PINCH_SITE = "pinch"
CAMERA_NAME = "shoulder_camera"
CONTAINER_BODY = "container"
# Home posture: elbow up, gripper pointing down over the middle of the table.
HOME_QPOS = np.array([0.0, -1.9, 1.9, -1.571, -1.571, 0.0])

# Table: the top surface is z = 0 (the arm's base frame); a low rim keeps pushed objects on it.
TABLE_HALF = (0.42, 0.55, 0.02)
TABLE_CENTER = (0.33, 0.0)
RIM_INNER = ((0.17, 0.73), (-0.40, 0.40))  # x range, y range inside the rim
RIM_HEIGHT = 0.03
RIM_THICKNESS = 0.01
# Container: open box, outer half-extent, wall height and thickness (m).
CONTAINER_HALF = 0.075
CONTAINER_WALL_HEIGHT = 0.055
CONTAINER_WALL = 0.006
FLOOR_Z = -0.75
WORLD_CONTYPE = 1  # table, objects, container: collide with everything
ROBOT_CONTYPE = 2  # arm and gripper: collide with the world only


def descriptions_dir() -> Path:
    """Folder of ogbench's MJCF descriptions, found without importing ogbench (which pulls in gymnasium)."""
    spec = importlib.util.find_spec("ogbench")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("the 'ogbench' package (arm and gripper models) is not installed; "
                                  "install the project's requirements.txt")
    return Path(list(spec.submodule_search_locations)[0]) / "manipspace" / "descriptions"


def _lowpoly_visuals(spec: mujoco.MjSpec, xml_path: Path, cell_m: float) -> None:
    """Point every render-only mesh geom at a decimated copy; drop full meshes nothing else uses."""
    meshdir = xml_path.parent / (spec.meshdir or "")
    visual_meshes = {g.meshname for g in spec.geoms if g.type == mujoco.mjtGeom.mjGEOM_MESH and g.contype == 0
                     and g.conaffinity == 0}
    collision_meshes = {g.meshname for g in spec.geoms if g.type == mujoco.mjtGeom.mjGEOM_MESH
                        and (g.contype or g.conaffinity)}
    for mesh in list(spec.meshes):
        if mesh.name not in visual_meshes:
            continue
        verts, faces = lowpoly_mesh(meshdir / mesh.file, cell_m / float(mesh.scale[0]))
        lowpoly = spec.add_mesh(name=mesh.name + "_lowpoly")
        lowpoly.uservert = verts.ravel().tolist()
        lowpoly.userface = faces.ravel().tolist()
        lowpoly.scale = mesh.scale
        for geom in spec.geoms:
            if geom.meshname == mesh.name and geom.contype == 0 and geom.conaffinity == 0:
                geom.meshname = lowpoly.name
        if mesh.name not in collision_meshes:
            spec.delete(mesh)


def _look_at_xyaxes(pos: np.ndarray, target: np.ndarray) -> list[float]:
    forward = target - pos
    forward /= np.linalg.norm(forward)
    right = np.cross(forward, [0.0, 0.0, 1.0])
    right /= np.linalg.norm(right)
    up = np.cross(right, forward)
    return [*right, *up]


def _add_object(world: mujoco.MjsBody, obj: ObjectSpec) -> None:
    body = world.add_body(name=obj.name, pos=[0.0, 0.0, obj.rest_height])
    body.add_freejoint(name=obj.name + "_joint")
    types = {"box": mujoco.mjtGeom.mjGEOM_BOX, "cylinder": mujoco.mjtGeom.mjGEOM_CYLINDER,
             "ellipsoid": mujoco.mjtGeom.mjGEOM_ELLIPSOID, "capsule": mujoco.mjtGeom.mjGEOM_CAPSULE}
    size = list(obj.size) + [0.0] * (3 - len(obj.size))
    # Rolling shapes get torsional and rolling friction (condim 6) so they come to rest.
    condim = 6 if obj.shape in ("ellipsoid", "capsule", "cylinder") else 4
    quat = [math.cos(math.pi / 4), 0.0, math.sin(math.pi / 4), 0.0] if obj.lying else [1.0, 0.0, 0.0, 0.0]
    body.add_geom(name=obj.name + "_geom", type=types[obj.shape], size=size, rgba=list(obj.rgba), mass=obj.mass,
                  quat=quat, condim=condim, friction=[1.0, 0.01, 0.001], priority=1, solref=[0.004, 1.0],
                  solimp=[0.95, 0.99, 0.001, 0.5, 2.0])


def _add_container(world: mujoco.MjsBody) -> None:
    body = world.add_body(name=CONTAINER_BODY, pos=[0.0, 0.0, 0.0], mocap=True)
    colour = [0.93, 0.93, 0.88, 1.0]
    h, t, wall = CONTAINER_HALF, CONTAINER_WALL / 2, CONTAINER_WALL_HEIGHT / 2
    body.add_geom(name="container_floor", type=mujoco.mjtGeom.mjGEOM_BOX, size=[h, h, t], pos=[0, 0, t],
                  rgba=colour)
    for i, (dx, dy) in enumerate(((1, 0), (-1, 0), (0, 1), (0, -1))):
        size = [t, h, wall] if dx else [h, t, wall]
        body.add_geom(name=f"container_wall{i}", type=mujoco.mjtGeom.mjGEOM_BOX, size=size,
                      pos=[dx * (h - t), dy * (h - t), wall], rgba=[0.95, 0.55, 0.15, 1.0])


def _add_table(world: mujoco.MjsBody) -> None:
    world.add_geom(name="floor", type=mujoco.mjtGeom.mjGEOM_PLANE, size=[3, 3, 0.1], pos=[0, 0, FLOOR_Z],
                   rgba=[0.25, 0.25, 0.28, 1])
    hx, hy, hz = TABLE_HALF
    world.add_geom(name="table", type=mujoco.mjtGeom.mjGEOM_BOX, size=[hx, hy, hz],
                   pos=[TABLE_CENTER[0], TABLE_CENTER[1], -hz], rgba=[0.62, 0.50, 0.38, 1])
    (x0, x1), (y0, y1) = RIM_INNER
    t, h = RIM_THICKNESS / 2, RIM_HEIGHT / 2
    rim = [0.45, 0.36, 0.27, 1]
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    sx, sy = (x1 - x0) / 2 + 2 * t, (y1 - y0) / 2 + 2 * t
    for i, (pos, size) in enumerate((
        ([x0 - t, cy, h], [t, sy, h]), ([x1 + t, cy, h], [t, sy, h]),
        ([cx, y0 - t, h], [sx, t, h]), ([cx, y1 + t, h], [sx, t, h]),
    )):
        world.add_geom(name=f"rim{i}", type=mujoco.mjtGeom.mjGEOM_BOX, size=size, pos=pos, rgba=rim)


def build_spec(config: CellConfig) -> mujoco.MjSpec:
    """The whole cell as an MjSpec (compile with ``.compile()``). Holds every object of every layout."""
    desc = descriptions_dir()
    arm_xml = desc / "universal_robots_ur5e" / "ur5e.xml"
    gripper_xml = desc / "robotiq_2f85" / "2f85.xml"
    arm = mujoco.MjSpec.from_file(str(arm_xml))
    gripper = mujoco.MjSpec.from_file(str(gripper_xml))
    if config.lowpoly_cell_m > 0:
        _lowpoly_visuals(arm, arm_xml, config.lowpoly_cell_m)
        _lowpoly_visuals(gripper, gripper_xml, config.lowpoly_cell_m)
    for light in list(arm.lights):
        arm.delete(light)
    if not config.robot_colours:
        for material in list(arm.materials) + list(gripper.materials):
            material.rgba = [0.5, 0.5, 0.5, 1.0]
    for body in list(arm.bodies) + list(gripper.bodies):
        body.gravcomp = 1.0  # a real arm controller compensates gravity
    for geom in list(arm.geoms) + list(gripper.geoms):
        if geom.contype or geom.conaffinity:
            # Robot geoms touch the world and the objects but not each other: the IK keeps the arm clear
            # of itself, and skipping those pairs halves the cost of collision detection.
            geom.contype, geom.conaffinity = ROBOT_CONTYPE, WORLD_CONTYPE

    spec = mujoco.MjSpec()
    spec.modelname = "am_cell"
    for part in (spec, arm, gripper):  # the same options everywhere, so attaching has no conflicts
        part.option.timestep = config.physics_timestep
        part.option.integrator = mujoco.mjtIntegrator.mjINT_IMPLICITFAST
        part.option.cone = mujoco.mjtCone.mjCONE_ELLIPTIC  # the 2F-85 model is tuned for these two
        part.option.impratio = 10.0
    # Bodies at rest (objects on the table) sleep until touched: halves the cost of a control step.
    spec.option.enableflags |= mujoco.mjtEnableBit.mjENBL_SLEEP
    spec.visual.quality.shadowsize = 0
    spec.visual.quality.offsamples = config.msaa_samples
    # Coarser tessellation of primitives: invisible at 64-128 px, a quarter off the frame cost.
    spec.visual.quality.numslices = 12
    spec.visual.quality.numstacks = 8
    spec.visual.quality.numquads = 1
    spec.visual.headlight.ambient = [0.35, 0.35, 0.35]
    spec.visual.headlight.diffuse = [0.45, 0.45, 0.45]
    spec.visual.headlight.specular = [0.0, 0.0, 0.0]
    spec.visual.map.znear = 0.05
    spec.visual.map.zfar = 5.0

    world = spec.worldbody
    world.add_light(name="sun", pos=[0.4, 0.0, 1.5], dir=[0.0, 0.0, -1.0], castshadow=False,
                    diffuse=[0.55, 0.55, 0.55])
    _add_table(world)
    mount = world.add_frame(pos=[0.0, 0.0, 0.0])
    arm.attach(gripper, prefix=GRIPPER_PREFIX, site=arm.site("attachment_site"))
    spec.attach(arm, prefix=ARM_PREFIX, frame=mount)
    for name in OBJECTS:
        _add_object(world, OBJECTS[name])
    _add_container(world)
    pos = np.asarray(config.camera_pos, dtype=float)
    camera = world.add_camera(name=CAMERA_NAME, pos=pos.tolist(), fovy=config.camera_fovy_deg)
    camera.alt.type = mujoco.mjtOrientation.mjORIENTATION_XYAXES
    camera.alt.xyaxes = _look_at_xyaxes(pos, np.asarray(config.camera_target, dtype=float))
    return spec

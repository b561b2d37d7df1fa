"""The simulated cell: seeded scenes, Cartesian control by differential IK, and a headless camera.

One control step holds the latest command for ``1 / control_rate_hz`` seconds of simulated time. The
command is a target pose of the pinch point (position + yaw) and a gripper closure 0 (open) .. 1
(closed); targets are clamped to the workspace box by the caller (see ``commands.py``). A reference pose
moves toward the target at bounded speed and the arm's joint servos track its IK solution.
"""

from __future__ import annotations

import os
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import mujoco
import numpy as np

from actionable_models.data import keys
from actionable_models.errors import RenderError
from actionable_models.geometry import quat_from_yaw, yaw_from_matrix
from actionable_models.sim import scene
from actionable_models.sim.config import CellConfig
from actionable_models.sim.ik import PinchIK
from actionable_models.sim.layouts import OBJECTS, Layout, get_layout, get_object
from actionable_models.sim.state import SceneState

# Where seeded objects are placed (x range, y range) and how far apart their centres stay (m).
OBJECT_AREA = ((0.31, 0.60), (-0.25, 0.25))
MIN_OBJECT_GAP = 0.085
CONTAINER_CLEARANCE = 0.05
HOME_POS = np.array([0.42, 0.0, 0.22])
SETTLE_SECONDS = 0.4


@dataclass
class ObjectState:
    """Privileged pose of an object (never shown to a learner)."""

    pos: np.ndarray  # (3,)
    quat: np.ndarray  # (4,) w, x, y, z


class Cell:
    """A UR5e + 2F-85 over a table with objects and an open container, stepped one control period at a time."""

    def __init__(self, config: CellConfig | None = None) -> None:
        self.config = config or CellConfig()
        self.model = scene.build_spec(self.config).compile()
        self.data = mujoco.MjData(self.model)
        m = self.model
        self._arm_joint_ids = np.array([m.joint(scene.ARM_PREFIX + j).id for j in scene.ARM_JOINTS])
        self._arm_qpos_adr = m.jnt_qposadr[self._arm_joint_ids]
        self._arm_dof_adr = m.jnt_dofadr[self._arm_joint_ids]
        self._arm_act = np.array([m.actuator(scene.ARM_PREFIX + a).id for a in
                                  ("shoulder_pan", "shoulder_lift", "elbow", "wrist_1", "wrist_2", "wrist_3")])
        self._gripper_act = m.actuator(scene.ARM_PREFIX + scene.GRIPPER_PREFIX + "fingers_actuator").id
        gripper_joint = m.joint(scene.ARM_PREFIX + scene.GRIPPER_PREFIX + scene.GRIPPER_JOINT)
        self._gripper_qpos_adr = m.jnt_qposadr[gripper_joint.id]
        self._gripper_dof_adr = m.jnt_dofadr[gripper_joint.id]
        self._pinch = m.site(scene.ARM_PREFIX + scene.GRIPPER_PREFIX + scene.PINCH_SITE).id
        self._object_body = {name: m.body(name).id for name in OBJECTS}
        self._object_geom = {name: m.geom(name + "_geom").id for name in OBJECTS}
        pad_geoms = {side: {g for g in range(m.ngeom) if m.body(m.geom_bodyid[g]).name.endswith(side + "_pad")
                            and (m.geom_contype[g] or m.geom_conaffinity[g])} for side in ("left", "right")}
        self._left_pad_geoms, self._right_pad_geoms = pad_geoms["left"], pad_geoms["right"]
        self._object_qpos_adr = {name: m.jnt_qposadr[m.joint(name + "_joint").id] for name in OBJECTS}
        self._object_dof_adr = {name: m.jnt_dofadr[m.joint(name + "_joint").id] for name in OBJECTS}
        self._container_mocap = m.body_mocapid[m.body(scene.CONTAINER_BODY).id]
        self._camera = m.camera(scene.CAMERA_NAME).id
        self._stiffen_arm_servos()
        self._ik = PinchIK(m, self._pinch, self._arm_qpos_adr, self._arm_dof_adr)
        self._renderer: mujoco.Renderer | None = None
        self._gl_thread: ThreadPoolExecutor | None = None
        self._scene_option = mujoco.MjvOption()
        self._scene_option.geomgroup[:] = [1, 1, 1, 0, 0, 0]  # visual groups only; collision hulls stay hidden
        self.layout: Layout = get_layout(self.config.layout)
        self.seed = 0
        self.steps = 0
        self.target_pos = HOME_POS.copy()
        self.target_yaw = 0.0
        self.gripper_cmd = 0.0
        self._ref_pos = HOME_POS.copy()
        self._ref_yaw = 0.0
        self.reset(0)

    def _stiffen_arm_servos(self) -> None:
        # Stiffer joint servos than the stock model so that Cartesian tracking is tight at the control rate.
        kp = np.array([4500.0, 4500.0, 4500.0, 2000.0, 2000.0, 500.0])
        self.model.actuator_gainprm[self._arm_act, 0] = kp
        self.model.actuator_biasprm[self._arm_act, 1] = -kp
        self.model.actuator_biasprm[self._arm_act, 2] = -0.2 * kp

    # ----------------------------------------------------------------------------------------- reset
    def reset(self, seed: int, layout: str | None = None) -> None:
        """Seeded scene: objects of the layout at random poses, the arm at home with the gripper open."""
        if layout is not None:
            self.layout = get_layout(layout)
        self.seed = int(seed)
        rng = np.random.default_rng(self.seed)
        mujoco.mj_resetData(self.model, self.data)
        self.data.qpos[self._arm_qpos_adr] = scene.HOME_QPOS
        cx, cy = self.layout.container_xy
        self.data.mocap_pos[self._container_mocap] = [cx, cy, 0.0]
        placed: list[np.ndarray] = []
        for i, name in enumerate(OBJECTS):
            adr = self._object_qpos_adr[name]
            spec = OBJECTS[name]
            if name in self.layout.objects:
                xy = self._sample_free_xy(rng, placed)
                placed.append(xy)
                yaw = rng.uniform(-np.pi, np.pi)
                pos = [xy[0], xy[1], spec.rest_height + 0.002]
            else:  # parked off the table, out of the camera's view
                yaw, pos = 0.0, [-1.5, -1.0 + 0.4 * i, scene.FLOOR_Z + 0.05]
            self.data.qpos[adr:adr + 3] = pos
            self.data.qpos[adr + 3:adr + 7] = [np.cos(yaw / 2), 0.0, 0.0, np.sin(yaw / 2)]
        mujoco.mj_forward(self.model, self.data)
        home_q = self._ik.solve(self.data.qpos, HOME_POS, quat_from_yaw(0.0), iters=100)
        self.data.qpos[self._arm_qpos_adr] = home_q
        self.data.ctrl[self._arm_act] = home_q
        self.data.ctrl[self._gripper_act] = 0.0
        mujoco.mj_forward(self.model, self.data)
        self.target_pos, self.target_yaw, self.gripper_cmd = HOME_POS.copy(), 0.0, 0.0
        self._ref_pos, self._ref_yaw = HOME_POS.copy(), 0.0
        for _ in range(int(round(SETTLE_SECONDS / self.config.control_period))):
            self.step()
        self.data.time = 0.0
        self.steps = 0

    def _sample_free_xy(self, rng: np.random.Generator, placed: list[np.ndarray]) -> np.ndarray:
        (x0, x1), (y0, y1) = OBJECT_AREA
        container = np.asarray(self.layout.container_xy)
        keep_out = scene.CONTAINER_HALF + CONTAINER_CLEARANCE
        for _ in range(1000):
            xy = np.array([rng.uniform(x0, x1), rng.uniform(y0, y1)])
            if np.all(np.abs(xy - container) < keep_out + 0.03):
                continue
            if all(np.linalg.norm(xy - other) >= MIN_OBJECT_GAP for other in placed):
                return xy
        raise RuntimeError(f"could not place {len(placed) + 1} objects apart in layout {self.layout.name!r}")

    # --------------------------------------------------------------------------------------- control
    def set_command(self, pos: np.ndarray, yaw: float, gripper: float | None = None) -> None:
        """Target pinch pose and, when given, gripper closure; already checked and clamped by the caller."""
        self.target_pos = np.asarray(pos, dtype=float).copy()
        self.target_yaw = float(yaw)
        if gripper is not None:
            self.gripper_cmd = float(gripper)

    def set_gripper(self, gripper: float) -> None:
        """Gripper closure 0 (open) .. 1 (closed), already checked by the caller."""
        self.gripper_cmd = float(gripper)

    def step(self) -> None:
        """Advance one control step: move the reference toward the target, track it, integrate physics.

        The reference moves in ``reference_substeps`` even slices of the control period, each tracked by
        its own IK solution: one jump per control step jerks a held object out of the fingers.
        """
        slices = self.config.reference_substeps
        dt = self.config.control_period / slices
        max_move, max_turn = self.config.max_linear_speed * dt, self.config.max_yaw_rate * dt
        nstep = self.config.substeps // slices
        for i in range(slices):
            delta = self.target_pos - self._ref_pos
            dist = float(np.linalg.norm(delta))
            self._ref_pos = self.target_pos.copy() if dist <= max_move else self._ref_pos + delta * (max_move / dist)
            self._ref_yaw += float(np.clip(self.target_yaw - self._ref_yaw, -max_turn, max_turn))
            self.data.ctrl[self._arm_act] = self._ik.solve(self.data.qpos, self._ref_pos,
                                                           quat_from_yaw(self._ref_yaw))
            self.data.ctrl[self._gripper_act] = 255.0 * self.gripper_cmd
            n = nstep if i < slices - 1 else self.config.substeps - nstep * (slices - 1)
            mujoco.mj_step(self.model, self.data, nstep=n)
        self.steps += 1

    # ------------------------------------------------------------------------------------ observation
    @property
    def time(self) -> float:
        """Simulated seconds since the last reset."""
        return float(self.data.time)

    def ee_pose(self) -> tuple[np.ndarray, float]:
        """Measured pinch-point position (3,) and yaw (rad) in the base frame."""
        return self.data.site_xpos[self._pinch].copy(), yaw_from_matrix(self.data.site_xmat[self._pinch])

    def ee_quat(self) -> np.ndarray:
        """Measured pinch-point orientation as a (w, x, y, z) quaternion."""
        quat = np.zeros(4)
        mujoco.mju_mat2Quat(quat, self.data.site_xmat[self._pinch])
        return quat

    def gripper_closure(self) -> float:
        """Measured finger closure 0 (open) .. 1 (closed)."""
        return float(np.clip(self.data.qpos[self._gripper_qpos_adr] / keys.GRIPPER_CLOSED_RAD, 0.0, 1.0))

    def joint_state(self) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray]:
        """Names, positions, velocities and actuator forces of the six arm joints and the gripper joint."""
        names = list(scene.ARM_JOINTS) + [keys.GRIPPER_JOINT]
        qpos = np.append(self.data.qpos[self._arm_qpos_adr], self.data.qpos[self._gripper_qpos_adr])
        qvel = np.append(self.data.qvel[self._arm_dof_adr], self.data.qvel[self._gripper_dof_adr])
        effort = np.append(self.data.actuator_force[self._arm_act], self.data.actuator_force[self._gripper_act])
        return names, qpos, qvel, effort

    def object_state(self, name: str) -> ObjectState:
        """Privileged pose of one object."""
        body = self._object_body[name]
        return ObjectState(self.data.xpos[body].copy(), self.data.xquat[body].copy())

    def set_object_pose(self, name: str, pos: np.ndarray, quat: np.ndarray) -> None:
        """Privileged: put one object at a pose (position, quaternion w x y z) at rest, all else as it is.
        For diagnostics that render a counterfactual scene (experiments/object_probe.py), never for play."""
        get_object(name)  # an unknown name: UnknownNameError, naming the known ones
        adr, dof = self._object_qpos_adr[name], self._object_dof_adr[name]
        self.data.qpos[adr:adr + 3] = np.asarray(pos, dtype=float)
        self.data.qpos[adr + 3:adr + 7] = np.asarray(quat, dtype=float) / np.linalg.norm(quat)
        self.data.qvel[dof:dof + 6] = 0.0
        mujoco.mj_forward(self.model, self.data)

    def object_states(self) -> dict[str, ObjectState]:
        """Privileged poses of the objects of the current layout."""
        return {name: self.object_state(name) for name in self.layout.objects}

    def container_pos(self) -> np.ndarray:
        """Centre of the container's floor (3,)."""
        return self.data.mocap_pos[self._container_mocap].copy()

    def finger_contacts(self) -> dict[str, int]:
        """For each object of the layout, how many of the two finger pads touch it (privileged)."""
        pairs = self.data.contact.geom[: self.data.ncon]  # (ncon, 2) geom ids
        counts = {}
        for name in self.layout.objects:
            geom = self._object_geom[name]
            touching = set(pairs[pairs[:, 0] == geom, 1]) | set(pairs[pairs[:, 1] == geom, 0])
            counts[name] = int(bool(touching & self._left_pad_geoms)) + int(bool(touching & self._right_pad_geoms))
        return counts

    def scene_state(self) -> SceneState:
        """Privileged snapshot for task checks and scripted controllers."""
        pos, yaw = self.ee_pose()
        objects = {name: np.concatenate([st.pos, st.quat]) for name, st in self.object_states().items()}
        return SceneState(objects=objects, ee_pos=pos, ee_yaw=yaw, gripper=self.gripper_closure(),
                          container=self.container_pos(), layout=self.layout.name, seed=self.seed, step=self.steps,
                          finger_contacts=self.finger_contacts())

    def render(self) -> np.ndarray:
        """The shoulder camera's RGB image, (height, width, 3) uint8.

        Safe to call from any thread: a GL context is current in one thread only, so all GL work runs
        on the cell's own render thread (ROS executors call back from a pool of threads).
        """
        return self.render_async().result()

    def render_async(self) -> Future:
        """Start rendering the current state on the render thread; the Future gives the image.

        Lets a caller publish other messages while the frame renders. Do not step the cell before the
        Future is done.
        """
        if self._gl_thread is None:
            self._gl_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="am-cell-gl")
        return self._gl_thread.submit(self._render_in_gl_thread)

    def _render_in_gl_thread(self) -> np.ndarray:
        if self._renderer is None:
            self._renderer = self._make_renderer()
        self._renderer.update_scene(self.data, camera=self._camera, scene_option=self._scene_option)
        return self._renderer.render()

    def _make_renderer(self) -> mujoco.Renderer:
        try:
            renderer = mujoco.Renderer(self.model, height=self.config.image_height, width=self.config.image_width)
        except Exception as exc:  # noqa: BLE001 - any GL failure means the same thing to the user
            raise RenderError(
                f"cannot start headless rendering (MUJOCO_GL={os.environ.get('MUJOCO_GL')}): {exc}. "
                "Install EGL and Mesa (Debian: apt-get install libegl1 libgl1-mesa-dri), or set MUJOCO_GL=osmesa; "
                "import actionable_models.sim before mujoco so that MUJOCO_GL defaults to egl."
            ) from exc
        for flag in (mujoco.mjtRndFlag.mjRND_SHADOW, mujoco.mjtRndFlag.mjRND_REFLECTION,
                     mujoco.mjtRndFlag.mjRND_SKYBOX, mujoco.mjtRndFlag.mjRND_HAZE):
            renderer.scene.flags[flag] = False
        return renderer

    def camera_intrinsics(self) -> tuple[float, float, float, float]:
        """Pinhole fx, fy, cx, cy in pixels of the shoulder camera."""
        h, w = self.config.image_height, self.config.image_width
        fy = 0.5 * h / np.tan(np.radians(self.config.camera_fovy_deg) / 2)
        return fy, fy, (w - 1) / 2.0, (h - 1) / 2.0

    def close(self) -> None:
        """Free the renderer's GL context and its thread."""
        if self._gl_thread is not None:
            if self._renderer is not None:
                self._gl_thread.submit(self._renderer.close).result()
                self._renderer = None
            self._gl_thread.shutdown()
            self._gl_thread = None

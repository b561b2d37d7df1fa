"""Differential inverse kinematics for the gripper's pinch point (damped least squares on the arm joints)."""

from __future__ import annotations

import mujoco
import numpy as np


class PinchIK:
    """Solves for arm joint positions that put a site at a position and orientation.

    Works on a private MjData so the simulation state is never touched. Only the arm's degrees of
    freedom move; everything else (gripper, objects) stays as given.
    """

    def __init__(self, model: mujoco.MjModel, site_id: int, qpos_adr: np.ndarray, dof_adr: np.ndarray,
                 damping: float = 1e-4, max_step_rad: float = 0.3) -> None:
        self._model = model
        self._data = mujoco.MjData(model)
        self._site = site_id
        self._qpos_adr = qpos_adr
        self._dof_adr = dof_adr
        self._damping = damping * np.eye(6)
        self._max_step = max_step_rad
        self._jacp = np.zeros((3, model.nv))
        self._jacr = np.zeros((3, model.nv))
        self._err = np.zeros(6)
        self._site_quat = np.zeros(4)
        self._err_quat = np.zeros(4)

    def solve(self, qpos: np.ndarray, pos: np.ndarray, quat: np.ndarray, iters: int = 15,
              tol: float = 1e-4) -> np.ndarray:
        """Arm joint positions (len(qpos_adr),) that reach ``pos``/``quat`` (w, x, y, z), starting at ``qpos``."""
        data = self._data
        data.qpos[:] = qpos
        for _ in range(iters):
            mujoco.mj_kinematics(self._model, data)
            self._err[:3] = pos - data.site_xpos[self._site]
            mujoco.mju_mat2Quat(self._site_quat, data.site_xmat[self._site])
            mujoco.mju_negQuat(self._site_quat, self._site_quat)
            mujoco.mju_mulQuat(self._err_quat, quat, self._site_quat)
            mujoco.mju_quat2Vel(self._err[3:], self._err_quat, 1.0)
            if np.linalg.norm(self._err[:3]) < tol and np.linalg.norm(self._err[3:]) < 10 * tol:
                break
            mujoco.mj_comPos(self._model, data)
            mujoco.mj_jacSite(self._model, data, self._jacp, self._jacr, self._site)
            jac = np.vstack((self._jacp[:, self._dof_adr], self._jacr[:, self._dof_adr]))  # (6, n_arm)
            dq = jac.T @ np.linalg.solve(jac @ jac.T + self._damping, self._err)
            biggest = np.max(np.abs(dq))
            if biggest > self._max_step:
                dq *= self._max_step / biggest
            data.qpos[self._qpos_adr] += dq  # arm joints are hinges: qpos and dof line up one to one
        return data.qpos[self._qpos_adr].copy()

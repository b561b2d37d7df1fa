"""The deployable policy: argmax_a Q(s, a, g) by CEM from a checkpoint, with the safety rules of a node.

``GoalReachingPolicy`` rebuilds the Q-network from a checkpoint file alone, preprocesses camera and goal
images exactly as the dataset did (imaging.resize_for_learning), and turns the chosen normalised action
into an absolute Cartesian target from the measured pose: the step limited to ``max_step_m``, clamped
to the workspace box. A checkpoint trained with ``use_proprio`` also reads the measured pose and gripper
closure (learning/proprio.py); ``decide`` then needs the closure. ``SafetyMonitor`` says when to hold
instead (stale camera or goal, bad pose, no gripper joint state for a proprio checkpoint).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from actionable_models.actions import ActionSpec
from actionable_models.errors import ConfigError
from actionable_models.imaging import resize_for_learning
from actionable_models.learning import checkpoint as ckpt
from actionable_models.learning.cem import cem_maximize
from actionable_models.learning.networks import embed, make_q_network
from actionable_models.learning.proprio import proprio_vector


@dataclass
class PolicyConfig:
    """How the policy decides and when it holds still."""

    max_step_m: float = 0.10
    """Largest Cartesian step commanded per decision, metres (the cell's 0.5 m/s over its 5 Hz)."""
    max_yaw_step_rad: float = 0.6
    """Yaw change per decision at a yaw action of 1.0, radians (the cell's 3 rad/s over its 5 Hz)."""
    workspace_min: tuple[float, float, float] = (0.25, -0.30, 0.005)
    """Lower corner of the box every target is clamped to (the cell's default workspace)."""
    workspace_max: tuple[float, float, float] = (0.65, 0.30, 0.35)
    """Upper corner of the workspace box."""
    yaw_limits: tuple[float, float] = (-math.pi / 2, math.pi / 2)
    """Range every commanded yaw is clamped to (the cell's default)."""
    stale_after_s: float = 1.0
    """A camera frame or goal older than this makes the policy hold position."""
    reached_q: float = 0.95
    """Q of the best action at or above which the goal counts as reached (the policy stops). Not applied to
    goal-conditioned behaviour cloning checkpoints, whose scores are not probabilities of reaching."""
    use_terminate: bool = True
    """Stop when the terminate component of the best action wins (> 0)."""
    cem_iterations: int = 0
    """CEM iterations per decision; 0 takes the checkpoint's."""
    cem_samples: int = 0
    """CEM samples per iteration; 0 takes the checkpoint's."""
    cem_elites: int = 0
    """CEM elites refitted per iteration; 0 takes the checkpoint's (at most cem_samples)."""
    torch_threads: int = 1
    """Torch threads for decisions: one avoids OpenMP threads spinning against ROS callbacks on few cores."""
    seed: int = 0
    """Seed of the CEM sampling."""

    def __post_init__(self) -> None:
        for name in ("max_step_m", "max_yaw_step_rad"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"{name} must be positive, got {getattr(self, name)!r}")
        self.workspace_min = tuple(float(v) for v in self.workspace_min)
        self.workspace_max = tuple(float(v) for v in self.workspace_max)
        if len(self.workspace_min) != 3 or any(lo >= hi for lo, hi in zip(self.workspace_min, self.workspace_max)):
            raise ConfigError(f"workspace_min {self.workspace_min} must be three values below workspace_max "
                              f"{self.workspace_max}")
        self.yaw_limits = tuple(float(v) for v in self.yaw_limits)
        if len(self.yaw_limits) != 2 or not self.yaw_limits[0] < self.yaw_limits[1]:
            raise ConfigError(f"yaw_limits must be an increasing pair, got {self.yaw_limits!r}")
        if not self.stale_after_s > 0:
            raise ConfigError(f"stale_after_s must be positive, got {self.stale_after_s!r}")
        if not 0 < self.reached_q <= 1:
            raise ConfigError(f"reached_q must be in (0, 1], got {self.reached_q!r}")
        for name in ("cem_iterations", "cem_samples", "cem_elites"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be >= 0 (0: the checkpoint's), got {getattr(self, name)!r}")
        if self.torch_threads < 1:
            raise ConfigError(f"torch_threads must be at least 1, got {self.torch_threads!r}")


@dataclass
class Decision:
    """One decision: the normalised action, its Q and the command it becomes."""

    action: np.ndarray  # (6,) normalised
    q: float
    target_pos: np.ndarray  # (3,) clamped, step-limited
    target_yaw: float
    gripper: float  # 0 open .. 1 closed
    terminate: bool
    reached: bool


class GoalReachingPolicy:
    """argmax_a Q(s, a, g) over a checkpoint's network."""

    def __init__(self, checkpoint: Path | str, config: PolicyConfig | None = None,
                 device: torch.device | str = "cpu") -> None:
        self.config = config or PolicyConfig()
        self.device = torch.device(device)
        torch.set_num_threads(self.config.torch_threads)
        self.generator = torch.Generator().manual_seed(self.config.seed)
        self.goal: torch.Tensor | None = None
        self.load(checkpoint)

    def load(self, checkpoint: Path | str) -> None:
        """(Re)load the network from a checkpoint file or a run directory (its latest checkpoint)."""
        path = ckpt.resolve_checkpoint(checkpoint)
        info = ckpt.read_info(path)
        if info.config.action_dim != 6:
            raise ckpt.CheckpointError(f"{path}: action_dim {info.config.action_dim}; the arm's action space has 6")
        q = make_q_network(info.config)
        ckpt.load_weights(path, q)
        self.q = q.to(self.device).eval()
        self.info = info
        self.learner = info.config
        self.spec = ActionSpec(max_translation_m=self.config.max_step_m, max_yaw_rad=self.config.max_yaw_step_rad)

    @property
    def needs_gripper_closure(self) -> bool:
        """Whether the checkpoint reads the measured gripper closure (and pose) beside the image."""
        return self.learner.use_proprio

    @property
    def image_size(self) -> int:
        """Side of the images the network reads."""
        return self.learner.image_size

    def _tensor(self, rgb: np.ndarray) -> torch.Tensor:
        image = resize_for_learning(np.asarray(rgb, dtype=np.uint8), self.image_size)
        return torch.as_tensor(np.ascontiguousarray(image)).permute(2, 0, 1).unsqueeze(0).to(self.device)

    def set_goal(self, goal_rgb: np.ndarray) -> None:
        """The goal image (H, W, 3) RGB uint8, any size (resized as the dataset does)."""
        self.goal = self._tensor(goal_rgb)

    @torch.inference_mode()
    def decide(self, obs_rgb: np.ndarray, ee_pos: np.ndarray, ee_yaw: float,
               gripper_closure: float | None = None) -> Decision:
        """The best action for the camera image and measured pose, and the command it becomes.

        ``gripper_closure``: the measured finger closure 0 (open) .. 1 (closed), as /joint_states reports
        it. Required when the checkpoint uses proprio (``needs_gripper_closure``), ignored otherwise."""
        if self.goal is None:
            raise RuntimeError("no goal image set")
        ee_pos = np.asarray(ee_pos, dtype=float)
        if not (np.all(np.isfinite(ee_pos)) and math.isfinite(ee_yaw)):
            raise ValueError(f"measured pose is not finite: {ee_pos.tolist()}, yaw {ee_yaw}")
        c, lc = self.config, self.learner
        proprio = None
        if lc.use_proprio:
            if gripper_closure is None:
                raise ValueError(f"{self.info.path} was trained with use_proprio: decide() needs the measured "
                                 "gripper closure (0 open .. 1 closed, from /joint_states)")
            if not math.isfinite(gripper_closure):
                raise ValueError(f"measured gripper closure is not finite: {gripper_closure}")
            raw = proprio_vector(np.r_[ee_pos, ee_yaw], float(gripper_closure))
            proprio = torch.as_tensor(raw).unsqueeze(0).to(self.device)
        embedding = embed(self.q, self._tensor(obs_rgb), self.goal, proprio)
        action, logit = cem_maximize(lambda a: self.q.score(embedding, a), 1, lc.action_dim,
                                     c.cem_iterations or lc.cem_iterations, c.cem_samples or lc.cem_samples,
                                     min(c.cem_elites or lc.cem_elites, c.cem_samples or lc.cem_samples),
                                     generator=self.generator, device=self.device, binary_dims=lc.binary_dims,
                                     init_std=lc.cem_init_std)
        action = action[0].cpu().numpy()
        q = float(torch.sigmoid(logit[0]))
        pos, yaw, gripper, terminate = self.spec.to_command(action, ee_pos, ee_yaw)
        step = pos - ee_pos
        length = float(np.linalg.norm(step))
        if length > c.max_step_m:
            pos = ee_pos + step * (c.max_step_m / length)
        pos = np.clip(pos, c.workspace_min, c.workspace_max)
        yaw = min(max(yaw, c.yaw_limits[0]), c.yaw_limits[1])
        terminate = terminate and c.use_terminate
        # A GCBC network scores how data-like an action is, not the chance of reaching the goal: no Q stop.
        q_says_reached = q >= c.reached_q and lc.method != "gcbc"
        return Decision(action, q, pos, yaw, gripper, terminate, reached=q_says_reached or terminate)


class SafetyMonitor:
    """When a policy must hold position rather than act: stale or missing inputs."""

    def __init__(self, stale_after_s: float) -> None:
        self.stale_after_s = stale_after_s

    def hold_reason(self, now_s: float, camera_s: float | None, goal_s: float | None,
                    pose_s: float | None, gripper_s: float | None = None,
                    needs_gripper: bool = False) -> str | None:
        """Why to hold (None: act). Times are receive times in seconds on one clock. ``needs_gripper``: the
        policy reads the measured gripper closure (a use_proprio checkpoint), received at ``gripper_s``."""
        inputs = [("camera image", camera_s), ("goal image", goal_s), ("end-effector pose", pose_s)]
        if needs_gripper:
            inputs.append(("gripper joint state (/joint_states with gripper_finger_joint; this checkpoint "
                           "reads the gripper closure)", gripper_s))
        for name, stamp in inputs:
            if stamp is None:
                return f"no {name} received yet"
        if now_s - camera_s > self.stale_after_s:
            return f"camera image is stale ({now_s - camera_s:.2f} s old > {self.stale_after_s} s)"
        if now_s - pose_s > self.stale_after_s:
            return f"end-effector pose is stale ({now_s - pose_s:.2f} s old > {self.stale_after_s} s)"
        if needs_gripper and now_s - gripper_s > self.stale_after_s:
            return f"gripper joint state is stale ({now_s - gripper_s:.2f} s old > {self.stale_after_s} s)"
        return None

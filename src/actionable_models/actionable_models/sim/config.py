"""Typed configuration of the simulated cell. ROS parameters of the sim node map onto these fields."""

from __future__ import annotations

import math
from dataclasses import dataclass

from actionable_models.errors import ConfigError
from actionable_models.sim.layouts import get_layout


@dataclass
class CellConfig:
    """Everything that shapes the cell's physics, control and camera."""

    image_width: int = 128
    """Camera image width in pixels."""
    image_height: int = 128
    """Camera image height in pixels."""
    control_rate_hz: float = 5.0
    """Control steps per second of simulated time (one command is held for one control step). 5 Hz lets
    the arm cover 10 cm a step at ``max_linear_speed``, so a scripted grasp and lift takes about 10 steps
    (docs/learning.md, "Horizons")."""
    reference_rate_hz: float = 50.0
    """How often within a control step the moving reference pose is re-solved by IK for the joint servos."""
    physics_timestep: float = 0.004
    """MuJoCo integration step in seconds. 4 ms halves the cost of a control step against the 2 ms the
    2F-85 model was tuned for; MuJoCo then softens its 4-5 ms contact time constants to 8 ms, and scripted
    grasps still lift every object (tests/benchmarks check both)."""
    workspace_min: tuple[float, float, float] = (0.25, -0.30, 0.005)
    """Lower corner (x, y, z) in metres, base frame, of the box every end-effector target is clamped to."""
    workspace_max: tuple[float, float, float] = (0.65, 0.30, 0.35)
    """Upper corner (x, y, z) in metres of the workspace box."""
    yaw_limits: tuple[float, float] = (-math.pi / 2, math.pi / 2)
    """Range of the gripper yaw in radians; the parallel gripper repeats itself after a half turn."""
    max_linear_speed: float = 0.5
    """Fastest the end-effector reference moves toward a far target, m/s."""
    max_yaw_rate: float = 3.0
    """Fastest the reference yaw turns toward its target, rad/s."""
    layout: str = "default"
    """Scene layout name (see actionable_models.sim.layouts.LAYOUTS)."""
    camera_pos: tuple[float, float, float] = (-0.05, -0.60, 0.85)
    """Over-the-shoulder camera position in metres, base frame."""
    camera_target: tuple[float, float, float] = (0.45, 0.0, 0.08)
    """Point the camera looks at."""
    camera_fovy_deg: float = 50.0
    """Vertical field of view of the camera, degrees."""
    msaa_samples: int = 0
    """Multisample anti-aliasing samples of the offscreen camera (0 is fastest; 4 smooths edges)."""
    lowpoly_cell_m: float = 0.012
    """Grid size in metres used to decimate the arm's render meshes (0 keeps the full meshes)."""
    robot_colours: bool = True
    """Keep the arm's stock colours (False paints it uniformly grey)."""

    def __post_init__(self) -> None:
        for name in ("image_width", "image_height"):
            value = getattr(self, name)
            if not isinstance(value, int) or not 16 <= value <= 2048:
                raise ConfigError(f"{name} must be an integer from 16 to 2048, got {value!r}")
        if not self.control_rate_hz > 0:
            raise ConfigError(f"control_rate_hz must be positive, got {self.control_rate_hz!r}")
        if not self.reference_rate_hz > 0:
            raise ConfigError(f"reference_rate_hz must be positive, got {self.reference_rate_hz!r}")
        if not 0 < self.physics_timestep <= 0.01:
            raise ConfigError(f"physics_timestep must be in (0, 0.01] seconds, got {self.physics_timestep!r}")
        if self.substeps < 1 or abs(self.substeps * self.physics_timestep - self.control_period) > 1e-9:
            raise ConfigError(
                f"control period {self.control_period!r} s must be a whole number of physics_timestep "
                f"{self.physics_timestep!r} s")
        self.workspace_min = tuple(float(v) for v in self.workspace_min)
        self.workspace_max = tuple(float(v) for v in self.workspace_max)
        if len(self.workspace_min) != 3 or len(self.workspace_max) != 3:
            raise ConfigError("workspace_min and workspace_max need three values (x, y, z)")
        if any(lo >= hi for lo, hi in zip(self.workspace_min, self.workspace_max)):
            raise ConfigError(f"workspace_min {self.workspace_min} must be below workspace_max {self.workspace_max}")
        if not -math.pi <= self.yaw_limits[0] < self.yaw_limits[1] <= math.pi:
            raise ConfigError(f"yaw_limits must be an increasing pair within [-pi, pi], got {self.yaw_limits!r}")
        for name in ("max_linear_speed", "max_yaw_rate", "camera_fovy_deg"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"{name} must be positive, got {getattr(self, name)!r}")
        if self.msaa_samples not in (0, 2, 4, 8):
            raise ConfigError(f"msaa_samples must be 0, 2, 4 or 8, got {self.msaa_samples!r}")
        if self.lowpoly_cell_m < 0:
            raise ConfigError(f"lowpoly_cell_m must be >= 0, got {self.lowpoly_cell_m!r}")
        get_layout(self.layout)  # raises UnknownNameError naming the known layouts

    @property
    def control_period(self) -> float:
        """Seconds of simulated time per control step."""
        return 1.0 / self.control_rate_hz

    @property
    def reference_substeps(self) -> int:
        """Slices of a control step that each get their own reference pose (at least 1)."""
        return max(1, min(self.substeps, int(round(self.reference_rate_hz * self.control_period))))

    @property
    def substeps(self) -> int:
        """Physics steps per control step."""
        return int(round(self.control_period / self.physics_timestep))

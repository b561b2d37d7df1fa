"""Privileged snapshot of the scene: what task checks and scripted controllers may see, never a learner.

A :class:`SceneState` travels as JSON on the sim node's privileged topic, so the same checks and scripts
run in the core, in the nodes and in evaluation.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np


@dataclass
class SceneState:
    """Poses in the base frame: objects (x, y, z, qw, qx, qy, qz), end effector, gripper, container."""

    objects: dict[str, np.ndarray]
    ee_pos: np.ndarray
    ee_yaw: float
    gripper: float  # measured closure 0 (open) .. 1 (closed)
    container: np.ndarray  # centre of the container floor (x, y, z)
    layout: str = "default"
    seed: int = 0
    step: int = 0
    finger_contacts: dict[str, int] = field(default_factory=dict)  # object -> pads touching it (0..2)
    stamp_ns: int = 0  # header stamp of this step's observations (a command answering it carries the same)
    resets: int = 0  # how many times the sim node has reset the scene: tells states of a new episode apart

    def object_pos(self, name: str) -> np.ndarray:
        """Position (3,) of object ``name``."""
        return np.asarray(self.objects[name][:3])

    def object_yaw(self, name: str) -> float:
        """Yaw (rad) of object ``name`` about the vertical axis."""
        w, x, y, z = self.objects[name][3:7]
        return float(np.arctan2(2.0 * (w * z + x * y), 1.0 - 2.0 * (y * y + z * z)))

    def to_json(self) -> str:
        """Compact JSON text (lists of floats) for a std_msgs/String."""
        return json.dumps({
            # Full precision: a scripted controller over ROS must command what it would in the core.
            "objects": {k: [float(v) for v in pose] for k, pose in self.objects.items()},
            "ee_pos": [float(v) for v in self.ee_pos], "ee_yaw": float(self.ee_yaw),
            "gripper": float(self.gripper), "container": [float(v) for v in self.container],
            "layout": self.layout, "seed": self.seed, "step": self.step,
            "finger_contacts": self.finger_contacts, "stamp_ns": self.stamp_ns, "resets": self.resets,
        })

    @classmethod
    def from_json(cls, text: str) -> "SceneState":
        """Inverse of :meth:`to_json`."""
        raw = json.loads(text)
        return cls(
            objects={k: np.asarray(v, dtype=float) for k, v in raw["objects"].items()},
            ee_pos=np.asarray(raw["ee_pos"], dtype=float), ee_yaw=float(raw["ee_yaw"]),
            gripper=float(raw["gripper"]), container=np.asarray(raw["container"], dtype=float),
            layout=raw.get("layout", "default"), seed=int(raw.get("seed", 0)), step=int(raw.get("step", 0)),
            finger_contacts={k: int(v) for k, v in raw.get("finger_contacts", {}).items()},
            stamp_ns=int(raw.get("stamp_ns", 0)), resets=int(raw.get("resets", 0)),
        )

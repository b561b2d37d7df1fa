"""Command-line options for the cell's camera view, shared by `am main` and the experiment scripts.

A checkpoint is trained on one view; whatever renders its observations and its goal images (the sim
node, the goal evaluator, experiments/evaluate.py, experiments/object_probe.py) must use that view too.
"""

from __future__ import annotations

import argparse
from typing import Any

CAMERA_FIELDS = ("camera_pos", "camera_target", "camera_fovy_deg")
"""The CellConfig fields that place the camera."""


def add_camera_view_arguments(parser: argparse.ArgumentParser) -> None:
    """``--camera-pos X Y Z``, ``--camera-target X Y Z`` and ``--camera-fovy DEG``, each defaulting to the
    cell's (CellConfig)."""
    parser.add_argument("--camera-pos", type=float, nargs=3, metavar=("X", "Y", "Z"), default=None,
                        help="camera position in metres, base frame (default: CellConfig.camera_pos)")
    parser.add_argument("--camera-target", type=float, nargs=3, metavar=("X", "Y", "Z"), default=None,
                        help="the point the camera looks at, metres (default: CellConfig.camera_target)")
    parser.add_argument("--camera-fovy", type=float, default=None, metavar="DEG",
                        help="vertical field of view in degrees (default: CellConfig.camera_fovy_deg)")


def camera_view_fields(args: argparse.Namespace) -> dict[str, Any]:
    """The CellConfig camera fields that the options of :func:`add_camera_view_arguments` gave (only those)."""
    given = {"camera_pos": args.camera_pos, "camera_target": args.camera_target, "camera_fovy_deg": args.camera_fovy}
    return {name: value for name, value in given.items() if value is not None}

"""The simulated robot cell: a UR5e with a Robotiq 2F-85 over a table with objects and a container."""

import os

# Headless rendering without a display; must be set before mujoco is first imported.
os.environ.setdefault("MUJOCO_GL", "egl")
if os.environ["MUJOCO_GL"] == "egl":
    os.environ.setdefault("PYOPENGL_PLATFORM", "egl")

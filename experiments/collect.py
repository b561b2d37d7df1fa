"""Play data for experiments, straight from the core sim cell into one .npz (no ROS, no bags).

The same PlayScript, seeds and action normalisation as `am collect` + the dataset builder, without DDS
and bag files in between: fast enough to make the larger datasets of docs/results.md on 2 cores, and
small enough to carry to a GPU machine. Arrays: obs (N, S, S, 3) uint8, actions (N, 6) float32,
episode (N,) int32, is_last (N,) bool, ee (N, 3) float32, scene (N,) int64 (the seed the scene was reset to).

    python experiments/collect.py --episodes 200 --steps 40 --out data/play200.npz
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from actionable_models.actions import ActionSpec
from actionable_models.errors import ConfigError
from actionable_models.geometry import quat_from_yaw
from actionable_models.imaging import resize_for_learning
from actionable_models.sim.cell import Cell
from actionable_models.sim.commands import check_pose_command
from actionable_models.sim.config import CellConfig
from actionable_models.sim.play import PRIMITIVES, PlayConfig, PlayScript, parse_object_weights, weights_of
from actionable_models.sim.scripted import PickPlaceScript, run_script
from actionable_models.sim.tasks import is_grasped_and_lifted


def _grasp_unrecorded(cell: Cell, seed: int) -> None:
    """Before recording: the script grasps and lifts a seeded object (tried in a seeded order)."""
    rng = np.random.default_rng([seed, 31])
    for obj in rng.permutation(sorted(cell.layout.objects)):
        state = run_script(cell, PickPlaceScript(str(obj), "lift"))
        if is_grasped_and_lifted(state, str(obj)):
            return
        cell.reset(seed, cell.layout.name)
    raise RuntimeError(f"seed {seed}: the scripted grasp failed on every object")


def play_steps(cell: Cell, script: PlayScript, spec: ActionSpec):
    """Yield (state, normalised action, is_last) for each frame of one play episode, commanding the cell
    as am collect does. The cell steps only when the next frame is asked for, so a caller can render or
    record the frame in between. The last frame, which no command answers, holds the measured pose."""
    gripper = 0.0
    while True:
        ee_pos, ee_yaw = cell.ee_pose()
        state = cell.scene_state()
        command = script.act(state)
        if command is None:
            yield state, spec.normalize(ee_pos, ee_yaw, gripper, ee_pos, ee_yaw), True
            return
        gripper = command.gripper
        # The yaw as the sim node reads it from a PoseStamped's quaternion, to the last bit.
        yaw = check_pose_command(command.pos, quat_from_yaw(command.yaw), "base_link", "base_link", cell.config).yaw
        yield state, spec.normalize(command.pos, yaw, command.gripper, ee_pos, ee_yaw), False
        cell.set_command(command.pos, yaw, command.gripper)
        cell.step()


def collect(episodes: int, steps: int, seed: int, image_size: int, camera_size: int, layout: str,
            primitives: list[str], start_held: bool = False, failure_prob: float = 0.2,
            label_object: str | None = None, object_weights: dict[str, float] | None = None,
            miss_approach_prob: float = 0.0) -> dict[str, np.ndarray]:
    """``episodes`` play episodes (seeds seed..seed+episodes-1) of ``steps`` commands; frames at image_size.

    ``start_held``: each episode starts with an object already grasped and lifted (not recorded), so a
    'container' or 'place' primitive only carries it and lets go. ``label_object``: also store ``success``
    (N,) bool, the privileged instance-grasping check of that object at each frame (sparse task labels).
    ``object_weights``: how often grasps and pushes pick each object (PlayConfig.object_weights).
    ``miss_approach_prob``: grasps that first miss low beside the object, then recover (PlayConfig's).
    """
    weights = weights_of(primitives)
    cell = Cell(CellConfig(image_width=camera_size, image_height=camera_size, layout=layout))
    spec = ActionSpec()
    obs, actions, episode, last, ee, success, scene = [], [], [], [], [], [], []
    started = time.monotonic()
    try:
        for e in range(episodes):
            cell.reset(seed + e, layout)
            if start_held:
                _grasp_unrecorded(cell, seed + e)
            script = PlayScript(np.random.default_rng(seed + e),
                                PlayConfig(episode_steps=steps, primitive_weights=weights, failure_prob=failure_prob,
                                           object_weights=object_weights or {},
                                           miss_approach_prob=miss_approach_prob), cell=cell.config)
            for state, action, is_last in play_steps(cell, script, spec):
                if label_object is not None:
                    success.append(is_grasped_and_lifted(state, label_object))
                obs.append(resize_for_learning(cell.render(), image_size))
                episode.append(e)
                scene.append(seed + e)
                ee.append(state.ee_pos.astype(np.float32))
                actions.append(action)
                last.append(is_last)
            if (e + 1) % 10 == 0 or e + 1 == episodes:
                print(f"[collect] {e + 1}/{episodes} episodes, {len(obs)} frames, "
                      f"{time.monotonic() - started:.0f} s", flush=True)
    finally:
        cell.close()
    arrays = {"obs": np.stack(obs), "actions": np.stack(actions).astype(np.float32),
              "episode": np.asarray(episode, np.int32), "is_last": np.asarray(last, bool), "ee": np.stack(ee),
              "scene": np.asarray(scene, np.int64)}
    if label_object is not None:
        arrays["success"] = np.asarray(success, bool)
    return arrays


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=40)
    parser.add_argument("--steps", type=int, default=40, help="commands per episode")
    parser.add_argument("--seed", type=int, default=1000, help="episode i uses seed+i (evaluation uses >= 100000)")
    parser.add_argument("--image-size", type=int, default=64, help="stored (training) image side")
    parser.add_argument("--camera-size", type=int, default=64, help="rendered camera side")
    parser.add_argument("--layout", default="default")
    parser.add_argument("--primitives", default=",".join(PRIMITIVES), help="comma-separated play primitives")
    parser.add_argument("--start-held", action="store_true",
                        help="start each episode with an object grasped and lifted (not recorded)")
    parser.add_argument("--failure-prob", type=float, default=0.2, help="share of deliberately botched grasps")
    parser.add_argument("--miss-prob", type=float, default=0.0,
                        help="share of grasps that first go low beside the object, then recover")
    parser.add_argument("--label-object", default=None,
                        help="store per-frame success labels of grasping and lifting this object")
    parser.add_argument("--object-weights", default="",
                        help="relative weights of the objects grasps and pushes pick, e.g. red_cube=4 (others 1)")
    parser.add_argument("--out", required=True, help="output .npz")
    args = parser.parse_args(argv)
    primitives = [p for p in args.primitives.split(",") if p]
    try:
        weights_of(primitives)
    except ConfigError as exc:
        parser.error(f"--primitives: {exc}")
    try:
        object_weights = parse_object_weights(args.object_weights)
    except ConfigError as exc:
        parser.error(f"--object-weights: {exc}")
    arrays = collect(args.episodes, args.steps, args.seed, args.image_size, args.camera_size, args.layout,
                     primitives, args.start_held, args.failure_prob, args.label_object, object_weights,
                     args.miss_prob)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    meta = {k: v for k, v in vars(args).items() if k != "out"}
    np.savez_compressed(out, meta=json.dumps(meta), **arrays)
    print(f"[collect] wrote {out} ({out.stat().st_size / 1e6:.1f} MB, {len(arrays['obs'])} frames)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

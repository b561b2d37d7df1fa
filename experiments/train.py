"""Train one method variant on an experiments .npz (see collect.py), through the project's training loop.

Variants (the paper's ablations, same data and budget): full (Actionable Models), no_negatives,
no_chaining, gcbc (goal-conditioned behaviour cloning). Checkpoints land in --out as with `am train`,
so the policy loads them unchanged. --minutes stops early (with a checkpoint) when time runs out.

    python experiments/train.py data/play200.npz --variant full --steps 20000 --out runs/full_s0
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import time
from pathlib import Path

import numpy as np

from actionable_models.learning.config import LearnerConfig
from actionable_models.learning.sampler import Transitions
from actionable_models.learning.trainer import TrainConfig, train_transitions

VARIANTS = {
    "full": {},
    "no_negatives": {"use_negatives": False},
    "no_chaining": {"use_chaining": False},
    "gcbc": {"method": "gcbc"},
}


def learner_config(variant: str, image_size: int, seed: int, batch_size: int, **extra) -> LearnerConfig:
    """The LearnerConfig of a variant: the defaults with the variant's switches."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r}; known: {', '.join(VARIANTS)}")
    return LearnerConfig(image_size=image_size, seed=seed, batch_size=batch_size, **VARIANTS[variant], **extra)


def load_transitions(paths: list[Path]) -> tuple[Transitions, dict]:
    """Transitions of experiments .npz files, concatenated (episodes renumbered), and their identity (a
    content hash guards resume)."""
    digest = hashlib.sha256()
    obs, actions, episode, last, scene, offset = [], [], [], [], [], 0
    for path in paths:
        digest.update(path.read_bytes())
        with np.load(path) as f:
            obs.append(f["obs"])
            actions.append(f["actions"])
            episode.append(f["episode"].astype(np.int64) + offset)
            last.append(f["is_last"])
            scene.append(f["scene"] if "scene" in f else None)
        offset = int(episode[-1].max()) + 1
    # Scenes by seed across files (the split dataset's grasp and place episodes share their seeds); files
    # without scene ids (older collections) make the whole data one scene.
    scenes = None if any(s is None for s in scene) else np.concatenate(scene)
    data = Transitions(np.concatenate(obs), np.concatenate(actions), np.concatenate(episode), np.concatenate(last),
                       scenes)
    return data, {"key": digest.hexdigest()[:16], "folder": ",".join(map(str, paths)),
                  "episodes": data.num_episodes, "steps": len(data.observations)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", type=Path, nargs="+", help="one or more .npz (concatenated)")
    parser.add_argument("--variant", default="full", choices=sorted(VARIANTS))
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--checkpoint-every", type=int, default=1000)
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (1 is fastest on 2 cores)")
    parser.add_argument("--minutes", type=float, default=0.0, help="stop (with a checkpoint) after this long")
    parser.add_argument("--out", type=Path, required=True, help="run directory (resumes if it holds a run)")
    args = parser.parse_args(argv)
    data, identity = load_transitions(args.data)
    image_size = int(data.observations.shape[1])
    learner = learner_config(args.variant, image_size, args.seed, args.batch_size)
    schedule = TrainConfig(steps=args.steps, checkpoint_every=args.checkpoint_every, log_every=100,
                           device=args.device, torch_threads=args.threads)
    deadline = time.monotonic() + args.minutes * 60 if args.minutes else None

    def progress(step: int, total: int, metrics: dict[str, float]) -> None:
        if step % 500 == 0 or step == total:
            shown = " ".join(f"{k}={v:.3f}" for k, v in metrics.items() if k.startswith(("loss/total", "q/")))
            print(f"[train {args.variant} s{args.seed}] {step}/{total} {shown} "
                  f"{metrics.get('perf/samples_per_s', 0):.0f} samples/s", flush=True)

    result = train_transitions(data, identity, args.out, learner, schedule, progress,
                               should_stop=(lambda: time.monotonic() > deadline) if deadline else None)
    print(f"[train {args.variant} s{args.seed}] done: step {result.step}, {result.seconds:.0f} s, {result.checkpoint}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

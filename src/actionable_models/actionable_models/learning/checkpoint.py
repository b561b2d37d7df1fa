"""Self-describing checkpoints that load without executing code.

- ``checkpoint-<step>.safetensors``: the deployable part, the online Q-network's weights, with the
  learner config, the dataset identity and the step in the safetensors metadata. A policy rebuilds the
  network from this file alone.
- ``train_state.pt``: what resuming needs on top (target network, optimiser, random states), read back
  with ``torch.load(weights_only=True)``.
- ``latest.json``: the newest checkpoint of a run directory.
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, safe_open, save_file
from torch import nn

from actionable_models.errors import ActionableModelsError
from actionable_models.learning.config import LearnerConfig

FORMAT = "actionable_models.q/1"
LATEST = "latest.json"
TRAIN_STATE = "train_state.pt"


class CheckpointError(ActionableModelsError):
    """A checkpoint that is missing, unreadable, or from another configuration; names the file."""


@dataclass
class CheckpointInfo:
    """What a checkpoint says about itself."""

    path: Path
    config: LearnerConfig
    step: int
    dataset: dict


# LearnerConfig fields added after checkpoints were first written, with the value every older checkpoint
# was trained with. A stored config without the field means that value, whatever the default is now.
LEGACY_FIELDS = {"use_proprio": False, "relabel_uniform_fraction": 0.0, "relabel_bootstrap": "max",
                 "negative_cem_fraction": 0.0, "negative_cem_search": False, "target_cem_std": 0.0,
                 "relative_target_weight": 0.0, "clipped_double_q": False, "negative_scale": "probability",
                 "binary_gripper_terminate": False, "chain_bootstrap": "max", "cem_init_std": 0.5,
                 "image_keypoints": 0}


def learner_config_from_json(text: str) -> LearnerConfig:
    """The LearnerConfig stored as JSON in a checkpoint or training state; fields it predates take their
    LEGACY_FIELDS value (a checkpoint from before use_proprio loads with use_proprio False)."""
    values = json.loads(text)
    if not isinstance(values, dict):
        raise ValueError(f"a learner config is a JSON object, got {type(values).__name__}")
    return LearnerConfig(**{**LEGACY_FIELDS, **values})


def _atomic(path: Path, write) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    write(tmp)
    os.replace(tmp, path)


def save_checkpoint(run_dir: Path, q: nn.Module, config: LearnerConfig, step: int, dataset: dict) -> Path:
    """Write the deployable checkpoint of ``step`` and point latest.json at it."""
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / f"checkpoint-{step:08d}.safetensors"
    tensors = {k: v.detach().cpu().contiguous() for k, v in q.state_dict().items()}
    metadata = {"format": FORMAT, "config": json.dumps(dataclasses.asdict(config)), "step": str(step),
                "dataset": json.dumps(dataset)}
    _atomic(path, lambda tmp: save_file(tensors, str(tmp), metadata=metadata))
    _atomic(run_dir / LATEST, lambda tmp: tmp.write_text(json.dumps({"step": step, "checkpoint": path.name})))
    return path


def read_info(path: Path) -> CheckpointInfo:
    """The metadata of a checkpoint file, without loading the weights."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint does not exist")
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"{path}: not a readable safetensors checkpoint ({exc})") from exc
    if meta.get("format") != FORMAT:
        raise CheckpointError(f"{path}: format {meta.get('format')!r}, expected {FORMAT!r}")
    try:
        config = learner_config_from_json(meta["config"])
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{path}: its learner config cannot be read ({exc})") from exc
    return CheckpointInfo(path, config, int(meta.get("step", 0)), json.loads(meta.get("dataset", "{}")))


def load_weights(path: Path, q: nn.Module) -> None:
    """Load a checkpoint's weights into ``q``; a network of another shape is a CheckpointError."""
    tensors = load_file(str(path))
    broken = sorted(name for name, t in tensors.items() if t.is_floating_point() and not torch.isfinite(t).all())
    if broken:
        raise CheckpointError(f"{path}: weights hold NaN or infinity ({', '.join(broken[:3])}"
                              f"{' ...' if len(broken) > 3 else ''}); the run diverged, use an earlier checkpoint")
    try:
        q.load_state_dict(tensors)
    except RuntimeError as exc:
        raise CheckpointError(f"{path}: weights do not fit this network (another configuration?): "
                              f"{str(exc).splitlines()[0]}") from exc


def latest_checkpoint(run_dir: Path) -> Path | None:
    """The checkpoint latest.json points at, if any."""
    pointer = Path(run_dir) / LATEST
    if not pointer.is_file():
        return None
    return Path(run_dir) / json.loads(pointer.read_text())["checkpoint"]


def resolve_checkpoint(path: Path | str) -> Path:
    """A checkpoint file as given, or a run directory's latest checkpoint; CheckpointError for a run
    directory that holds none."""
    path = Path(path)
    if not path.is_dir():
        return path
    latest = latest_checkpoint(path)
    if latest is None:
        raise CheckpointError(f"{path}: run directory holds no checkpoint (no {LATEST})")
    return latest


def config_differences(a: LearnerConfig, b: LearnerConfig) -> list[str]:
    """Fields whose values differ, as 'name: a != b'."""
    da, db = dataclasses.asdict(a), dataclasses.asdict(b)
    return [f"{k}: {da[k]!r} != {db[k]!r}" for k in da if da[k] != db[k]]


def save_train_state(run_dir: Path, state: dict) -> None:
    """Everything resuming needs; plain tensors, numbers, strings and dicts only."""
    _atomic(Path(run_dir) / TRAIN_STATE, lambda tmp: torch.save(state, tmp))


def load_train_state(run_dir: Path) -> dict | None:
    """The saved training state of a run directory, or None."""
    path = Path(run_dir) / TRAIN_STATE
    if not path.is_file():
        return None
    try:
        return torch.load(path, weights_only=True, map_location="cpu")  # a GPU run resumes on a CPU too
    except Exception as exc:  # noqa: BLE001 - any unpickling failure means the same to the user
        raise CheckpointError(f"{path}: cannot be read as a training state ({exc})") from exc

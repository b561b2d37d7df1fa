"""The training loop: dataset -> sampler -> objective, with logs, checkpoints, resume and scale-out.

Runs as ``am train`` (and under ``torchrun`` with DistributedDataParallel: each rank samples from its own
shard of episodes; rank 0 builds the dataset cache, writes logs and checkpoints) and inside the
am_trainer node. Uses the GPU when there is one.
"""

from __future__ import annotations

import json
import os
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist

from actionable_models.data.dataset import DatasetConfig, DatasetError, load_dataset
from actionable_models.errors import ConfigError
from actionable_models.learning import checkpoint as ckpt
from actionable_models.learning.config import LearnerConfig
from actionable_models.learning.networks import make_q_network
from actionable_models.learning.objective import ActionableModelsObjective, to_tensors
from actionable_models.learning.proprio import proprio_vector
from actionable_models.learning.sampler import GoalSampler, Transitions


@dataclass
class TrainConfig:
    """How long to train and how often to report and save."""

    steps: int = 2000
    """Gradient steps in total (a resumed run continues up to this number)."""
    checkpoint_every: int = 500
    """Write a checkpoint every this many steps (and at the end)."""
    log_every: int = 25
    """Log metrics (TensorBoard, metrics.jsonl, progress callback) every this many steps."""
    device: str = "auto"
    """'auto' (CUDA when available), 'cpu' or 'cuda'."""
    torch_threads: int = 0
    """CPU threads for torch (0: torch's default). On the 2-core development VM one thread trained twice as
    fast as two (benchmarks/learner_speed.py), so config/train.yaml sets 1."""

    def __post_init__(self) -> None:
        for name in ("steps", "checkpoint_every", "log_every"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise ConfigError(f"{name} must be a positive integer, got {getattr(self, name)!r}")
        if not isinstance(self.torch_threads, int) or self.torch_threads < 0:
            raise ConfigError(f"torch_threads must be an integer >= 0, got {self.torch_threads!r}")
        if self.device not in ("auto", "cpu", "cuda"):
            raise ConfigError(f"device must be 'auto', 'cpu' or 'cuda', got {self.device!r}")


@dataclass
class TrainResult:
    """Where a run ended."""

    run_dir: Path
    checkpoint: Path
    step: int
    metrics: dict[str, float]
    seconds: float
    resumed_from: int


def _distributed() -> tuple[int, int]:
    return int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))


def _device(choice: str, world: int) -> torch.device:
    if choice == "auto":
        choice = "cuda" if torch.cuda.is_available() else "cpu"
    if choice == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError("device 'cuda' asked for, but torch sees no CUDA device")
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)) if world > 1 else 0)
    return torch.device("cpu")


class _Logger:
    """metrics.jsonl always; TensorBoard event files when the tensorboard package is installed."""

    def __init__(self, run_dir: Path) -> None:
        self.jsonl = (run_dir / "metrics.jsonl").open("a")
        try:
            from torch.utils.tensorboard import SummaryWriter
            self.tensorboard = SummaryWriter(str(run_dir / "tensorboard"))
        except ImportError:
            self.tensorboard = None

    def log(self, step: int, metrics: dict[str, float]) -> None:
        self.jsonl.write(json.dumps({"step": step, **metrics}) + "\n")
        self.jsonl.flush()
        if self.tensorboard is not None:
            for key, value in metrics.items():
                self.tensorboard.add_scalar(key, value, step)

    def close(self) -> None:
        self.jsonl.close()
        if self.tensorboard is not None:
            self.tensorboard.close()


def train(dataset_folder: Path | str, run_dir: Path | str, learner: LearnerConfig | None = None,
          schedule: TrainConfig | None = None, dataset_config: DatasetConfig | None = None,
          progress: Callable[[int, int, dict[str, float]], None] | None = None,
          on_checkpoint: Callable[[Path, int], None] | None = None,
          should_stop: Callable[[], bool] | None = None) -> TrainResult:
    """Train (or resume training) a Q-function on the episode bags in ``dataset_folder`` into ``run_dir``.

    A run directory that already holds a training state resumes from it, provided its learner config
    and dataset match; otherwise CheckpointError names the difference. Ctrl-C (KeyboardInterrupt) or
    ``should_stop()`` returning True saves a checkpoint of the current step before stopping, so the same
    call later resumes there.
    """
    learner = learner or LearnerConfig()
    schedule = schedule or TrainConfig()
    dataset_config = dataset_config or DatasetConfig(image_size=learner.image_size)
    if dataset_config.image_size != learner.image_size:
        raise ConfigError(f"dataset image size {dataset_config.image_size} does not match the learner's "
                          f"image_size {learner.image_size}")
    run_dir = Path(run_dir)
    rank, world = _distributed()
    device = _device(schedule.device, world)
    if schedule.torch_threads:
        torch.set_num_threads(schedule.torch_threads)
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    try:
        return _train(Path(dataset_folder), run_dir, learner, schedule, dataset_config, progress, on_checkpoint,
                      should_stop, rank, world, device)
    finally:
        if world > 1 and dist.is_initialized():
            dist.destroy_process_group()


def _train(folder, run_dir, learner, schedule, dataset_config, progress, on_checkpoint, should_stop, rank, world,
           device):
    if rank == 0:
        dataset = load_dataset(folder, dataset_config)  # builds the cache once
    if world > 1:
        dist.barrier()
    if rank != 0:
        dataset = load_dataset(folder, dataset_config)
    if dataset.image_size != learner.image_size:
        raise DatasetError(dataset.cache_path, f"images are {dataset.image_size} px, the learner's image_size is "
                                               f"{learner.image_size}")
    if dataset.num_episodes < world:
        raise DatasetError(folder, f"{dataset.num_episodes} episodes cannot be shared by {world} ranks")
    identity = {"key": dataset.key, "folder": str(folder), "episodes": dataset.num_episodes, "steps": len(dataset)}
    data = dataset_transitions(dataset, learner)
    return _train_loop(data, identity, run_dir, learner, schedule, progress, on_checkpoint, should_stop, rank, world,
                       device)


def dataset_transitions(dataset, learner: LearnerConfig) -> Transitions:
    """The sampler's arrays of a built dataset (EpisodeDataset); with use_proprio also the scaled measured
    pose and gripper closure of every step (the dataset's ee_pose and gripper arrays)."""
    proprio = proprio_vector(dataset.ee_pose, dataset.gripper) if learner.use_proprio else None
    if proprio is not None and not np.all(np.isfinite(proprio)):
        raise DatasetError(dataset.cache_path, "use_proprio: the measured pose or gripper closure holds NaN or "
                                               "infinity")
    return Transitions(dataset.images, dataset.actions, dataset.episode, dataset.is_last, dataset.scene_ids(),
                       proprio)


def train_transitions(data: Transitions, identity: dict, run_dir: Path | str, learner: LearnerConfig,
                      schedule: TrainConfig, progress: Callable[[int, int, dict[str, float]], None] | None = None,
                      should_stop: Callable[[], bool] | None = None) -> TrainResult:
    """Train (or resume) on transitions already in memory, in one process: what ``train`` does after loading
    the bags. ``identity`` names the data (its ``key`` guards resume; ``episodes`` and ``steps`` are logged)."""
    if "key" not in identity:
        raise ConfigError("identity needs a 'key' naming the data (resume checks it)")
    if schedule.torch_threads:
        torch.set_num_threads(schedule.torch_threads)
    return _train_loop(data, identity, Path(run_dir), learner, schedule, progress, None, should_stop, 0, 1,
                       _device(schedule.device, 1))


def _train_loop(data, identity, run_dir, learner, schedule, progress, on_checkpoint, should_stop, rank, world,
                device):
    torch.manual_seed(learner.seed)  # the same initial weights (and target network) on every rank
    shard = np.arange(data.num_episodes)[rank::world]
    rng = np.random.default_rng([learner.seed, rank])
    sampler = GoalSampler(data, learner, rng, episodes=shard)
    objective = ActionableModelsObjective(make_q_network(learner), learner, device)
    objective.generator.manual_seed(learner.seed * 1000 + rank)

    start_step = _resume(run_dir, objective, learner, identity, sampler, rank)
    if world > 1:
        objective.distribute()
    run_dir.mkdir(parents=True, exist_ok=True)
    logger = _Logger(run_dir) if rank == 0 else None
    if rank == 0:
        (run_dir / "config.json").write_text(json.dumps({"learner": asdict(learner), "train": asdict(schedule),
                                                         "dataset": identity, "world_size": world}, indent=2))
    step, metrics, started = start_step, {}, time.monotonic()
    path = ckpt.latest_checkpoint(run_dir) if start_step else None
    try:
        while step < schedule.steps:
            if should_stop is not None and should_stop():
                if rank == 0 and step > start_step:
                    path = _save(run_dir, objective, learner, identity, sampler, step)
                    if on_checkpoint is not None:
                        on_checkpoint(path, step)
                break
            batch = to_tensors(sampler.sample(learner.batch_size).arrays(data))
            logs = rank == 0 and ((step + 1) % schedule.log_every == 0 or step + 1 == schedule.steps)
            metrics = objective.update(batch, with_metrics=logs) or metrics  # no device read-back between logs
            step += 1
            if rank != 0:
                continue
            if step % schedule.log_every == 0 or step == schedule.steps:
                metrics["perf/samples_per_s"] = (step - start_step) * learner.batch_size * world / max(
                    time.monotonic() - started, 1e-9)
                logger.log(step, metrics)
                if progress is not None:
                    progress(step, schedule.steps, metrics)
            if step % schedule.checkpoint_every == 0 or step == schedule.steps:
                path = _save(run_dir, objective, learner, identity, sampler, step)
                if on_checkpoint is not None:
                    on_checkpoint(path, step)
    except KeyboardInterrupt:
        if rank == 0 and step > start_step:
            _save(run_dir, objective, learner, identity, sampler, step)  # the next run resumes here
        raise
    finally:
        if logger is not None:
            logger.close()
    if world > 1:
        _check_replicas_in_sync(objective.q)
    return TrainResult(run_dir, path, step, metrics, time.monotonic() - started, start_step)


def _check_replicas_in_sync(q: torch.nn.Module) -> None:
    """DistributedDataParallel keeps every rank's weights equal; check it rather than trust it."""
    # On the parameters' device: NCCL gathers only CUDA tensors, gloo any.
    checksum = torch.stack([p.detach().double().sum() for p in q.parameters()]).sum().reshape(1)
    gathered = [torch.zeros_like(checksum) for _ in range(dist.get_world_size())]
    dist.all_gather(gathered, checksum)
    _hold_until_released([checksum, *gathered])
    if any(not torch.equal(g, gathered[0]) for g in gathered):
        raise RuntimeError(f"ranks ended with different weights (checksums {[g.item() for g in gathered]})")


def _hold_until_released(tensors: list[torch.Tensor], timeout_s: float = 30.0) -> None:
    """Keep ``tensors`` referenced here until the process group's worker thread has let go of them.

    The backend frees a collective's work object on its own thread, after ``wait()`` has returned. If that
    thread drops the last reference to a tensor, it must take the GIL to free the Python object; when that
    happens as the interpreter exits, the process aborts ("terminate called without an active exception").
    The process group's threads outlive ``destroy_process_group`` once DistributedDataParallel has used it,
    so joining them is no way out.
    """
    if not all(hasattr(t, "_use_count") for t in tensors):  # a private torch API: nothing to wait on without it
        return
    deadline = time.monotonic() + timeout_s
    while any(t._use_count() > 1 for t in tensors):
        if time.monotonic() > deadline:
            warnings.warn(f"the process group still holds the replica check's tensors after {timeout_s:.0f} s; "
                          "the process may abort at exit", RuntimeWarning, stacklevel=2)
            return
        time.sleep(0.001)


def _save(run_dir, objective, learner, identity, sampler, step) -> Path:
    # The training state is complete on its own (it holds the online weights too), so a kill between the
    # two files never mixes steps: resuming reads only train_state.pt.
    ckpt.save_train_state(run_dir, {
        "step": step, "config": json.dumps(asdict(learner)), "dataset_key": identity["key"],
        "q": objective.q.state_dict(), "q_target": objective.q_target.state_dict(),
        "optimizer": objective.optimizer.state_dict(), "torch_generator": objective.generator.get_state(),
        "numpy_rng": json.dumps(sampler.rng.bit_generator.state),
        **({} if objective.q_lagged is None else {"q_lagged": objective.q_lagged.state_dict()})})
    return ckpt.save_checkpoint(run_dir, objective.q, learner, step, identity)


def _resume(run_dir, objective, learner, identity, sampler, rank) -> int:
    state = ckpt.load_train_state(run_dir)
    if state is None:
        return 0
    where = run_dir / ckpt.TRAIN_STATE
    differences = ckpt.config_differences(ckpt.learner_config_from_json(state["config"]), learner)
    if differences:
        raise ckpt.CheckpointError(f"{where}: {run_dir} was trained with another configuration "
                                   f"({'; '.join(differences)}); use a new run directory")
    if state["dataset_key"] != identity["key"]:
        raise ckpt.CheckpointError(f"{where}: {run_dir} was trained on another dataset (cache key "
                                   f"{state['dataset_key']} != {identity['key']}); use a new run directory")
    objective.q.load_state_dict(state["q"])
    objective.q_target.load_state_dict(state["q_target"])
    if objective.q_lagged is not None:  # clipped_double_q (the config check above makes it present)
        objective.q_lagged.load_state_dict(state["q_lagged"])
    objective.optimizer.load_state_dict(state["optimizer"])
    if rank == 0:
        objective.generator.set_state(state["torch_generator"])
        sampler.rng.bit_generator.state = json.loads(state["numpy_rng"])
    return int(state["step"])

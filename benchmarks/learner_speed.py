"""Learner speed: training samples per second, late vs early (and pair) fusion, the state learner, one CEM decision.

Same batch, negatives, CEM and image size for both fusions (random 64x64 images: speed does not depend
on content), in fp32 and in bf16 autocast (LearnerConfig.precision). The state learner is the study's
state rung (VectorLateFusionQ over 41 numbers, batch 128). Targets on the 2-core development machine:
late fusion at least 5x the early-fusion throughput; one CEM decision (3 iterations x 64 samples, 64x64
images) under 20 ms.

    .venv/bin/python benchmarks/learner_speed.py [--updates 10] [--batch 64] [--device cpu|cuda]
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np
import torch

from actionable_models.learning.cem import cem_maximize
from actionable_models.learning.config import LearnerConfig
from actionable_models.learning.networks import VectorLateFusionQ, make_q_network
from actionable_models.learning.objective import ActionableModelsObjective, to_tensors
from actionable_models.learning.sampler import GoalSampler, Transitions


def _transitions(size: int, episodes: int = 20, length: int = 30) -> Transitions:
    rng = np.random.default_rng(0)
    n = episodes * length
    return Transitions(rng.integers(0, 255, (n, size, size, 3), dtype=np.uint8),
                       rng.uniform(-1, 1, (n, 6)).astype(np.float32), np.repeat(np.arange(episodes), length),
                       np.tile(np.r_[np.zeros(length - 1, bool), True], episodes))


def _learner(fusion: str, batch: int, precision: str, state_dim: int) -> tuple[LearnerConfig, Transitions, torch.nn.Module]:
    """Config, data and network of one measurement; ``state_dim`` > 0: the state learner on random vectors."""
    config = LearnerConfig(fusion=fusion, batch_size=batch, precision=precision)
    if state_dim:
        images = _transitions(16)
        vectors = np.random.default_rng(0).normal(size=(len(images.actions), state_dim)).astype(np.float32)
        return config, Transitions(vectors, images.actions, images.episode, images.is_last), \
            VectorLateFusionQ(config, state_dim)
    return config, _transitions(config.image_size), make_q_network(config)


def training_rate(fusion: str, updates: int, batch: int, device: str, precision: str = "fp32",
                  state_dim: int = 0, warmup: int = 1) -> float:
    """Training samples per second after ``warmup`` updates; ``state_dim`` > 0 trains the state learner on
    random vectors instead."""
    config, data, network = _learner(fusion, batch, precision, state_dim)
    sampler = GoalSampler(data, config, np.random.default_rng(0))
    objective = ActionableModelsObjective(network, config, device)
    for _ in range(warmup):
        objective.update(to_tensors(sampler.sample(batch).arrays(data)))
    if device == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(updates):
        objective.update(to_tensors(sampler.sample(batch).arrays(data)))
    if device == "cuda":
        torch.cuda.synchronize()
    return updates * batch / (time.perf_counter() - start)


PHASES = ("am/sampling", "am/augmentation", "am/online_encoders", "am/target_encoders", "am/cem_targets",
          "am/negatives", "am/online_head", "am/backward", "am/optimizer")


def profile(fusion: str, batch: int, device: str, precision: str, updates: int = 5, state_dim: int = 0,
            warmup: int = 1) -> None:
    """Print the share of one update spent in each phase, and the FLOP/s achieved beside a large matmul's;
    ``state_dim`` > 0 profiles the state learner instead (augmentation is then a no-op on vectors)."""
    from torch.profiler import ProfilerActivity, record_function
    from torch.profiler import profile as torch_profile
    from torch.utils.flop_counter import FlopCounterMode

    config, data, network = _learner(fusion, batch, precision, state_dim)
    sampler = GoalSampler(data, config, np.random.default_rng(0))
    objective = ActionableModelsObjective(network, config, device)

    def step():
        with record_function("am/sampling"):
            arrays = to_tensors(sampler.sample(batch).arrays(data))
        objective.update(arrays)

    for _ in range(warmup):
        step()
    with FlopCounterMode(display=False) as counter:
        step()
    flops = counter.get_total_flops()
    start = time.perf_counter()
    with torch_profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(updates):
            step()
    seconds = (time.perf_counter() - start) / updates
    spent = {e.key: e.cpu_time_total / updates / 1e6 for e in prof.key_averages() if e.key in PHASES}
    learner = "state-learner" if state_dim else f"{fusion}-fusion"
    print(f"  profile of one {learner} update ({precision}, batch {batch}, {seconds * 1000:.0f} ms, "
          f"measured under the profiler):")
    for phase in PHASES:
        share = spent.get(phase, 0.0) / seconds
        print(f"    {phase[3:]:<16} {spent.get(phase, 0.0) * 1000:7.1f} ms  {share:5.1%}")
    rest = seconds - sum(spent.values())
    print(f"    {'elsewhere':<16} {rest * 1000:7.1f} ms  {rest / seconds:5.1%}   (losses, casts, the logged-action bound)")
    dtype = torch.bfloat16 if precision == "bf16" else torch.float32
    a = torch.randn(2048, 2048, dtype=dtype, device=device)
    a @ a
    start = time.perf_counter()
    for _ in range(5):
        a @ a
    peak = 5 * 2 * 2048 ** 3 / (time.perf_counter() - start)
    print(f"    achieved {flops / seconds / 1e9:.1f} GFLOP/s ({flops / 1e9:.2f} GFLOP per update) against "
          f"{peak / 1e9:.1f} GFLOP/s of a 2048x2048 {precision} matmul on {torch.get_num_threads()} thread(s)")


def _ddp_rank(rank: int, ranks: int, port: int, fusion: str, batch: int, updates: int, precision: str,
              state_dim: int, results) -> None:
    """One rank of :func:`ddp_training_rate` (a spawned process, one torch thread, gloo)."""
    import torch.distributed as dist

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=ranks)
    try:
        torch.manual_seed(0)
        config, data, network = _learner(fusion, batch, precision, state_dim)
        objective = ActionableModelsObjective(network, config)
        objective.distribute()
        sampler = GoalSampler(data, config, np.random.default_rng(rank))
        for _ in range(2):  # warm-up
            objective.update(to_tensors(sampler.sample(batch).arrays(data)))
        dist.barrier()
        start = time.perf_counter()
        for _ in range(updates):
            objective.update(to_tensors(sampler.sample(batch).arrays(data)))
        dist.barrier()
        if rank == 0:
            results.put(updates / (time.perf_counter() - start))
    finally:
        dist.destroy_process_group()


def ddp_training_rate(ranks: int, fusion: str, batch: int, updates: int, precision: str, state_dim: int = 0) -> float:
    """Updates per second of ``ranks`` DistributedDataParallel processes (gloo, one thread each, as
    ``am train`` under torchrun runs them), each with ``batch`` rows: both cores used without sharing one
    process's oneDNN kernels between threads."""
    import socket

    import torch.multiprocessing as mp

    with socket.socket() as sock:  # a free port for the rendezvous
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    results = mp.get_context("spawn").SimpleQueue()
    mp.spawn(_ddp_rank, args=(ranks, port, fusion, batch, updates, precision, state_dim, results), nprocs=ranks)
    return results.get()


def cem_decision_ms(device: str, repeats: int = 50) -> tuple[float, float]:
    """Median and 95th percentile of one policy decision: embed camera + goal once, CEM 3 x 64."""
    config = LearnerConfig()
    q = make_q_network(config).to(device).eval()
    obs = torch.randint(0, 255, (1, 3, 64, 64), dtype=torch.uint8, device=device)
    goal = torch.randint(0, 255, (1, 3, 64, 64), dtype=torch.uint8, device=device)
    generator = torch.Generator().manual_seed(0)
    times = []
    with torch.inference_mode():
        for i in range(repeats + 5):
            start = time.perf_counter()
            embedding = q.embed(obs, goal)
            cem_maximize(lambda a: q.score(embedding, a), 1, config.action_dim, config.cem_iterations,
                         config.cem_samples, config.cem_elites, generator=generator, device=device)
            if device == "cuda":
                torch.cuda.synchronize()
            if i >= 5:
                times.append((time.perf_counter() - start) * 1000)
    return float(np.median(times)), float(np.percentile(times, 95))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--updates", type=int, default=10)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads for training (1: on the 2-core dev VM two threads ran 2x slower)")
    parser.add_argument("--ranks", type=int, default=min(2, os.cpu_count() or 1),
                        help="also measure this many DDP processes (gloo, one thread each); 1 skips it")
    parser.add_argument("--decision-threads", type=int, default=1,
                        help="torch threads for the CEM decision (a policy shares its process with ROS callbacks; "
                             "on 2 cores one thread avoids OpenMP spinning against them)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__} "
          f"({torch.get_num_threads()} threads), device {args.device}")
    print(f"training, batch {args.batch}, 4 negatives, CEM 3x64 targets, 64x64 images:")
    for precision in ("fp32", "bf16"):
        late = training_rate("late", args.updates, args.batch, args.device, precision)
        early = training_rate("early", max(2, args.updates // 5), args.batch, args.device, precision)
        pair = training_rate("pair", args.updates, args.batch, args.device, precision)
        print(f"  {precision}: late fusion {late:8.1f} samples/s, early fusion {early:8.1f} samples/s, "
              f"late / early {late / early:5.1f}x   (target >= 5x); pair fusion {pair:8.1f} samples/s")
    for precision in ("fp32", "bf16"):
        profile("late", args.batch, args.device, precision)
    # The target CEM runs on the rows that need it, a count that changes every update: oneDNN builds kernels
    # for each new matmul shape, so the first updates are slow. Training runs warm; so does the measurement.
    state_warmup = 10 * args.updates
    print(f"state learner (41-number state vectors, batch 128, 4 negatives, CEM 3x64 targets, "
          f"after {state_warmup} warm-up updates):")
    for precision in ("fp32", "bf16"):
        rate = training_rate("late", args.updates * 10, 128, args.device, precision, state_dim=41,
                             warmup=state_warmup) / 128
        print(f"  {precision}: {rate:8.1f} updates/s")
    if args.device == "cpu" and (os.cpu_count() or 1) > 1 and args.threads == 1:
        # The state learner's matmuls are large enough (a 256-wide head over 128 x 64 CEM samples) for a
        # second intra-op thread to help, unlike the image learner's small convolutions.
        torch.set_num_threads(2)
        rate = training_rate("late", args.updates * 10, 128, args.device, "bf16", state_dim=41,
                             warmup=state_warmup) / 128
        print(f"  bf16, 2 torch threads: {rate:8.1f} updates/s")
        torch.set_num_threads(args.threads)
    profile("late", 128, args.device, "bf16", updates=15, state_dim=41, warmup=state_warmup)
    if args.ranks > 1 and args.device == "cpu":
        print(f"{args.ranks} DDP processes (gloo, one torch thread each, as am train under torchrun), bf16:")
        for per_rank in (args.batch // args.ranks, args.batch):
            rate = ddp_training_rate(args.ranks, "late", per_rank, args.updates, "bf16") * per_rank * args.ranks
            print(f"  late fusion, batch {per_rank} per process (global {per_rank * args.ranks}): "
                  f"{rate:8.1f} samples/s")
        for per_rank in (64, 128):
            rate = ddp_training_rate(args.ranks, "late", per_rank, args.updates * 3, "bf16", state_dim=41)
            print(f"  state learner, batch {per_rank} per process (global {per_rank * args.ranks}): "
                  f"{rate:8.1f} updates/s")
    torch.set_num_threads(args.decision_threads)
    median, p95 = cem_decision_ms(args.device)
    print(f"one CEM decision (3 iterations x 64 samples, 64x64, {args.decision_threads} thread(s)): median "
          f"{median:.1f} ms, 95th percentile {p95:.1f} ms   (target < 20 ms)")


if __name__ == "__main__":
    main()

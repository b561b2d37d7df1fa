"""The evaluation study of docs/results.md, end to end: data, training of every variant and seed, evaluation.

Stages (each skipped when its output exists, so an interrupted study resumes):
1. collect (experiments/collect.py) the play dataset, the split dataset (grasp-only episodes and
   place-into-container episodes that start with the object in hand) and the small labelled task dataset
   (grasp attempts, half of them at the red cube, labelled where it is held up); generate the held-out
   goals once;
2. train every variant (full, no_negatives, no_chaining, gcbc) for every seed on the play data and
   evaluate each on every task (experiments/train.py, evaluate.py);
3. fine-tune the red-cube grasping task from scratch and from each seed's full run (finetune.py);
4. train full and no_chaining on the split dataset and evaluate container placing from the table;
5. write OUT/results.json, OUT/results.md, the charts OUT/img/*.svg and, with --docs, the tables and
   charts of docs/results.md (report.py).
Jobs run --jobs at a time, one torch thread each. The default budget fits in under two hours on a
2-core CPU machine; --scale N multiplies the episodes and training steps for bigger machines.

    python experiments/study.py --out out/study [--scale 1] [--jobs 2]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
VARIANTS = ("full", "no_negatives", "no_chaining", "gcbc")
TASKS = ("instance_grasping", "rearrangement", "container_placing", "reaching")


def _run(cmd: list[str], log: Path) -> None:
    log.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with log.open("w") as f:
        code = subprocess.call(cmd, stdout=f, stderr=subprocess.STDOUT)
    if code:
        raise RuntimeError(f"{' '.join(cmd)} failed with exit code {code}; see {log}")
    print(f"[study] done in {time.monotonic() - started:.0f} s: {' '.join(Path(c).name for c in cmd[1:4])}",
          flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("out/study"))
    parser.add_argument("--scale", type=float, default=1.0, help="multiply episodes and training steps")
    parser.add_argument("--jobs", type=int, default=2, help="training/evaluation processes at a time")
    parser.add_argument("--seeds", type=int, default=3, help="training seeds per variant")
    parser.add_argument("--goals", type=int, default=50, help="evaluation goals per task")
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--device", default="cpu", choices=("auto", "cpu", "cuda"))
    parser.add_argument("--docs", type=Path, default=None, help="also write the tables into this file's study section")
    args = parser.parse_args(argv)
    py, out = sys.executable, args.out
    episodes, steps = int(200 * args.scale), int(3000 * args.scale)
    budget = {"episodes": episodes, "episode_steps": 40, "train_steps": steps, "batch_size": 64,
              "image_size": args.image_size, "seeds": args.seeds, "goals_per_task": args.goals,
              "eval_max_steps": 50, "scale": args.scale}
    started = time.monotonic()
    print(f"[study] {json.dumps(budget)}", flush=True)

    size = args.image_size
    play = out / "data" / f"play{episodes}_{size}px.npz"
    ft_steps = int(1000 * args.scale)

    runs = [(v, s, out / "runs" / f"{v}_s{s}") for v in VARIANTS for s in range(args.seeds)]
    # Goal chaining where it matters: grasping and placing in separate episodes.
    grasp = out / "data" / f"grasp{episodes // 2}_{size}px.npz"
    place = out / "data" / f"place{episodes // 2}_{size}px.npz"
    chain_runs = [(v, s, out / "runs" / f"chain_{v}_s{s}") for v in ("full", "no_chaining") for s in range(args.seeds)]
    # Downstream fine-tuning: a small labelled dataset of one object's grasps.
    task = out / "data" / f"task{episodes * 3 // 10}_{size}px.npz"
    ft_runs = [(init, s, out / "runs" / f"ft_{init}_s{s}") for init in ("scratch", "pretrained")
               for s in range(args.seeds)]
    goals, chain_goals = out / "eval" / f"goals_{args.goals}.pickle", out / "eval" / f"chain_goals_{args.goals}.pickle"

    def collect(path: Path, *extra: str) -> None:
        if not path.exists():
            _run([py, str(HERE / "collect.py"), "--image-size", str(size), "--out", str(path), *extra],
                 out / "logs" / f"collect_{path.stem}.log")

    def make_goals(cache: Path, tasks: tuple[str, ...]) -> None:
        if not cache.exists():
            _run([py, str(HERE / "evaluate.py"), "--make-goals-only", "--tasks", ",".join(tasks), "--goals",
                  str(args.goals), "--goals-cache", str(cache), "--out", str(cache.with_suffix(".json"))],
                 out / "logs" / f"{cache.stem}.log")

    def train(job, data: list[Path]) -> None:
        variant, seed, run = job
        if (run / "done").exists():
            return
        _run([py, str(HERE / "train.py"), *map(str, data), "--variant", variant, "--seed", str(seed),
              "--steps", str(steps), "--checkpoint-every", str(max(steps // 4, 1)), "--device", args.device,
              "--out", str(run)], out / "logs" / f"train_{run.name}.log")
        (run / "done").write_text("")

    def evaluate(job, cache: Path, tasks: tuple[str, ...]) -> None:
        result = out / "eval" / f"{job[2].name}.json"
        if not result.exists():
            _run([py, str(HERE / "evaluate.py"), str(job[2]), "--tasks", ",".join(tasks), "--goals",
                  str(args.goals), "--max-steps", "50", "--goals-cache", str(cache), "--out", str(result)],
                 out / "logs" / f"eval_{job[2].name}.log")

    def finetune(job) -> None:
        init, seed, run = job
        result = out / "eval" / f"{run.name}.json"
        if not result.exists():
            source = "scratch" if init == "scratch" else str(out / "runs" / f"full_s{seed}")
            _run([py, str(HERE / "finetune.py"), str(task), "--object", "red_cube", "--init", source,
                  "--steps", str(ft_steps), "--seed", str(seed), "--goals", str(args.goals), "--out", str(run),
                  "--result", str(result)], out / "logs" / f"{run.name}.log")

    chain_tasks = ("container_placing", "instance_grasping")
    with ThreadPoolExecutor(args.jobs) as pool:
        def each(fn, items, *extra):
            for future in [pool.submit(fn, item, *extra) for item in items]:
                future.result()

        each(lambda job: job(), [
            lambda: collect(play, "--episodes", str(episodes), "--steps", "40"),
            lambda: collect(grasp, "--episodes", str(episodes // 2), "--steps", "24", "--primitives", "grasp_lift",
                            "--failure-prob", "0.1", "--seed", "3000"),
            lambda: collect(place, "--episodes", str(episodes // 2), "--steps", "16", "--primitives", "container",
                            "--start-held", "--seed", "3000"),  # the grasp episodes' scenes: chaining links them
            lambda: collect(task, "--episodes", str(episodes * 3 // 10), "--steps", "24", "--primitives",
                            "grasp_lift", "--failure-prob", "0.3", "--label-object", "red_cube", "--object-weights",
                            "red_cube=4", "--seed", "5000"),
            lambda: make_goals(goals, TASKS), lambda: make_goals(chain_goals, chain_tasks)])
        each(train, runs, [play])
        each(evaluate, runs, goals, TASKS)
        each(finetune, ft_runs)
        each(train, chain_runs, [grasp, place])
        each(evaluate, chain_runs, chain_goals, chain_tasks)
    machine = f"{platform.machine()}, {os.cpu_count()} CPU cores, device {args.device}"
    budget_file = out / "budget.json"
    previous = json.loads(budget_file.read_text()).get("hours", 0.0) if budget_file.exists() else 0.0
    hours = previous + (time.monotonic() - started) / 3600  # summed over the invocations that built OUT
    budget_file.write_text(json.dumps({**budget, "machine": machine, "hours": hours}, indent=1))
    report = [py, str(HERE / "report.py"), str(out)] + (["--docs", str(args.docs)] if args.docs else [])
    subprocess.check_call(report)
    print(f"[study] finished in {(time.monotonic() - started) / 60:.0f} min", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Tables of an evaluation study (experiments/study.py): success per variant and task over seeds.

Reads OUT/eval/<variant>_s<seed>.json, OUT/runs/*/metrics.jsonl and OUT/budget.json; writes
OUT/results.json, OUT/results.md and the charts OUT/img/*.svg. With --docs FILE, also replaces the text
between the study markers in FILE (docs/results.md) with the tables and writes the charts beside it
(FILE's folder/img), so the published numbers and plots are exactly the script's.

    python experiments/report.py out/study [--docs docs/results.md]
"""

from __future__ import annotations

import argparse
import json
import platform
import re
import sys
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from actionable_models.evaluation import wilson_interval

from plots import bar_chart, line_chart

BEGIN, END = "<!-- study:begin -->", "<!-- study:end -->"


def rollouts(path: Path) -> list[dict]:
    """Every rollout row of one evaluation JSON (experiments/evaluate.py), over all the runs it holds."""
    return [row for run in json.loads(path.read_text())["runs"].values() for row in run["results"]]


def aggregate(out: Path) -> dict:
    """variant -> task -> pooled successes/trials, Wilson 95 % interval, per-seed rates, distances."""
    table: dict = defaultdict(dict)
    rows_by = defaultdict(lambda: defaultdict(list))
    for path in sorted((out / "eval").glob("*_s*.json")):
        variant, seed = re.fullmatch(r"(.+)_s(\d+)", path.stem).groups()
        for row in rollouts(path):
            rows_by[variant][row["task"]].append((int(seed), row))
    for variant, tasks in rows_by.items():
        for task, seeded in tasks.items():
            wins = sum(r["success"] for _, r in seeded)
            lo, hi = wilson_interval(wins, len(seeded))
            seeds = sorted({s for s, _ in seeded})
            per_seed = [float(np.mean([r["success"] for s, r in seeded if s == seed])) for seed in seeds]
            table[variant][task] = {
                "successes": wins, "trials": len(seeded), "rate": wins / len(seeded), "ci95": [lo, hi],
                "per_seed_rates": per_seed, "seeds": seeds,
                "ee_to_goal_start_m": float(np.mean([r["ee_to_goal_start_m"] for _, r in seeded])),
                "ee_to_goal_end_m": float(np.mean([r["ee_to_goal_end_m"] for _, r in seeded])),
                "closer_share": float(np.mean([r["ee_to_goal_end_m"] < r["ee_to_goal_start_m"] for _, r in seeded]))}
    return dict(table)


SECTIONS = (
    ("Variants on the play dataset", "", ("full", "no_negatives", "no_chaining", "gcbc")),
    ("Goal chaining on the split dataset (grasping and placing in separate episodes)", "chain_",
     ("full", "no_chaining")),
    ("Downstream fine-tuning: grasp the red cube from a small labelled dataset", "ft_", ("scratch", "pretrained")),
)


def _section(title: str, rows: dict) -> list[str]:
    tasks = list(dict.fromkeys(t for cells in rows.values() for t in cells))
    lines = [f"### {title}", "", "Success rate (pooled over seeds; 95 % Wilson interval; per-seed rates in "
             "brackets):", "", "| variant | " + " | ".join(tasks) + " |", "|---|" + "---|" * len(tasks)]
    for name, cells in rows.items():
        shown = []
        for t in tasks:
            c = cells.get(t)
            if c is None:
                shown.append("-")
                continue
            seeds = ", ".join(f"{r:.2f}" for r in c["per_seed_rates"])
            shown.append(f"{c['successes']}/{c['trials']} = {c['rate']:.2f} "
                         f"({c['ci95'][0]:.2f}-{c['ci95'][1]:.2f}) [{seeds}]")
        lines.append(f"| {name} | " + " | ".join(shown) + " |")
    lines += ["", "Gripper distance to where the goal image has it, mean start -> mean end (m), and the share of "
              "rollouts that ended closer:", "", "| variant | " + " | ".join(tasks) + " |",
              "|---|" + "---|" * len(tasks)]
    for name, cells in rows.items():
        shown = ["-" if cells.get(t) is None else f"{cells[t]['ee_to_goal_start_m']:.3f} -> "
                 f"{cells[t]['ee_to_goal_end_m']:.3f} ({cells[t]['closer_share']:.2f})" for t in tasks]
        lines.append(f"| {name} | " + " | ".join(shown) + " |")
    return lines + [""]


def learning_curves(out: Path, variants: tuple[str, ...], metric: str = "loss/total") -> dict:
    """variant -> (steps, metric averaged over the seeds' runs) from OUT/runs/<variant>_s<seed>/metrics.jsonl."""
    curves = {}
    for variant in variants:
        by_step = defaultdict(list)
        for log in sorted((out / "runs").glob(f"{variant}_s*/metrics.jsonl")):
            run: dict[int, float] = {}  # a resumed run logs the steps after its checkpoint again: keep the last
            for line in log.read_text().splitlines():
                try:
                    row = json.loads(line)
                except json.JSONDecodeError:  # a line cut short by a kill
                    continue
                if metric in row and np.isfinite(row[metric]):
                    run[row["step"]] = row[metric]
            for step, value in run.items():
                by_step[step].append(value)
        if by_step:
            steps = sorted(by_step)
            curves[variant] = (steps, [float(np.mean(by_step[s])) for s in steps])
    return curves


CHARTS = {"study_success.svg": "Success per task on the play dataset",
          "study_training_loss.svg": "Training loss per variant"}


def charts(out: Path, table: dict) -> dict[str, str]:
    """file name -> SVG text: success per task (with 95 % intervals) and learning curves, play variants."""
    variants = [v for v in SECTIONS[0][2] if v in table]
    tasks = list(dict.fromkeys(t for v in variants for t in table[v]))
    result = {}
    if variants:
        bars = {v: [(table[v][t]["rate"], *table[v][t]["ci95"]) if t in table[v] else None for t in tasks]
                for v in variants}
        result["study_success.svg"] = bar_chart(tasks, bars, CHARTS["study_success.svg"], "success rate")
    curves = learning_curves(out, tuple(variants))
    if curves:
        result["study_training_loss.svg"] = line_chart(
            curves, CHARTS["study_training_loss.svg"] + " (mean over seeds; gcbc is a classification loss)",
            "training step", "loss/total")
    return result


def markdown(table: dict, budget: dict, chart_names: Sequence[str] = ()) -> str:
    """One success table and one gripper-distance table per part of the study."""
    lines = [f"Budget: {budget.get('episodes')} play episodes x {budget.get('episode_steps')} steps, "
             f"{budget.get('train_steps')} training steps (batch {budget.get('batch_size')}, "
             f"{budget.get('image_size')} px), {budget.get('seeds')} training seeds, "
             f"{budget.get('goals_per_task')} held-out goals per task and seed, {budget.get('eval_max_steps')} "
             f"control steps per goal. Machine: {budget.get('machine', platform.platform())}; "
             f"{budget.get('hours', 0):.1f} h in all.", ""]
    for title, prefix, names in SECTIONS:
        rows = {name: table[prefix + name] for name in names if prefix + name in table}
        if rows:
            lines += _section(title, rows)
    lines += [f"![{CHARTS[name]}](img/{name})\n" for name in chart_names]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--docs", type=Path, default=None, help="file whose study section is replaced")
    args = parser.parse_args(argv)
    budget = json.loads((args.out / "budget.json").read_text()) if (args.out / "budget.json").exists() else {}
    table = aggregate(args.out)
    if not table:
        parser.error(f"no evaluation results under {args.out / 'eval'}")
    svgs = charts(args.out, table)
    text = markdown(table, budget, list(svgs))
    for folder in [args.out / "img"] + ([args.docs.parent / "img"] if args.docs is not None else []):
        folder.mkdir(parents=True, exist_ok=True)
        for name, svg in svgs.items():
            (folder / name).write_text(svg)
    (args.out / "results.json").write_text(json.dumps({"budget": budget, "table": table}, indent=1))
    (args.out / "results.md").write_text(text)
    print(text)
    if args.docs is not None:
        doc = args.docs.read_text()
        if BEGIN not in doc or END not in doc:
            parser.error(f"{args.docs} has no {BEGIN} ... {END} section")
        head, rest = doc.split(BEGIN, 1)
        args.docs.write_text(head + BEGIN + "\n" + text + END + rest.split(END, 1)[1])
    return 0


if __name__ == "__main__":
    sys.exit(main())

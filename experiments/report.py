"""Tables of an evaluation study (experiments/study.py): success per variant and task over seeds.

Reads OUT/eval/<variant>_s<seed>.json and OUT/budget.json; writes OUT/results.json and OUT/results.md.
With --docs FILE, also replaces the text between the study markers in FILE (docs/results.md) with the
tables, so the published numbers are exactly the script's.

    python experiments/report.py out/study [--docs docs/results.md]
"""

from __future__ import annotations

import argparse
import json
import platform
import re
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

from actionable_models.evaluation import wilson_interval

BEGIN, END = "<!-- study:begin -->", "<!-- study:end -->"


def aggregate(out: Path) -> dict:
    """variant -> task -> pooled successes/trials, Wilson 95 % interval, per-seed rates, distances."""
    table: dict = defaultdict(dict)
    rows_by = defaultdict(lambda: defaultdict(list))
    for path in sorted((out / "eval").glob("*_s*.json")):
        variant, seed = re.fullmatch(r"(.+)_s(\d+)", path.stem).groups()
        report = json.loads(path.read_text())
        for rows in (r["results"] for r in report["runs"].values()):
            for row in rows:
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


def markdown(table: dict, budget: dict) -> str:
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
    text = markdown(table, budget)
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

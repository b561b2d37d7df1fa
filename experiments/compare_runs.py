"""Check that two study outputs agree: per-rollout results of every evaluation file both hold.

    python experiments/compare_runs.py out/study out/rerun     # exit 1 when any shared file differs
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from report import rollouts


def only_in(a: Path, b: Path) -> list[str]:
    """Names of the evaluation files under ``a`` that ``b`` lacks (not compared)."""
    return sorted(p.name for p in (a / "eval").glob("*_s*.json") if not (b / "eval" / p.name).exists())


def compare(a: Path, b: Path) -> tuple[list[str], list[str]]:
    """(names of the evaluation files that are identical, lines describing each difference), over the files
    both hold."""
    same, differences = [], []
    for path in sorted((b / "eval").glob("*_s*.json")):
        other = a / "eval" / path.name
        if not other.exists():
            continue
        rows_a, rows_b = rollouts(other), rollouts(path)  # rows only: the run directory names differ
        if rows_a == rows_b:
            same.append(path.name)
        else:
            changed = sum(x != y for x, y in zip(rows_a, rows_b)) + abs(len(rows_a) - len(rows_b))
            differences.append(f"{path.name}: {changed} of {max(len(rows_a), len(rows_b))} rollouts differ")
    return same, differences


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("a", type=Path)
    parser.add_argument("b", type=Path)
    args = parser.parse_args(argv)
    same, differences = compare(args.a, args.b)
    for name in same:
        print(f"identical: {name}")
    for line in differences:
        print(f"DIFFERENT: {line}")
    if not same and not differences:
        parser.error(f"{args.a} and {args.b} share no evaluation files")
    print(f"{len(same)} identical, {len(differences)} different; not compared: {len(only_in(args.a, args.b))} "
          f"only in {args.a}, {len(only_in(args.b, args.a))} only in {args.b}")
    return 1 if differences else 0


if __name__ == "__main__":
    sys.exit(main())

"""SVG charts for docs/results.md with matplotlib: learning curves and success per task.

The same results give byte-identical files: no date in the metadata, a fixed hash salt for the ids, and
text kept as SVG text (so a reader can search and copy it).
"""

from __future__ import annotations

import io
import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

STYLE = {"svg.hashsalt": "actionable-models", "svg.fonttype": "none", "font.size": 9}
SIZE = (6.4, 3.0)  # inches: 640 x 300 px at 100 dpi


def _svg(fig) -> str:
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", metadata={"Date": None})
    plt.close(fig)
    return buffer.getvalue()


def line_chart(series: dict[str, tuple[list[float], list[float]]], title: str, xlabel: str, ylabel: str) -> str:
    """Lines of ``name -> (xs, ys)`` on shared axes from 0 (non-finite points left out), a legend in order."""
    series = {name: ([x for x, y in zip(xs, ys) if math.isfinite(y)], [y for y in ys if math.isfinite(y)])
              for name, (xs, ys) in series.items()}
    points = [y for _, ys in series.values() for y in ys]
    if not points:
        raise ValueError(f"{title}: no finite data to plot")
    if min(points) < 0:
        raise ValueError(f"{title}: the axes start at 0, and there are negative values")
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=SIZE, layout="constrained")
        for name, (xs, ys) in series.items():
            ax.plot(xs, ys, label=name, linewidth=1.5)
        ax.set(title=title, xlabel=xlabel, ylabel=ylabel, xlim=(0, None), ylim=(0, max(points) * 1.05 or 1.0))
        ax.grid(alpha=0.3)
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
        return _svg(fig)


def bar_chart(groups: list[str], bars: dict[str, list[tuple[float, float, float] | None]], title: str,
              ylabel: str) -> str:
    """Grouped bars: for each name, one (value, low, high) per group (None: not measured), whiskers from
    low to high (the 95 % interval)."""
    values = [v for row in bars.values() for v in row if v is not None]
    if not values:
        raise ValueError(f"{title}: no data to plot")
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=SIZE, layout="constrained")
        width = 0.8 / len(bars)
        for b, (name, row) in enumerate(bars.items()):
            xs = [g + (b - (len(bars) - 1) / 2) * width for g, v in enumerate(row) if v is not None]
            measured = [v for v in row if v is not None]
            heights = [v[0] for v in measured]
            errors = [[v[0] - v[1] for v in measured], [v[2] - v[0] for v in measured]]
            ax.bar(xs, heights, width, yerr=errors, capsize=2, label=name)
        ax.set_xticks(range(len(groups)), groups)
        ax.set(title=title, ylabel=ylabel, ylim=(0, max(1e-9, max(max(v[0], v[2]) for v in values)) * 1.1))
        ax.grid(axis="y", alpha=0.3)
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
        return _svg(fig)

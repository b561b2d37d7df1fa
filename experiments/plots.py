"""Plain SVG charts for docs/results.md: learning curves and success per task, with no plotting library.

The charts are written as text with fixed rounding, so the same results give byte-identical files.
"""

from __future__ import annotations

import math
from html import escape

WIDTH, HEIGHT = 640, 300
LEFT, RIGHT, TOP, BOTTOM = 60, 150, 30, 40
PLOT_W, PLOT_H = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b")


def _frame(title: str, xlabel: str, ylabel: str, y_max: float) -> list[str]:
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
             f'font-family="sans-serif" font-size="11">',
             f'<rect width="{WIDTH}" height="{HEIGHT}" fill="white"/>',
             f'<text x="{LEFT}" y="18" font-size="13">{escape(title)}</text>',
             f'<text x="{LEFT + PLOT_W / 2:.1f}" y="{HEIGHT - 6}" text-anchor="middle">{escape(xlabel)}</text>',
             f'<text x="14" y="{TOP + PLOT_H / 2:.1f}" text-anchor="middle" '
             f'transform="rotate(-90 14 {TOP + PLOT_H / 2:.1f})">{escape(ylabel)}</text>']
    for i in range(5):
        value = y_max * i / 4
        y = TOP + PLOT_H * (1 - i / 4)
        parts.append(f'<line x1="{LEFT}" y1="{y:.1f}" x2="{LEFT + PLOT_W}" y2="{y:.1f}" stroke="#ddd"/>')
        parts.append(f'<text x="{LEFT - 4}" y="{y + 4:.1f}" text-anchor="end">{value:.2f}</text>')
    parts.append(f'<rect x="{LEFT}" y="{TOP}" width="{PLOT_W}" height="{PLOT_H}" fill="none" stroke="#444"/>')
    return parts


def _legend(names: list[str]) -> list[str]:
    x = WIDTH - RIGHT + 12
    return [f'<rect x="{x}" y="{TOP + 16 * i}" width="10" height="10" fill="{COLOURS[i % len(COLOURS)]}"/>'
            f'<text x="{x + 14}" y="{TOP + 16 * i + 9}">{escape(name)}</text>' for i, name in enumerate(names)]


def line_chart(series: dict[str, tuple[list[float], list[float]]], title: str, xlabel: str, ylabel: str) -> str:
    """Lines of ``name -> (xs, ys)`` on shared axes from 0; the legend names them in order."""
    series = {name: ([x for x, y in zip(xs, ys) if math.isfinite(y)], [y for y in ys if math.isfinite(y)])
              for name, (xs, ys) in series.items()}
    points = [(x, y) for xs, ys in series.values() for x, y in zip(xs, ys)]
    if not points:
        raise ValueError(f"{title}: no finite data to plot")
    if min(y for _, y in points) < 0:
        raise ValueError(f"{title}: the axes start at 0, and there are negative values")
    x_max = max(x for x, _ in points) or 1.0
    y_max = max(y for _, y in points) * 1.05 or 1.0
    parts = _frame(title, xlabel, ylabel, y_max)
    for i in range(5):
        x = LEFT + PLOT_W * i / 4
        parts.append(f'<text x="{x:.1f}" y="{TOP + PLOT_H + 14}" text-anchor="middle">{x_max * i / 4:.0f}</text>')
    for i, (xs, ys) in enumerate(series.values()):
        path = " ".join(f"{LEFT + PLOT_W * x / x_max:.1f},{TOP + PLOT_H * (1 - y / y_max):.1f}"
                        for x, y in zip(xs, ys))
        parts.append(f'<polyline points="{path}" fill="none" stroke="{COLOURS[i % len(COLOURS)]}" '
                     f'stroke-width="1.5"/>')
    return "\n".join(parts + _legend(list(series)) + ["</svg>", ""])


def bar_chart(groups: list[str], bars: dict[str, list[tuple[float, float, float] | None]], title: str,
              ylabel: str) -> str:
    """Grouped bars: for each name, one (value, low, high) per group (None: not measured), with whiskers."""
    values = [v for row in bars.values() for v in row if v is not None]
    if not values:
        raise ValueError(f"{title}: no data to plot")
    y_max = max(1e-9, max(max(v[0], v[2]) for v in values)) * 1.1
    parts = _frame(title, "", ylabel, y_max)
    slot = PLOT_W / len(groups)
    width = slot * 0.8 / len(bars)
    scale = lambda v: TOP + PLOT_H * (1 - v / y_max)  # noqa: E731
    for g, group in enumerate(groups):
        parts.append(f'<text x="{LEFT + slot * (g + 0.5):.1f}" y="{TOP + PLOT_H + 14}" '
                     f'text-anchor="middle">{escape(group)}</text>')
        for b, row in enumerate(bars.values()):
            if row[g] is None:
                continue
            value, low, high = row[g]
            x = LEFT + slot * (g + 0.1) + width * b
            colour = COLOURS[b % len(COLOURS)]
            parts.append(f'<rect x="{x:.1f}" y="{scale(value):.1f}" width="{width:.1f}" '
                         f'height="{scale(0) - scale(value):.1f}" fill="{colour}"/>')
            mid = x + width / 2
            parts.append(f'<line x1="{mid:.1f}" y1="{scale(low):.1f}" x2="{mid:.1f}" y2="{scale(high):.1f}" '
                         f'stroke="black"/>')
    return "\n".join(parts + _legend(list(bars)) + ["</svg>", ""])

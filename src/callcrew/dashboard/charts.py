"""Charts drawn on the server as inline SVG: no JavaScript, no CDN, readable without a browser.

Each function returns a complete `<svg>` element as text; every label is escaped. Series are
plain lists so the page's data and the picture cannot disagree.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

WIDTH, HEIGHT = 720, 220
LEFT, RIGHT, TOP, BOTTOM = 56, 12, 14, 38
# Colour-blind-safe (Okabe-Ito); one per series, in order.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#999")


@dataclass(frozen=True)
class Series:
    name: str
    values: Sequence[float | None]  # one per x label; None = no data that day
    dashed: bool = False


def _nice_max(value: float) -> float:
    """The axis top: the smallest of 1, 2, 2.5, 5 x a power of ten at or above `value`."""
    if value <= 0:
        return 1.0
    base = 10.0 ** math.floor(math.log10(value))
    return next(base * m for m in (1, 2, 2.5, 5, 10) if base * m >= value)


def _frame(title: str, y_max: float, unit: str, labels: Sequence[str]) -> list[str]:
    plot_h = HEIGHT - TOP - BOTTOM
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'role="img" aria-label="{escape(title)}" class="chart">',
        f"<title>{escape(title)}</title>",
    ]
    for i in range(5):
        value = y_max * i / 4
        y = TOP + plot_h - plot_h * i / 4
        parts.append(
            f'<line x1="{LEFT}" y1="{y:.1f}" x2="{WIDTH - RIGHT}" y2="{y:.1f}" class="grid"/>'
            f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" class="tick">'
            f"{escape(_fmt(value, unit))}</text>"
        )
    step = max(1, len(labels) // 8)
    for i, label in enumerate(labels):
        if i % step == 0 or i == len(labels) - 1:
            x = _x(i, len(labels))
            parts.append(
                f'<text x="{x:.1f}" y="{HEIGHT - BOTTOM + 16}" text-anchor="middle" '
                f'class="tick">{escape(label)}</text>'
            )
    return parts


def _fmt(value: float, unit: str) -> str:
    if unit == "$":
        return f"${value:.2f}" if value >= 1 or value == 0 else f"${value:.4g}"
    if unit == "s":
        return f"{value:.2f} s"
    return f"{value:g}"


def _x(i: int, n: int) -> float:
    plot_w = WIDTH - LEFT - RIGHT
    return LEFT + plot_w * (i + 0.5) / max(n, 1)


def _y(value: float, y_max: float) -> float:
    plot_h = HEIGHT - TOP - BOTTOM
    return TOP + plot_h - plot_h * min(value, y_max) / y_max


def _legend(series_names: Sequence[tuple[str, str, bool]]) -> list[str]:
    parts = []
    x = LEFT
    for name, colour, dashed in series_names:
        dash = ' stroke-dasharray="5 3"' if dashed else ""
        parts.append(
            f'<line x1="{x}" y1="{HEIGHT - 8}" x2="{x + 18}" y2="{HEIGHT - 8}" '
            f'stroke="{colour}" stroke-width="3"{dash}/>'
            f'<text x="{x + 22}" y="{HEIGHT - 4}" class="legend">{escape(name)}</text>'
        )
        x += 30 + 7 * len(name)
    return parts


def stacked_bars(title: str, labels: Sequence[str], stacks: Sequence[Series]) -> str:
    """One bar per label, split by series (e.g. calls per day by outcome)."""
    totals = [sum(s.values[i] or 0 for s in stacks) for i in range(len(labels))]
    y_max = _nice_max(max(totals, default=0))
    parts = _frame(title, y_max, "", labels)
    plot_w = WIDTH - LEFT - RIGHT
    bar_w = max(2.0, plot_w / max(len(labels), 1) * 0.7)
    for i, label in enumerate(labels):
        base = 0.0
        for k, s in enumerate(stacks):
            value = s.values[i] or 0
            if value <= 0:
                continue
            top, bottom = _y(base + value, y_max), _y(base, y_max)
            parts.append(
                f'<rect x="{_x(i, len(labels)) - bar_w / 2:.1f}" y="{top:.1f}" '
                f'width="{bar_w:.1f}" height="{bottom - top:.1f}" '
                f'fill="{PALETTE[k % len(PALETTE)]}" class="bar">'
                f"<title>{escape(label)}: {escape(s.name)} {value:g}</title></rect>"
            )
            base += value
    parts += _legend([(s.name, PALETTE[k % len(PALETTE)], False) for k, s in enumerate(stacks)])
    parts.append("</svg>")
    return "".join(parts)


def lines(title: str, labels: Sequence[str], series: Sequence[Series], unit: str) -> str:
    """One polyline per series (gaps where a value is None), a dot on every point."""
    values = [v for s in series for v in s.values if v is not None]
    y_max = _nice_max(max(values, default=0))
    parts = _frame(title, y_max, unit, labels)
    for k, s in enumerate(series):
        colour = PALETTE[k % len(PALETTE)]
        dash = ' stroke-dasharray="5 3"' if s.dashed else ""
        run: list[str] = []
        segments: list[list[str]] = [run]
        for i, v in enumerate(s.values):
            if v is None:
                run = []
                segments.append(run)
                continue
            x, y = _x(i, len(labels)), _y(v, y_max)
            run.append(f"{x:.1f},{y:.1f}")
            parts.append(
                f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{colour}">'
                f"<title>{escape(labels[i])}: {escape(s.name)} {escape(_fmt(v, unit))}</title>"
                "</circle>"
            )
        for seg in segments:
            if len(seg) > 1:
                parts.append(
                    f'<polyline points="{" ".join(seg)}" fill="none" stroke="{colour}" '
                    f'stroke-width="2"{dash}/>'
                )
    parts += _legend([(s.name, PALETTE[k % len(PALETTE)], s.dashed) for k, s in enumerate(series)])
    parts.append("</svg>")
    return "".join(parts)


@dataclass(frozen=True)
class Span:
    """One stage of a turn on the waterfall: starts `start` s after the caller stopped."""

    stage: str
    start: float
    length: float


def waterfall(rows: Sequence[tuple[str, Sequence[Span]]], title: str = "latency per turn") -> str:
    """A row per turn, a bar per stage, on one time axis (seconds after the caller stopped)."""
    stages: list[str] = []
    for _, spans in rows:
        for sp in spans:
            if sp.stage not in stages:
                stages.append(sp.stage)
    end = max((sp.start + sp.length for _, spans in rows for sp in spans), default=0.0)
    x_max = _nice_max(end)
    row_h = 22
    height = TOP + row_h * max(len(rows), 1) + BOTTOM
    plot_w = WIDTH - LEFT - RIGHT - 40
    left = LEFT + 40
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" role="img" '
        f'aria-label="{escape(title)}" class="chart waterfall"><title>{escape(title)}</title>'
    ]
    for i in range(5):
        x = left + plot_w * i / 4
        parts.append(
            f'<line x1="{x:.1f}" y1="{TOP}" x2="{x:.1f}" y2="{height - BOTTOM}" class="grid"/>'
            f'<text x="{x:.1f}" y="{height - BOTTOM + 14}" text-anchor="middle" class="tick">'
            f"{x_max * i / 4:.2f} s</text>"
        )
    for r, (label, spans) in enumerate(rows):
        y = TOP + r * row_h
        parts.append(
            f'<text x="{left - 6}" y="{y + 15}" text-anchor="end" class="tick">'
            f"{escape(label)}</text>"
        )
        for sp in spans:
            k = stages.index(sp.stage)
            x = left + plot_w * sp.start / x_max
            w = max(1.0, plot_w * sp.length / x_max)
            parts.append(
                f'<rect x="{x:.1f}" y="{y + 3 + k * 2}" width="{w:.1f}" '
                f'height="{max(4, 14 - k * 2)}" fill="{PALETTE[k % len(PALETTE)]}" '
                f'class="span"><title>{escape(label)} {escape(sp.stage)}: '
                f"{sp.length * 1000:.0f} ms</title></rect>"
            )
    x = LEFT
    for k, stage in enumerate(stages):
        parts.append(
            f'<rect x="{x}" y="{height - 14}" width="12" height="10" '
            f'fill="{PALETTE[k % len(PALETTE)]}"/>'
            f'<text x="{x + 16}" y="{height - 5}" class="legend">{escape(stage)}</text>'
        )
        x += 30 + 7 * len(stage)
    parts.append("</svg>")
    return "".join(parts)

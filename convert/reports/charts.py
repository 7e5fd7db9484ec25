"""Inline SVG for the HTML report: the error histogram of an output, and seconds per stage.

Plain strings, no plotting library and no script: the report must open from a PR artifact with
nothing to fetch and nothing to run. Every text goes through `html.escape`. Colours come from the
page's CSS classes (`.chart-*`), so the charts follow its light/dark scheme. Each bar carries a
<title> (the browser's tooltip) with its exact range and count.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from typing import Any

from torchready.convert.reports.histograms import edge_label

HISTOGRAM_WIDTH, HISTOGRAM_HEIGHT = 380, 170
MIN_BINS = 8  # a narrow distribution is widened to this many bins, so its place on the axis shows


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _number(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def histogram_svg(histogram: dict[str, Any], label: str) -> str:
    """Bars of |torch - coreml| per log-spaced bin; exact zeros and NaN/inf as captions."""
    counts = list(histogram.get("counts") or [])
    edges = list(histogram.get("log10_edges") or [])
    counts, edges = _widened(counts, edges)
    left, right, top, bottom = 40, 10, 14, 34
    plot_w = HISTOGRAM_WIDTH - left - right
    plot_h = HISTOGRAM_HEIGHT - top - bottom
    peak = max(counts, default=0)
    parts = [f'<svg class="chart histogram" xmlns="http://www.w3.org/2000/svg" '
             f'width="{HISTOGRAM_WIDTH}" height="{HISTOGRAM_HEIGHT}" '
             f'viewBox="0 0 {HISTOGRAM_WIDTH} {HISTOGRAM_HEIGHT}" role="img" '
             f'aria-label="{_e(label)}">',
             f"<title>{_e(label)}</title>",
             f'<line class="chart-axis" x1="{left}" y1="{top + plot_h}" '
             f'x2="{left + plot_w}" y2="{top + plot_h}"/>',
             f'<line class="chart-axis" x1="{left}" y1="{top}" x2="{left}" '
             f'y2="{top + plot_h}"/>']
    if peak:
        bar_w = plot_w / len(counts)
        for index, count in enumerate(counts):
            if not count:
                continue
            height = max(1.0, plot_h * count / peak)
            x = left + index * bar_w
            low, high = edge_label(edges[index]), edge_label(edges[index + 1])
            parts.append(
                f'<rect class="chart-bar" x="{_number(x + 0.5)}" '
                f'y="{_number(top + plot_h - height)}" width="{_number(max(1.0, bar_w - 1))}" '
                f'height="{_number(height)}"><title>{_e(f"{count} error(s) in [{low}, {high})")}'
                f"</title></rect>")
        parts.extend(_x_ticks(edges, left, top + plot_h, bar_w))
        parts.append(f'<text class="chart-text" x="{left - 4}" y="{top + 4}" '
                     f'text-anchor="end">{peak}</text>')
        parts.append(f'<text class="chart-text" x="{left - 4}" y="{top + plot_h}" '
                     f'text-anchor="end">0</text>')
    else:
        parts.append(f'<text class="chart-text" x="{left + plot_w / 2:.0f}" '
                     f'y="{top + plot_h / 2:.0f}" text-anchor="middle">every error is exactly 0'
                     "</text>")
    total = max(1, int(histogram.get("total") or 0))
    exact, nonfinite = int(histogram.get("exact") or 0), int(histogram.get("nonfinite") or 0)
    caption = f"|error| (log scale) · exact: {exact} ({exact / total:.0%})"
    parts.append(f'<text class="chart-text" x="{left}" y="{HISTOGRAM_HEIGHT - 4}">'
                 f"{_e(caption)}</text>")
    if nonfinite:
        parts.append(f'<text class="chart-text chart-bad" x="{HISTOGRAM_WIDTH - right}" '
                     f'y="{HISTOGRAM_HEIGHT - 4}" text-anchor="end">'
                     f"{_e(f'NaN/inf: {nonfinite}')}</text>")
    parts.append("</svg>")
    return "".join(parts)


def _widened(counts: list[int], edges: list[float]) -> tuple[list[int], list[float]]:
    if not counts or len(counts) >= MIN_BINS or len(edges) < 2:
        return counts, edges
    step = edges[1] - edges[0]
    missing = MIN_BINS - len(counts)
    before = missing // 2
    after = missing - before
    edges = [edges[0] - step * i for i in range(before, 0, -1)] + edges \
        + [edges[-1] + step * i for i in range(1, after + 1)]
    return [0] * before + counts + [0] * after, edges


def _x_ticks(edges: Sequence[float], left: float, baseline: float, bar_w: float) -> list[str]:
    """A tick and label at each power of ten (every second one when crowded)."""
    decades = [(i, edge) for i, edge in enumerate(edges) if math.isclose(edge, round(edge))]
    stride = 1 if len(decades) <= 6 else 2
    ticks = []
    for number, (index, edge) in enumerate(decades):
        if number % stride:
            continue
        x = left + index * bar_w
        ticks.append(f'<line class="chart-axis" x1="{_number(x)}" y1="{_number(baseline)}" '
                     f'x2="{_number(x)}" y2="{_number(baseline + 4)}"/>')
        ticks.append(f'<text class="chart-text" x="{_number(x)}" y="{_number(baseline + 15)}" '
                     f'text-anchor="middle">{_e(edge_label(edge))}</text>')
    return ticks


def timings_svg(stages: Sequence[dict[str, Any]]) -> str:
    """One horizontal bar per pipeline stage, seconds at its end."""
    row, label_w, value_w, bar_max = 20, 80, 60, 360
    width = label_w + bar_max + value_w
    height = row * len(stages) + 6
    longest = max((float(stage["seconds"]) for stage in stages), default=0.0) or 1.0
    parts = [f'<svg class="chart timings" xmlns="http://www.w3.org/2000/svg" width="{width}" '
             f'height="{height}" viewBox="0 0 {width} {height}" role="img" '
             f'aria-label="seconds per stage"><title>seconds per stage</title>']
    for index, stage in enumerate(stages):
        seconds = float(stage["seconds"])
        y = 3 + index * row
        length = max(1.0, bar_max * seconds / longest)
        parts.append(f'<text class="chart-text" x="{label_w - 6}" y="{y + 13}" '
                     f'text-anchor="end">{_e(stage["stage"])}</text>')
        parts.append(f'<rect class="chart-bar" x="{label_w}" y="{y + 2}" '
                     f'width="{_number(length)}" height="{row - 6}">'
                     f'<title>{_e(stage["stage"])}: {seconds:.3f} s</title></rect>')
        parts.append(f'<text class="chart-text" x="{_number(label_w + length + 6)}" '
                     f'y="{y + 13}">{_e(f"{seconds:.2f} s")}</text>')
    parts.append("</svg>")
    return "".join(parts)

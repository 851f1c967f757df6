"""A Grafana dashboard's panels drawn as one HTML page with inline SVG, no script: rows and panels at
their gridPos (24 columns), time series with axes, and each panel's legend table (mean, max)."""

from __future__ import annotations

import itertools
import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from html import escape
from typing import Any

from deploy.grafana.scrape import METRIC_NAME, Series

WIDTH = 1600  # px of the page's grid
CELL_H, GAP = 30, 8  # a grid unit's height and the space between panels, as Grafana spaces them
TITLE_H, LEGEND_ROW_H, MIN_PLOT_H = 28, 17, 110
AXIS_W, AXIS_H = 62, 20
# Okabe and Ito's colour-blind-safe palette (its black made white for a dark page), with five more
# colours among it so that the first eight lines of a panel differ most.
PALETTE = [
    *("#56b4e9", "#e69f00", "#009e73", "#f0e442", "#cc79a7", "#eeeeee", "#a6d854", "#ff8c8c"),
    *("#9d8df1", "#0072b2", "#d55e00", "#8c6d31", "#888888"),
]
LABEL = re.compile(r"\{\{\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\}\}")


@dataclass
class Window:
    """The time the picture spans and the step its queries were evaluated at (unix seconds)."""

    start: float
    end: float
    step: float


@dataclass
class Target:
    """One query of a panel and what Prometheus answered."""

    ref: str
    expr: str
    legend: str
    series: list[Series]
    why_empty: str = ""

    def name(self, series: Series) -> str:
        if self.legend:
            return LABEL.sub(lambda m: series.labels.get(m.group(1), ""), self.legend).strip()
        shown = {k: v for k, v in series.labels.items() if k != "__name__"}
        return "{" + ", ".join(f'{k}="{v}"' for k, v in sorted(shown.items())) + "}" if shown else self.expr


def page(dashboard: dict[str, Any], answers: dict[int, list[Target]], window: Window, head: str) -> str:
    """The whole page: `head` (HTML) above the dashboard's grid."""
    bottom = max(p["gridPos"]["y"] + p["gridPos"]["h"] for p in dashboard["panels"])
    boxes = [_panel(p, answers.get(p["id"], []), window) for p in dashboard["panels"]]
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>{escape(dashboard["title"])}</title>
<style>{STYLE}</style></head><body><header>{head}</header>
<div class="grid" style="height:{bottom * (CELL_H + GAP)}px">{"".join(boxes)}</div></body></html>"""


def _panel(panel: dict[str, Any], targets: list[Target], window: Window) -> str:
    grid = panel["gridPos"]
    column = (WIDTH - GAP) / 24
    left, top = grid["x"] * column + GAP, grid["y"] * (CELL_H + GAP)
    width, height = grid["w"] * column - GAP, grid["h"] * CELL_H + (grid["h"] - 1) * GAP
    place = f"left:{left:.0f}px;top:{top}px;width:{width:.0f}px;height:{height}px"
    title = escape(panel.get("title", ""))
    if panel["type"] == "row":
        return f'<div class="row" style="{place}">&#9662; {title}</div>'
    unit = panel.get("fieldConfig", {}).get("defaults", {}).get("unit", "short")
    lines = [(t, s) for t in targets for s in sorted(t.series, key=t.name)]
    empty = [t for t in targets if not t.series]
    room = (height - TITLE_H - MIN_PLOT_H) // LEGEND_ROW_H - 1  # legend rows under its header
    rows = _legend(lines, empty, unit, max(room, 1))
    plot_h = height - TITLE_H - LEGEND_ROW_H * (rows.count("<tr") + 1) - 6
    svg = _plot(lines, unit, window, int(width) - 12, plot_h)
    description = escape(panel.get("description", ""), quote=True)
    return (
        f'<div class="panel" style="{place}"><div class="title" title="{description}">{title}</div>'
        f'{svg}<table class="legend"><tr><th></th><th>Mean</th><th>Max</th></tr>{rows}</table></div>'
    )


def _legend(lines: list[tuple[Target, Series]], empty: list[Target], unit: str, room: int) -> str:
    rows = []
    for n, (target, series) in enumerate(lines):
        values = [v for _, v in series.points]
        mean = _format(sum(values) / len(values), unit) if values else "-"
        top = _format(max(values), unit) if values else "-"
        swatch = f'<span class="swatch" style="background:{PALETTE[n % len(PALETTE)]}"></span>'
        rows.append(f"<tr><td>{swatch}{escape(target.name(series))}</td><td>{mean}</td><td>{top}</td></tr>")
    for target in empty:
        named = ", ".join(dict.fromkeys(METRIC_NAME.findall(target.expr))) or target.expr
        note = f"{target.ref}: {named}: no series ({target.why_empty.split(':')[0]})"
        rows.append(f'<tr class="none"><td>{escape(note)}</td><td></td><td></td></tr>')
    if len(rows) > room:
        rows = [
            *rows[: room - 1],
            f'<tr class="none"><td>+ {len(rows) - room + 1} more</td><td></td><td></td></tr>',
        ]
    return "".join(rows)


def _plot(lines: list[tuple[Target, Series]], unit: str, window: Window, width: int, height: int) -> str:
    start, end = window.start, window.end
    values = [v for _, series in lines for _, v in series.points]
    svg = [f'<svg width="{width}" height="{height}" viewBox="0 0 {width} {height}">']
    if not values:
        svg.append(f'<text class="nodata" x="{width / 2}" y="{height / 2}">No data</text></svg>')
        return "".join(svg)
    low = min(0.0, min(values))
    step = _nice((max(values) - low) / 4 or 1.0)
    high = math.ceil(max(values) / step) * step if max(values) > 0 else step
    plot_w, plot_h = width - AXIS_W, height - AXIS_H

    def x(t: float) -> float:
        return AXIS_W + (t - start) / (end - start) * plot_w

    def y(v: float) -> float:
        return plot_h - (v - low) / (high - low) * (plot_h - 6)

    tick = low
    while tick <= high + step / 2:
        svg.append(f'<line class="grid" x1="{AXIS_W}" x2="{width}" y1="{y(tick):.1f}" y2="{y(tick):.1f}"/>')
        svg.append(f'<text class="ylab" x="{AXIS_W - 6}" y="{y(tick) + 4:.1f}">{_format(tick, unit)}</text>')
        tick += step
    every = next(s for s in (10, 15, 30, 60, 120, 300, 600, 1800, 3600) if (end - start) / s <= 8)
    moment = math.ceil(start / every) * every
    while moment <= end:
        label = datetime.fromtimestamp(moment, UTC).strftime("%H:%M:%S")
        svg.append(f'<line class="grid" x1="{x(moment):.1f}" x2="{x(moment):.1f}" y1="0" y2="{plot_h}"/>')
        if x(moment) + 25 <= width:  # a label cut by the panel's edge is left out
            svg.append(f'<text class="xlab" x="{x(moment):.1f}" y="{height - 5}">{label}</text>')
        moment += every
    for n, (_, series) in enumerate(lines):
        colour = PALETTE[n % len(PALETTE)]
        for run in _runs(series.points, window.step):
            if len(run) == 1:
                t, v = run[0]
                svg.append(f'<circle cx="{x(t):.1f}" cy="{y(v):.1f}" r="2" fill="{colour}"/>')
                continue
            path = " ".join(f"{x(t):.1f},{y(v):.1f}" for t, v in run)
            svg.append(f'<polyline points="{path}" stroke="{colour}"/>')
    svg.append("</svg>")
    return "".join(svg)


def _runs(points: list[tuple[float, float]], step: float) -> list[list[tuple[float, float]]]:
    """Points split where steps have no value (a NaN quantile, a series that began late): a gap."""
    if not points:
        return []
    runs: list[list[tuple[float, float]]] = [[points[0]]]
    for before, point in itertools.pairwise(points):
        if point[0] - before[0] > 1.5 * step:
            runs.append([])
        runs[-1].append(point)
    return runs


def _nice(raw: float) -> float:
    magnitude = 10.0 ** math.floor(math.log10(raw))
    return next(m * magnitude for m in (1, 2, 2.5, 5, 10) if raw <= m * magnitude)


def _format(value: float, unit: str) -> str:
    if unit == "s":
        if value == 0:
            return "0"
        return f"{value * 1000:.3g} ms" if abs(value) < 1 else f"{value:.3g} s"
    text = _short(value)
    return f"{text}/s" if unit in ("ops", "reqps") else text


def _short(value: float) -> str:
    for size, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= size:
            return f"{value / size:.3g}{suffix}"
    return f"{value:.3g}"


STYLE = """
body { margin: 0; padding: 12px 0 16px; background: #111217; color: #ccccdc;
  font: 12px/1.35 "DejaVu Sans", "Liberation Sans", Arial, sans-serif; width: 1600px; }
header { padding: 0 8px 10px; }
header h1 { font-size: 17px; margin: 0 0 4px; color: #e8e8f0; font-weight: 600; }
header p { margin: 2px 0; color: #9fa1b0; }
header .bar span { display: inline-block; margin: 6px 8px 0 0; padding: 3px 8px; background: #181b1f;
  border: 1px solid #2c2f36; border-radius: 2px; color: #ccccdc; }
.grid { position: relative; }
.row { position: absolute; font-size: 15px; font-weight: 600; color: #e8e8f0; padding-top: 6px; }
.panel { position: absolute; background: #181b1f; border: 1px solid #2c2f36; border-radius: 2px;
  box-sizing: border-box; padding: 0 6px; overflow: hidden; }
.title { height: 28px; line-height: 28px; font-weight: 600; color: #e8e8f0; white-space: nowrap;
  overflow: hidden; text-overflow: ellipsis; }
svg { display: block; }
svg .grid { stroke: #2c2f36; stroke-width: 1; }
svg polyline { fill: none; stroke-width: 1.6; stroke-linejoin: round; }
svg text { fill: #9fa1b0; font-size: 10.5px; }
svg .ylab { text-anchor: end; }
svg .xlab { text-anchor: middle; }
svg .nodata { text-anchor: middle; font-size: 14px; fill: #6e7080; }
.legend { width: 100%; border-collapse: collapse; margin-top: 4px; font-size: 11px; }
.legend th { color: #6e9fff; font-weight: 500; text-align: right; padding: 0 6px; height: 16px; }
.legend td { padding: 0 6px; height: 16px; white-space: nowrap; text-align: right; }
.legend td:first-child { text-align: left; max-width: 300px; overflow: hidden; text-overflow: ellipsis; }
.legend tr.none td { color: #6e7080; font-style: italic; }
.swatch { display: inline-block; width: 12px; height: 3px; margin: 0 6px 3px 0; vertical-align: middle; }
"""

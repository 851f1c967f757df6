"""Charts drawn on the server as inline SVG.

Why SVG from Python rather than a JavaScript charting library: the console has no build step and
loads nothing from a CDN, and a stacked bar chart is forty lines of arithmetic. The charts render in
both languages, print, show in a page test's HTML and in screenshots without waiting for scripts,
and each bar carries a <title> a screen reader or a hovering mouse can read.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape

from markupsafe import Markup

PALETTE = ("#2456d3", "#1f9d55", "#d97706", "#b3261e", "#7c3aed", "#0891b2", "#be185d", "#6b7485", "#84cc16")
WIDTH, HEIGHT, LEFT, BOTTOM, TOP = 640, 220, 44, 28, 10


def color_of(name: str, names: Sequence[str]) -> str:
    return PALETTE[names.index(name) % len(PALETTE)] if name in names else PALETTE[-1]


def _nice_max(value: float) -> float:
    if value <= 0:
        return 1.0
    step = 10 ** (len(str(int(value))) - 1) if value >= 1 else 0.1
    return float((int(value / step) + 1) * step)


def stacked_bars(
    labels: Sequence[str],
    series: Mapping[str, Sequence[float]],
    *,
    title: str,
    unit: str = "",
    chart_id: str = "",
) -> Markup:
    """One bar per label, one coloured segment per series, a legend below; values as <title>s."""
    names = list(series)
    totals = [sum(series[n][i] for n in names) for i in range(len(labels))]
    top = _nice_max(max(totals, default=0))
    plot_w, plot_h = WIDTH - LEFT - 8, HEIGHT - BOTTOM - TOP
    slot = plot_w / max(len(labels), 1)
    bar = max(slot * 0.7, 1)
    out = [
        f'<svg class="chart" id="{escape(chart_id)}" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-label="{escape(title)}" preserveAspectRatio="xMidYMid meet"><title>{escape(title)}</title>'
    ]
    for k in range(5):
        y = TOP + plot_h - plot_h * k / 4
        value = top * k / 4
        shown = f"{value:g}" if value >= 1 or value == 0 else f"{value:.2f}"
        out.append(f'<line x1="{LEFT}" x2="{WIDTH - 8}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>')
        out.append(f'<text x="{LEFT - 4}" y="{y + 4:.1f}" text-anchor="end" class="axis">{shown}</text>')
    for i, label in enumerate(labels):
        x = LEFT + i * slot + (slot - bar) / 2
        y = TOP + plot_h
        for name in names:
            value = series[name][i]
            if value <= 0:
                continue
            h = plot_h * value / top
            y -= h
            fill = color_of(name, names)
            out.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{h:.1f}" fill="{fill}">'
                f"<title>{escape(label)} · {escape(name)}: {value:g}{escape(unit)}</title></rect>"
            )
        if len(labels) <= 16 or i % 2 == 0:
            out.append(
                f'<text x="{x + bar / 2:.1f}" y="{HEIGHT - BOTTOM + 14}" text-anchor="middle" class="axis">'
                f"{escape(label)}</text>"
            )
    out.append("</svg>")
    # Swatches as SVG, not inline styles: the staff pages' Content-Security-Policy forbids those.
    legend = "".join(
        f'<span class="key"><svg width="10" height="10" aria-hidden="true"><rect width="10" height="10" '
        f'fill="{color_of(n, names)}"/></svg> {escape(n)}</span>'
        for n in names
    )
    return Markup("".join(out) + f'<div class="legend">{legend}</div>')


def bars(items: Mapping[str, float], *, title: str, chart_id: str = "", unit: str = "") -> Markup:
    """Horizontal bars, largest first: failures by provider, rates."""
    ordered = sorted(items.items(), key=lambda kv: -kv[1])
    top = max((v for _, v in ordered), default=0) or 1
    row_h, label_w = 26, 140
    height = max(len(ordered), 1) * row_h + 8
    out = [
        f'<svg class="chart" id="{escape(chart_id)}" viewBox="0 0 {WIDTH} {height}" role="img" '
        f'aria-label="{escape(title)}"><title>{escape(title)}</title>'
    ]
    for i, (name, value) in enumerate(ordered):
        y = 4 + i * row_h
        w = (WIDTH - label_w - 70) * value / top
        out.append(
            f'<text x="{label_w - 6}" y="{y + 17}" text-anchor="end" class="axis">{escape(name)}</text>'
        )
        out.append(
            f'<rect x="{label_w}" y="{y + 4}" width="{max(w, 1):.1f}" height="{row_h - 8}" class="bad">'
            f"<title>{escape(name)}: {value:g}{escape(unit)}</title></rect>"
        )
        out.append(
            f'<text x="{label_w + w + 6:.1f}" y="{y + 17}" class="axis">{value:g}{escape(unit)}</text>'
        )
    if not ordered:
        out.append(f'<text x="{WIDTH / 2}" y="20" text-anchor="middle" class="axis">—</text>')
    out.append("</svg>")
    return Markup("".join(out))

"""Small inline SVG line plots: no script, no front-end build, nothing fetched."""

from __future__ import annotations

from collections.abc import Mapping
from html import escape

from bizevents.ops.overview import Points

COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#17becf")


def _fmt(value: float) -> str:
    if value >= 100 or value == int(value):
        return f"{value:,.0f}"
    return f"{value:.2f}"


def line_plot(series: Mapping[str, Points], unit: str, width: int = 360, height: int = 90) -> str:
    """A plot of every series over a shared time and value axis, with its legend."""
    drawn = {label: points for label, points in series.items() if points}
    if not drawn:
        return '<p class="none">no data in this window</p>'
    times = [t for points in drawn.values() for t, _ in points]
    values = [v for points in drawn.values() for _, v in points]
    t0, t1 = min(times), max(times)
    top = max(values) or 1.0
    span = (t1 - t0) or 1.0
    lines, legend = [], []
    for i, (label, points) in enumerate(sorted(drawn.items())):
        colour = COLOURS[i % len(COLOURS)]
        xy = " ".join(
            f"{(t - t0) / span * width:.1f},{height - v / top * (height - 4) - 2:.1f}"
            for t, v in points
        )
        lines.append(f'<polyline fill="none" stroke="{colour}" stroke-width="1.5" points="{xy}"/>')
        x, y = xy.split()[-1].split(",")  # the latest value, visible even as a single point
        lines.append(f'<circle cx="{x}" cy="{y}" r="2.5" fill="{colour}"/>')
        last = points[-1][1]
        legend.append(
            f'<li><span class="swatch" style="background:{colour}"></span>{escape(label)} '
            f"<b>{_fmt(last)}</b></li>"
        )
    return (
        f'<svg class="plot" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'role="img" aria-label="max {_fmt(top)} {escape(unit)}">'
        f'<line x1="0" y1="{height - 1}" x2="{width}" y2="{height - 1}" stroke="#ccc"/>'
        f"{''.join(lines)}</svg>"
        f'<p class="axis">max {_fmt(top)} {escape(unit)}</p>'
        f'<ul class="legend">{"".join(legend)}</ul>'
    )

"""Charts drawn on the server as inline SVG: no script, no file, nothing fetched.

A chart is an HTML table whose label and figure cells are text (shaped and laid out by
the browser or WeasyPrint in the page's direction: WeasyPrint's SVG text does not join
Arabic letters) and whose bar cell is a small SVG. In a right-to-left page the table's
columns flip by themselves; the bars are mirrored here, so that they grow from the
labels' side, and so are the axis' figures.
"""

from dataclasses import dataclass
from html import escape

WIDTH = 260  # px of the bar cell, in SVG user units
BAR = 12
NICE_STEPS = (5, 10, 15, 30, 60, 120, 180, 240, 360, 480, 720, 1440, 2880)
MEDIAN = "#b3261e"  # the median's bar, in front of the 90th percentile's
TAIL = "#f2b8b5"
GRID = "#d5d8dc"


@dataclass
class Bar:
    label: str  # text; escaped here
    median: float
    p90: float
    figures: str  # HTML: the numbers shown beside the bar (already escaped by the caller)


def step_for(largest: float) -> int:
    """A round tick step (minutes) giving at most six ticks up to `largest`."""
    for step in NICE_STEPS:
        if largest / step <= 6:
            return step
    return NICE_STEPS[-1] * (int(largest / NICE_STEPS[-1] / 6) + 1)


def _x(value: float, scale: float, rtl: bool) -> float:
    """Where a value lies along the bar cell: from the start side of the page."""
    x = value * scale
    return WIDTH - x if rtl else x


def _grid(top: int, step: int, largest: float, scale: float, rtl: bool) -> str:
    lines = []
    tick = 0
    while tick <= largest:
        x = _x(tick, scale, rtl)
        lines.append(f'<line x1="{x:.1f}" y1="0" x2="{x:.1f}" y2="{top}" stroke="{GRID}"/>')
        tick += step
    return "".join(lines)


def bar_chart(bars: list[Bar], *, rtl: bool, caption: str, legend: tuple[str, str]) -> str:
    """Median and 90th percentile per row: a dark bar to the median, a light one on to the
    90th percentile, on a common scale with gridlines every round number of minutes."""
    if not bars:
        return ""
    largest = max(max(b.p90, b.median) for b in bars) or 1.0
    step = step_for(largest)
    end = step * (int(largest // step) + 1)  # the axis ends on a tick past the longest bar
    scale = (WIDTH - 4) / end
    height = BAR + 8
    rows = []
    for bar in bars:
        median, p90 = (max(0.0, v) * scale for v in (bar.median, max(bar.p90, bar.median)))
        tail_x = WIDTH - p90 if rtl else 0.0
        median_x = WIDTH - median if rtl else 0.0
        svg = (
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
            f'viewBox="0 0 {WIDTH} {height}" role="img" aria-label="{escape(bar.label)}">'
            f"{_grid(height, step, end, scale, rtl)}"
            f'<rect x="{tail_x:.1f}" y="4" width="{p90:.1f}" height="{BAR}" fill="{TAIL}"/>'
            f'<rect x="{median_x:.1f}" y="4" width="{median:.1f}" height="{BAR}" '
            f'fill="{MEDIAN}"/></svg>'
        )
        rows.append(
            f'<tr><th scope="row">{escape(bar.label)}</th><td class="bars">{svg}</td>'
            f'<td class="num">{bar.figures}</td></tr>'
        )
    return (
        f'<table class="chart"><caption>{escape(caption)}</caption><tbody>{"".join(rows)}'
        f'<tr class="axis"><th></th><td class="bars">{_axis(step, end, scale, rtl)}</td>'
        f"<td></td></tr></tbody></table>{_legend(legend)}"
    )


def _axis(step: int, end: float, scale: float, rtl: bool) -> str:
    """The axis' minutes (digits only, which SVG text draws well in any direction)."""
    labels = []
    tick = 0
    while tick <= end:
        x = min(max(_x(tick, scale, rtl), 8), WIDTH - 8)
        labels.append(
            f'<text x="{x:.1f}" y="11" font-size="9" fill="#555" text-anchor="middle">{tick}</text>'
        )
        tick += step
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="14" '
        f'viewBox="0 0 {WIDTH} 14" aria-hidden="true">{"".join(labels)}</svg>'
    )


def _legend(legend: tuple[str, str]) -> str:
    median, p90 = legend
    return (
        '<p class="legend">'
        f"{_swatch(MEDIAN)} {escape(median)} &#160; {_swatch(TAIL)} {escape(p90)}</p>"
    )


def _swatch(color: str) -> str:
    return (
        '<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10" viewBox="0 0 10 10" '
        f'aria-hidden="true"><rect width="10" height="10" fill="{color}"/></svg>'
    )

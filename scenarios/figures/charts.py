"""Small inline SVG charts drawn on the server (no JavaScript, no external assets): grouped bars
and daily lines. Every bar and point carries its number as text and a <title>, and each series a
distinct pattern of dash or hatching besides its colour, so colour is never the only signal."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from html import escape

# No style attributes: the console's CSP allows hashed <style> blocks only; size it with CSS
# (.figures-chart {width: 100%; max-width: 640px}).
# Colour-blind-safe pairs of colour and dash (Okabe–Ito); the dash tells series apart in print.
SERIES_STYLES = (
    ("#0072B2", ""),
    ("#E69F00", "6 3"),
    ("#009E73", "2 2"),
    ("#CC79A7", "8 3 2 3"),
)
WIDTH = 640
FONT = "font-family='sans-serif' font-size='12'"


def _svg(title: str, height: int, body: list[str]) -> str:
    label = escape(title)
    return (
        f"<svg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 {WIDTH} {height}' "
        f"class='figures-chart' role='img' aria-label='{label}'>"
        f"<title>{label}</title>" + "".join(body) + "</svg>"
    )


def _legend(names: Sequence[str], y: int) -> list[str]:
    parts: list[str] = []
    x = 8
    for index, name in enumerate(names):
        colour, dash = SERIES_STYLES[index % len(SERIES_STYLES)]
        parts.append(
            f"<line x1='{x}' y1='{y}' x2='{x + 24}' y2='{y}' stroke='{colour}' stroke-width='4' "
            f"stroke-dasharray='{dash}'/>"
            f"<text x='{x + 30}' y='{y + 4}' {FONT}>{escape(name)}</text>"
        )
        x += 40 + 13 * len(name)
    return parts


def bar_chart(
    title: str, categories: Sequence[str], series: Sequence[tuple[str, Sequence[int]]]
) -> str:
    """Horizontal grouped bars: one group per category, one bar per series, the number beside
    each bar (horizontal, so long Chinese labels fit a phone's width)."""
    bar, gap, label_width = 14, 10, 200
    group = bar * len(series) + gap
    height = 40 + group * max(1, len(categories)) + 10
    peak = max([1, *(v for _, values in series for v in values)])
    scale = (WIDTH - label_width - 60) / peak
    body = _legend([name for name, _ in series], 16)
    for row, category in enumerate(categories):
        top = 32 + row * group
        body.append(
            f"<text x='{label_width - 6}' y='{top + bar * len(series) / 2 + 4}' "
            f"text-anchor='end' {FONT}>{escape(category[:16])}</text>"
        )
        for index, (name, values) in enumerate(series):
            colour, dash = SERIES_STYLES[index % len(SERIES_STYLES)]
            value = values[row]
            y = top + index * bar
            width = max(1.0, value * scale) if value else 0.0
            body.append(
                f"<rect x='{label_width}' y='{y}' width='{width:.1f}' height='{bar - 2}' "
                f"fill='{colour}' stroke='#000' stroke-width='0.5' stroke-dasharray='{dash}'>"
                f"<title>{escape(category)} {escape(name)}：{value}</title></rect>"
                f"<text x='{label_width + width + 4:.1f}' y='{y + bar - 4}' {FONT}>{value}</text>"
            )
    return _svg(title, height, body)


def line_chart(
    title: str, series: dict[str, list[tuple[date, float]]], days: Sequence[date]
) -> str:
    """One line per series over the month's days, each point labelled with a <title>."""
    height, left, top, bottom = 240, 40, 36, 200
    body = _legend(list(series), 16)
    points = [v for values in series.values() for _, v in values]
    if not points or not days:
        body.append(f"<text x='{left}' y='{top + 40}' {FONT}>本月无指数快照</text>")
        return _svg(title, 80, body)
    low, high = min(points), max(points)
    low, high = (low - 5, high + 5) if high - low < 10 else (low, high)
    span_x = (WIDTH - left - 20) / max(1, len(days) - 1)
    first = days[0]

    def y(value: float) -> float:
        return bottom - (value - low) / (high - low) * (bottom - top)

    body.append(
        f"<line x1='{left}' y1='{bottom}' x2='{WIDTH - 10}' y2='{bottom}' stroke='#666'/>"
        f"<text x='2' y='{top + 4}' {FONT}>{high:.0f}</text>"
        f"<text x='2' y='{bottom}' {FONT}>{low:.0f}</text>"
        f"<text x='{left}' y='{bottom + 16}' {FONT}>{days[0]:%m-%d}</text>"
        f"<text x='{WIDTH - 10}' y='{bottom + 16}' text-anchor='end' {FONT}>{days[-1]:%m-%d}</text>"
    )
    for index, (name, values) in enumerate(series.items()):
        colour, dash = SERIES_STYLES[index % len(SERIES_STYLES)]
        coords = [
            (left + (day - first).days * span_x, y(value), day, value) for day, value in values
        ]
        path = " ".join(f"{x:.1f},{py:.1f}" for x, py, _, _ in coords)
        body.append(
            f"<polyline points='{path}' fill='none' stroke='{colour}' stroke-width='2' "
            f"stroke-dasharray='{dash}'/>"
        )
        for x, py, day, value in coords:
            body.append(
                f"<circle cx='{x:.1f}' cy='{py:.1f}' r='3' fill='{colour}'>"
                f"<title>{escape(name)} {day.isoformat()}：{value:g}</title></circle>"
            )
    return _svg(title, height, body)

"""Charts as SVG text, drawn here rather than with a charting library.

Why by hand: the dashboard serves a strict Content-Security-Policy (no inline style, no inline
script, nothing from another origin). pygal, the usual small Python SVG library, styles its charts
with an inline ``<style>`` element and a config ``<script>``: under that policy it renders a black
box. leather draws with presentation attributes but has no stacked bars and no way to give one bar
a link. These charts use presentation attributes only (``fill``, ``stroke``, ``font-size``), so
they look the same inline in a dashboard page, in a saved HTML review and in its PDF; every bar and
point links to the list of records it was counted from and says its figure key and value in
``data-`` attributes (what the tests compare with that list).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from xml.sax.saxutils import escape, quoteattr

FONT = "system-ui, 'Noto Sans CJK SC', 'WenQuanYi Zen Hei', 'Microsoft YaHei', sans-serif"
INK, MUTED, GRID = "#1c2733", "#5f6b7a", "#e2e6ea"
PALETTE = ("#0e6e6a", "#1f56b8", "#d08c00", "#6b4fbb", "#c2508a", "#2b7a3d", "#8c564b", "#5f6b7a", "#17a2b8")


@dataclass
class Mark:
    """One bar segment or point: its value, the figure it shows, and where its records are listed."""
    value: float | None
    figure: str
    title: str
    href: str | None = None
    count: int | None = None       # for a rate: how many were rated
    on_time: int | None = None     # for a rate: how many of them on time


@dataclass
class Series:
    label: str
    colour: str
    marks: list[Mark] = field(default_factory=list)


@dataclass
class Layout:
    width: int = 640
    height: int = 280
    left: int = 52
    right: int = 16
    top: int = 40
    bottom: int = 44

    @property
    def plot_width(self) -> int:
        return self.width - self.left - self.right

    @property
    def plot_height(self) -> int:
        return self.height - self.top - self.bottom


def _text(x: float, y: float, text: str, *, size: int = 11, anchor: str = "middle", fill: str = MUTED,
          weight: str | None = None) -> str:
    bold = f' font-weight="{weight}"' if weight else ""
    return (f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}" fill="{fill}" '
            f'font-family="{FONT}"{bold}>{escape(text)}</text>')


def _linked(tag: str, attributes: str, mark: Mark) -> str:
    """A shape with its tooltip and data attributes, inside a link to its records when it has one."""
    body = f"<{tag} {attributes} {_data(mark)}><title>{escape(mark.title)}</title></{tag}>"
    return f"<a href={quoteattr(mark.href)}>{body}</a>" if mark.href else body


def _data(mark: Mark) -> str:
    parts = [f"data-figure={quoteattr(mark.figure)}", f'data-value="{_number(mark.value)}"']
    if mark.count is not None:
        parts.append(f'data-count="{mark.count}"')
    if mark.on_time is not None:
        parts.append(f'data-on-time="{mark.on_time}"')
    return " ".join(parts)


def _number(value: float | None) -> str:
    if value is None:
        return ""
    return str(int(value)) if float(value).is_integer() else f"{value:.4f}"


def _nice_max(value: float) -> int:
    for step in (1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000):
        if value <= step * 4:
            return step * 4
    return int(value) + 1


def text_width(text: str, size: int = 11) -> float:
    """About how wide `text` is drawn: CJK characters are square, Latin ones a little over half as wide."""
    return sum(size if ord(ch) > 0x2E80 else size * 0.58 for ch in text)


def _legend(layout: Layout, series: list[Series]) -> tuple[list[str], int]:
    """Legend entries across the top, wrapped onto as many rows as they need."""
    parts, x, row = [], float(layout.left), 0
    for s in series:
        width = 20 + text_width(s.label) + 14
        if x + width > layout.width - layout.right and x > layout.left:
            x, row = float(layout.left), row + 1
        y = 12 + row * 18
        parts.append(f'<rect x="{x:.1f}" y="{y}" width="10" height="10" rx="2" fill="{s.colour}"/>')
        parts.append(_text(x + 14, y + 9, s.label, anchor="start", fill=INK))
        x += width
    return parts, row + 1


def _axis_label(x: float, y: float, text: str, room: float) -> str:
    """A label under the axis, broken at spaces onto up to three lines when it is wider than its slot."""
    lines: list[str] = []
    for word in text.split(" "):
        if lines and text_width(lines[-1] + " " + word) <= room:
            lines[-1] += " " + word
        else:
            lines.append(word)
    if len(lines) > 3:
        lines = lines[:2] + [" ".join(lines[2:])]
    return "".join(_text(x, y + 13 * i, line) for i, line in enumerate(lines))


def _frame(layout: Layout, title: str, y_max: float, y_label, series: list[Series]) -> list[str]:
    legend, rows = _legend(layout, series)
    layout.top = 22 + 18 * rows
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {layout.width} {layout.height}" '
             f'width="{layout.width}" height="{layout.height}" role="img" aria-label={quoteattr(title)} class="chart">',
             f"<title>{escape(title)}</title>",
             f'<rect x="0" y="0" width="{layout.width}" height="{layout.height}" fill="#ffffff"/>', *legend]
    for i in range(5):
        value = y_max * i / 4
        y = layout.top + layout.plot_height * (1 - i / 4)
        parts.append(f'<line x1="{layout.left}" y1="{y:.1f}" x2="{layout.width - layout.right}" y2="{y:.1f}" '
                     f'stroke="{GRID}" stroke-width="1"/>')
        parts.append(_text(layout.left - 6, y + 4, y_label(value), anchor="end"))
    return parts


def bar_chart(title: str, labels: list[str], series: list[Series], *, unit: str = "",
              layout: Layout | None = None) -> str:
    """Stacked bars: one bar per label, one segment per series (marks[i] of each series is bar i)."""
    layout = layout or Layout(bottom=58)
    totals = [sum(s.marks[i].value or 0 for s in series) for i in range(len(labels))]
    y_max = _nice_max(max(totals, default=0) or 1)
    parts = _frame(layout, title, y_max, lambda v: f"{int(v)}{unit}", series)
    slot = layout.plot_width / max(len(labels), 1)
    width = min(48.0, slot * 0.62)
    for i, label in enumerate(labels):
        x = layout.left + slot * i + (slot - width) / 2
        base = layout.top + layout.plot_height
        for s in series:
            mark = s.marks[i]
            height = layout.plot_height * (mark.value or 0) / y_max
            parts.append(_linked("rect", f'x="{x:.1f}" y="{base - height:.1f}" width="{width:.1f}" '
                                         f'height="{height:.1f}" fill="{s.colour}"', mark))
            base -= height
        if totals[i]:
            parts.append(_text(x + width / 2, base - 4, str(int(totals[i])), fill=INK, weight="600"))
        parts.append(_axis_label(layout.left + slot * i + slot / 2, layout.top + layout.plot_height + 16, label,
                                 slot - 6))
    parts.append("</svg>")
    return "".join(parts)


def line_chart(title: str, labels: list[str], series: list[Series], *, layout: Layout | None = None) -> str:
    """Rates from 0 to 100 % over time; a point per label with a value, lines joining neighbours."""
    layout = layout or Layout()
    parts = _frame(layout, title, 1.0, lambda v: f"{int(round(v * 100))}%", series)
    slot = layout.plot_width / max(len(labels), 1)
    every = max(1, len(labels) // 8)   # at most eight labels under the axis
    for i, label in enumerate(labels):
        if i % every == 0:
            parts.append(_text(layout.left + slot * i + slot / 2, layout.top + layout.plot_height + 16, label))

    def point(i: int, value: float) -> tuple[float, float]:
        return layout.left + slot * i + slot / 2, layout.top + layout.plot_height * (1 - value)

    for s in series:
        run: list[tuple[float, float]] = []
        for i, mark in enumerate(s.marks + [Mark(None, "", "")]):
            if mark.value is None:
                if len(run) > 1:
                    path = " ".join(f"{x:.1f},{y:.1f}" for x, y in run)
                    parts.append(f'<polyline points="{path}" fill="none" stroke="{s.colour}" stroke-width="2"/>')
                run = []
                continue
            run.append(point(i, mark.value))
        for i, mark in enumerate(s.marks):
            if mark.value is not None:
                x, y = point(i, mark.value)
                parts.append(_linked("circle", f'cx="{x:.1f}" cy="{y:.1f}" r="4" fill="{s.colour}" '
                                               'stroke="#ffffff" stroke-width="1.5"', mark))
    parts.append("</svg>")
    return "".join(parts)

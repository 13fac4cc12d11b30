"""The mood chart's figure: what is drawn where, shared by the SVG and the PNG.

Build it only inside `bot.charts.mood`'s lock and `rc_context(layout_rc(layout))`: a Figure reads
rcParams as it is built and drawn. Every element a test or a stylesheet looks for carries a gid
(`heading`, `mood-line`, `baseline`, `floor`, `infusion-N`, `cssrs-positive`, `cssrs-negative`,
`risk-high`, `empty`).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import TYPE_CHECKING, Any

from matplotlib import dates as mdates
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from bot.charts.data import MoodChart, MoodPoint
from bot.charts.layout import SCREENER_Y, WIDE, Layout, date_axis, x_limits, y_limits
from bot.i18n import C_

if TYPE_CHECKING:
    from matplotlib.typing import RcKeyType

RENDER_LOCK = threading.Lock()  # every chart renders under it: rc_context is process-wide
FIG_WIDTH_IN, FIG_HEIGHT_IN = WIDE.width_in, WIDE.height_in  # the PNG: 720×300 px at 100 dpi
HIGH_LEVELS = frozenset({"high", "imminent"})

BACKGROUND = "#ffffff"
INK = "#222222"
MOOD = "#1d4f91"  # dark blue, 8:1 on white
BASELINE = "#4d4d4d"
FLOOR_FILL, FLOOR_LINE = "#fbe3e1", "#b3261e"
INFUSION = "#6a3d9a"
POSITIVE = "#c62828"
NEGATIVE = "#5f6b73"
HIGH = "#e65100"
GRID = "#e4e4e4"

# Styling through rc, not per-artist calls: ticks are created already styled (cheaper).
RC: dict[RcKeyType, Any] = {
    "svg.fonttype": "none",  # labels stay text: smaller, selectable, read by screen readers
    "svg.hashsalt": "aftercare-mood-chart",  # equal data, equal bytes
    "path.simplify": False,  # every check-in keeps its vertex
    "font.family": "sans-serif",  # SVG: 'DejaVu Sans', sans-serif (a browser may lack DejaVu)
    "font.sans-serif": ["DejaVu Sans"],  # ships with matplotlib: the same metrics everywhere
    "font.size": 9,
    "text.color": INK,
    "figure.facecolor": BACKGROUND,
    "axes.facecolor": BACKGROUND,
    "axes.edgecolor": INK,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.axisbelow": True,
    "grid.color": GRID,
    "grid.linewidth": 0.6,
    "xtick.color": INK,
    "ytick.color": INK,
    "xtick.labelsize": 8.5,
    "ytick.labelsize": 8.5,
    "legend.frameon": False,
    "legend.fontsize": 8.5,
    "legend.borderaxespad": 0,
    "legend.handlelength": 1.8,
}
_DAY = timedelta(days=1)
_FLOOR_STYLE: dict[str, Any] = {"color": FLOOR_FILL, "zorder": 0.5}
_BASELINE_STYLE: dict[str, Any] = {"color": BASELINE, "ls": "--", "lw": 1.2, "zorder": 1}
_INFUSION_STYLE: dict[str, Any] = {"color": INFUSION, "lw": 1.3, "alpha": 0.85, "zorder": 1.5}
_MOOD_STYLE: dict[str, Any] = {
    "color": MOOD, "lw": 1.6, "marker": "o", "ms": 5.5, "mec": BACKGROUND, "mew": 0.7,
    "zorder": 4,
}  # fmt: skip
_HIGH_STYLE: dict[str, Any] = {
    "ls": "none", "marker": "o", "ms": 12, "mfc": "none", "mec": HIGH, "mew": 2, "zorder": 3,
}  # fmt: skip
_NEGATIVE_STYLE: dict[str, Any] = {
    "ls": "none", "marker": "o", "ms": 4.5, "mfc": BACKGROUND, "mec": NEGATIVE, "zorder": 5,
}  # fmt: skip
_POSITIVE_STYLE: dict[str, Any] = {
    "ls": "none", "marker": "^", "ms": 8, "color": POSITIVE, "zorder": 5,
}  # fmt: skip


@dataclass(frozen=True)
class Drawn:
    """The built figure, its axes and the mood points in data coordinates."""

    figure: Figure
    axes: Axes
    mood_xy: list[tuple[float, float]]


@cache
def _epoch(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def _x(moment: datetime) -> float:
    """Matplotlib's date number (days since its epoch), without date2num's per-call cost."""
    return (moment - _epoch(mdates.get_epoch())) / _DAY


def layout_rc(layout: Layout) -> dict[RcKeyType, Any]:
    """The rc settings of a layout: its type size for ticks, labels and the legend."""
    return {
        **RC,
        "font.size": layout.font,
        "xtick.labelsize": layout.font,
        "legend.fontsize": layout.font,
    }


def _frame(figure: Figure, axes: Axes, chart: MoodChart, layout: Layout) -> None:
    """Axes with dates in the patient's local time, labels and the screener row.

    Title and axis labels sit at fixed figure positions: matplotlib's own placement measures
    every tick label on each draw.
    """
    left, bottom, width, height = layout.axes_rect
    title: dict[str, Any] = {"fontsize": layout.title_font, "fontweight": "bold", "gid": "heading"}
    figure.text(left, layout.title_y, chart.title, ha="left", va="top", **title)
    figure.text(0.012, bottom + height / 2, C_("Mood (0–10)"), rotation=90, va="center")
    xlabel = C_("Date, patient's time ({zone})").format(zone=chart.tz.key)
    figure.text(left + width / 2, layout.xlabel_y, xlabel, ha="center", gid="x-label")
    axes.set_xlim(*x_limits(layout, _x(chart.start), _x(chart.end)))
    axes.set_ylim(*y_limits(layout))
    # The mood scale drawn directly: seven Tick objects cost more than the rest of the frame.
    axes.set_yticks([])
    scale = axes.get_yaxis_transform()
    levels = (0, 2, 4, 6, 8, 10)
    axes.hlines(levels, 0, 1, transform=scale, colors=GRID, linewidth=0.6, zorder=0.2, gid="grid")
    for y, label in (*((v, str(v)) for v in levels), (SCREENER_Y, "C-SSRS")):
        axes.text(-0.012, y, label, transform=scale, ha="right", va="center")
    ticks, formatter = date_axis(chart.tz, chart.start, chart.end, layout)
    if ticks is None:
        locator = mdates.AutoDateLocator(tz=chart.tz, minticks=3, maxticks=layout.max_ticks)
        axes.xaxis.set_major_locator(locator)
    else:
        axes.set_xticks([_x(t) for t in ticks])
    axes.xaxis.set_major_formatter(formatter)
    axes.axhline(10.6, color="#bdbdbd", linewidth=0.6)


def _references(axes: Axes, chart: MoodChart, infusions: Sequence[datetime]) -> None:
    """The mood floor band, the baseline and one vertical line per infusion."""
    if chart.floor is not None:
        label = C_("Mood floor ({floor})").format(floor=chart.floor)
        axes.axhspan(axes.get_ylim()[0], chart.floor, gid="floor", label=label, **_FLOOR_STYLE)
        axes.axhline(chart.floor, color=FLOOR_LINE, linestyle=":", linewidth=1, zorder=0.6)
    if chart.baseline is not None:
        label = C_("Baseline ({baseline})").format(baseline=chart.baseline)
        axes.axhline(chart.baseline, gid="baseline", label=label, **_BASELINE_STYLE)
    for n, moment in enumerate(infusions, start=1):
        label = C_("Infusion") if n == 1 else "_infusion"  # one legend entry for all
        axes.axvline(_x(moment), gid=f"infusion-{n}", label=label, **_INFUSION_STYLE)


def _scaled(style: dict[str, Any], k: float) -> dict[str, Any]:
    """A marker style `k` times larger (its size and edge), the line as it is."""
    return style | {key: style[key] * k for key in ("ms", "mew") if key in style}


def _points(axes: Axes, points: Sequence[MoodPoint], k: float) -> list[tuple[float, float]]:
    """The mood line, rings round high-risk check-ins and the C-SSRS row."""
    mood_xy = [(_x(p.at), float(p.mood)) for p in points if p.mood is not None]
    if mood_xy:
        xs, ys = zip(*mood_xy, strict=True)
        axes.plot(xs, ys, gid="mood-line", label=C_("Mood"), **_scaled(_MOOD_STYLE, k))
    else:
        axes.text(
            0.5, 0.45, C_("No mood answers yet"), transform=axes.transAxes, ha="center",
            va="center", fontsize=11 * k, gid="empty",
        )  # fmt: skip
    high = [p for p in points if p.level in HIGH_LEVELS]
    if high:
        xs = tuple(_x(p.at) for p in high)
        ys = tuple(p.mood if p.mood is not None else SCREENER_Y for p in high)
        axes.plot(xs, ys, gid="risk-high", label=C_("High risk"), **_scaled(_HIGH_STYLE, k))
    results = (
        ("negative", C_("C-SSRS negative"), _NEGATIVE_STYLE),
        ("positive", C_("C-SSRS positive"), _POSITIVE_STYLE),
    )
    for result, label, style in results:
        xs = tuple(_x(p.at) for p in points if p.cssrs == result)
        if xs:
            ys = (SCREENER_Y,) * len(xs)
            axes.plot(xs, ys, gid=f"cssrs-{result}", label=label, **_scaled(style, k))
    return mood_xy


def build_figure(
    chart: MoodChart,
    points: Sequence[MoodPoint],
    infusions: Sequence[datetime],
    *,
    dpi: float,
    layout: Layout = WIDE,
) -> Drawn:
    """A new Figure (never shared between calls) with the whole chart on it.

    Build it inside `rc_context(layout_rc(layout))`.
    """
    figure = Figure(figsize=(layout.width_in, layout.height_in), dpi=dpi)
    axes = figure.add_axes(layout.axes_rect)
    _frame(figure, axes, chart, layout)
    _references(axes, chart, infusions)
    mood_xy = _points(axes, points, layout.marker_scale)
    handles, labels = axes.get_legend_handles_labels()
    if handles and layout.legend_below:  # two columns under the axis label
        below = (0.03, layout.xlabel_y - 0.025)
        legend = {"bbox_to_anchor": below, "bbox_transform": figure.transFigure, "ncols": 2}
        axes.legend(handles, labels, loc="upper left", columnspacing=1.2, **legend)
    elif handles:
        axes.legend(handles, labels, loc="upper left", bbox_to_anchor=(1.02, 1.0))
    return Drawn(figure, axes, mood_xy)

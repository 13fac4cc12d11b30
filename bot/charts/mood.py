"""The mood chart: one definition, rendered as SVG (the console) and PNG (/history in Telegram).

Rendering uses matplotlib's object-oriented API only (a `Figure` and an explicit canvas; never
pyplot, never `matplotlib.use`). rc settings apply only inside `rc_context`, which changes the
process-wide rcParams while it is open, so every render holds `_LOCK`: callers may run these
functions in `asyncio.to_thread`.
"""

from __future__ import annotations

import io
import re
from datetime import datetime
from typing import Any
from xml.sax.saxutils import escape
from zoneinfo import ZoneInfo

import matplotlib
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.backends.backend_svg import FigureCanvasSVG

from bot.charts.data import MoodChart, MoodPoint
from bot.charts.drawing import FIG_WIDTH_IN, HIGH_LEVELS, RENDER_LOCK, build_figure, layout_rc
from bot.charts.layout import PHONE, POINTS_PER_INCH, WIDE
from bot.charts.svg import ROOT_SIZE, SVG_METADATA
from bot.i18n import C_, Cn_

__all__ = [
    "MoodChart",
    "MoodPoint",
    "point_positions",
    "render_png",
    "render_svg",
    "summary_text",
]

SUMMARY_LIMIT = 900  # a Telegram photo caption holds 1024
_LOCK = RENDER_LOCK
_PNG_METADATA: dict[str, Any] = {"Software": None}
_GROUP_ID = re.compile(r'<g id="')
_DOM_ID = re.compile(r"[A-Za-z][A-Za-z0-9_-]*")
DESK_SCALE = 1.5  # the SVG's own size; a phone's column scales it down to about 1:1


def _in_range(chart: MoodChart) -> tuple[list[MoodPoint], list[datetime]]:
    points = sorted((p for p in chart.points if chart.start <= p.at <= chart.end), key=_at)
    infusions = sorted(t for t in chart.infusions if chart.start <= t <= chart.end)
    return points, infusions


def _at(point: MoodPoint) -> datetime:
    return point.at


def _day(moment: datetime, tz: ZoneInfo) -> str:
    local = moment.astimezone(tz)
    return f"{local.day} {local:%b %Y}"


def summary_text(chart: MoodChart) -> str:
    """The chart in plain words, for screen readers and the photo caption (≤ 900 characters)."""
    points, infusions = _in_range(chart)
    moods = [p.mood for p in points if p.mood is not None]
    tz = chart.tz
    parts = [
        C_("{title}: {start} to {end} ({zone}).").format(
            title=chart.title, start=_day(chart.start, tz), end=_day(chart.end, tz), zone=tz.key
        )
    ]
    if moods:
        said = Cn_(
            "{n} check-in with a mood answer; mood went from {first} to {last} "
            "(lowest {low}, highest {high}).",
            "{n} check-ins with a mood answer; mood went from {first} to {last} "
            "(lowest {low}, highest {high}).",
            len(moods),
        )
        parts.append(
            said.format(
                n=len(moods), first=moods[0], last=moods[-1], low=min(moods), high=max(moods)
            )
        )
    else:
        parts.append(C_("No mood answers yet."))
    if chart.baseline is not None:
        parts.append(C_("Baseline {baseline}.").format(baseline=chart.baseline))
    else:
        parts.append(C_("No baseline."))
    if chart.floor is not None and moods:
        low = sum(1 for m in moods if m <= chart.floor)
        said = C_("{n} at or below the mood floor of {floor}.")
        parts.append(said.format(n=low, floor=chart.floor))
    screened = [p for p in points if p.cssrs is not None]
    if screened:
        positive = sum(1 for p in screened if p.cssrs == "positive")
        said = Cn_(
            "C-SSRS: {positive} positive of {n} screener.",
            "C-SSRS: {positive} positive of {n} screeners.",
            len(screened),
        )
        parts.append(said.format(positive=positive, n=len(screened)))
    high = sum(1 for p in points if p.level in HIGH_LEVELS)
    if high:
        said = Cn_("{n} check-in at high risk.", "{n} check-ins at high risk.", high)
        parts.append(said.format(n=high))
    parts.append(_infusions_said(infusions, tz))
    text = " ".join(parts)
    return text if len(text) <= SUMMARY_LIMIT else text[: SUMMARY_LIMIT - 1] + "…"


def _infusions_said(infusions: list[datetime], tz: ZoneInfo) -> str:
    if not infusions:
        return C_("No infusions in this period.")
    days = [_day(t, tz).rsplit(" ", 1)[0] for t in infusions]
    shown = ", ".join(days[:8])
    if len(days) > 8:
        shown = C_("{days} and {n} more").format(days=shown, n=len(days) - 8)
    said = Cn_("{n} infusion: {days}.", "{n} infusions: {days}.", len(infusions))
    return said.format(n=len(infusions), days=shown)


def render_svg(chart: MoodChart, *, dom_id: str = "mood-chart") -> str:
    """A standalone `<svg>` element (no prolog) for inlining in HTML, its ids unique to `dom_id`.

    Group ids (the gids too) become `<dom_id>-<gid>`; matplotlib's hashed marker and clip ids
    are salted with `dom_id`, so two charts with different ids can share a page.
    """
    if not _DOM_ID.fullmatch(dom_id):
        raise ValueError(f"dom_id must be an HTML id, not {dom_id!r}")
    points, infusions = _in_range(chart)
    buffer = io.StringIO()
    rc = {**layout_rc(PHONE), "svg.hashsalt": f"aftercare-mood:{dom_id}"}
    with _LOCK, matplotlib.rc_context(rc):
        figure = build_figure(chart, points, infusions, dpi=72, layout=PHONE).figure
        FigureCanvasSVG(figure).print_svg(buffer, metadata=SVG_METADATA)
    text = buffer.getvalue()
    svg = _GROUP_ID.sub(f'<g id="{dom_id}-', text[text.index("<svg") :])
    # The default style would otherwise apply to the whole HTML page.
    svg = svg.replace("*{stroke-linejoin", f"#{dom_id} *{{stroke-linejoin", 1)
    size = POINTS_PER_INCH * DESK_SCALE
    width, height = round(PHONE.width_in * size), round(PHONE.height_in * size)
    root = (
        f'id="{dom_id}" width="{width}" height="{height}"'
        f' role="img" aria-labelledby="{dom_id}-title {dom_id}-desc"'
        ' style="max-width:100%;height:auto"'
    )
    svg = ROOT_SIZE.sub(root, svg, count=1)
    head = svg.index(">") + 1
    label = (
        f'\n <title id="{dom_id}-title">{escape(chart.title)}</title>'
        f'\n <desc id="{dom_id}-desc">{escape(summary_text(chart))}</desc>'
    )
    return svg[:head] + label + svg[head:]


def render_png(chart: MoodChart, *, dpi: float = 100) -> bytes:
    """The chart as PNG bytes, 720×300 px at 100 dpi."""
    points, infusions = _in_range(chart)
    buffer = io.BytesIO()
    with _LOCK, matplotlib.rc_context(layout_rc(WIDE)):
        figure = build_figure(chart, points, infusions, dpi=dpi).figure
        FigureCanvasAgg(figure).print_png(buffer, metadata=_PNG_METADATA)
    return buffer.getvalue()


def point_positions(chart: MoodChart, width_px: int, height_px: int) -> list[tuple[float, float]]:
    """Pixel centres (origin top-left) of the mood points in a PNG of that size, oldest first."""
    points, infusions = _in_range(chart)
    with _LOCK, matplotlib.rc_context(layout_rc(WIDE)):
        drawn = build_figure(chart, points, infusions, dpi=width_px / FIG_WIDTH_IN)
        drawn.figure.set_size_inches(FIG_WIDTH_IN, height_px / drawn.figure.dpi)
        FigureCanvasAgg(drawn.figure).draw()
        if not drawn.mood_xy:
            return []
        xy = drawn.axes.transData.transform(drawn.mood_xy)
    return [(float(x), float(height_px - y)) for x, y in xy]

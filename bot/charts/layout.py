"""Where the mood chart's parts go on its two figures, and how its axes are worded.

`PHONE` is the console's SVG: drawn 342 pt wide (its viewBox), so on a phone's ~360 px column it
shows at about 1:1 and its smallest text (11.5) stays above 11 px; a desk shows it larger.
`WIDE` is Telegram's 720×300 PNG, the legend on the right. Limits are padded by a marker's reach
in points, so the first and newest points, their rings and screener marks are never clipped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from matplotlib import dates as mdates
from matplotlib.ticker import Formatter

SCREENER_Y = 11.15  # the C-SSRS row, above mood 10
POINTS_PER_INCH = 72
_DAY = timedelta(days=1)
_STEPS = (1, 2, 3, 7, 14, 28, 56, 91, 182, 364)  # days between date ticks


@dataclass(frozen=True)
class Layout:
    """A figure's size (inches), its axes (figure fractions), type sizes and legend place."""

    width_in: float
    height_in: float
    axes_rect: tuple[float, float, float, float]  # left, bottom, width, height
    font: float  # ticks, axis labels and the legend
    title_font: float
    legend_below: bool  # below the axes in two columns (phone), else on the right
    max_ticks: int
    marker_scale: float  # markers grow with the type on the phone figure
    title_y: float
    xlabel_y: float  # figure fraction of the x-axis label's baseline

    @property
    def reach_pt(self) -> float:
        """How far a marker reaches from its centre: the high-risk ring, 12 pt wide, 2 pt edge."""
        return 8.0 * self.marker_scale

    def axes_pt(self) -> tuple[float, float]:
        """The axes' width and height in points."""
        _, _, width, height = self.axes_rect
        return (
            width * self.width_in * POINTS_PER_INCH,
            height * self.height_in * POINTS_PER_INCH,
        )


WIDE = Layout(
    width_in=7.2,
    height_in=3.0,
    axes_rect=(0.105, 0.17, 0.665, 0.72),
    font=8.5,
    title_font=10.5,
    legend_below=False,
    max_ticks=8,
    marker_scale=1.0,
    title_y=0.975,
    xlabel_y=0.015,
)
PHONE = Layout(
    width_in=4.75,  # 342 pt
    height_in=4.6,  # 331 pt: title, plot, dates, axis label and up to four legend rows
    axes_rect=(66 / 342, 122 / 331, 262 / 342, 178 / 331),
    font=11.5,
    title_font=13,
    legend_below=True,
    max_ticks=6,
    marker_scale=1.3,
    title_y=1 - 5 / 331,
    xlabel_y=86 / 331,
)


def _padded(low: float, high: float, reach_pt: float, length_pt: float) -> tuple[float, float]:
    """Limits with `reach_pt` of room at both ends of an axis `length_pt` long."""
    share = reach_pt / length_pt
    pad = (high - low) * share / (1 - 2 * share)
    return low - pad, high + pad


def x_limits(layout: Layout, start: float, end: float) -> tuple[float, float]:
    """The period, with room for a marker at its first and last moment."""
    return _padded(start, end, layout.reach_pt, layout.axes_pt()[0])


def y_limits(layout: Layout) -> tuple[float, float]:
    """Mood 0 to the screener row, with room for a ring round a 0 and a mark in the row."""
    return _padded(0, SCREENER_Y, layout.reach_pt, layout.axes_pt()[1])


def _label(moment: datetime, *, year: bool) -> str:
    if (moment.hour, moment.minute) != (0, 0):
        return f"{moment:%H:%M}"
    return f"{moment.day} {moment:%b}" + (f" {moment.year}" if year else "")


class DayFormatter(Formatter):
    """Ticks as the clinic writes dates ("6 Dec"); the year only when the period spans two,
    on the first tick and the first tick of each new year; "14:00" for a tick within a day."""

    def __init__(self, tz: ZoneInfo, *, spans_years: bool) -> None:
        self.tz = tz
        self.spans_years = spans_years

    def _local(self, value: float) -> datetime:
        return mdates.num2date(value, tz=self.tz)

    def __call__(self, x: float, pos: int | None = None) -> str:
        return _label(self._local(x), year=self.spans_years)

    def format_ticks(self, values: Sequence[float] | Any) -> list[str]:
        labels: list[str] = []
        shown_year: int | None = None
        for value in values:
            moment = self._local(value)
            year = self.spans_years and moment.year != shown_year
            labels.append(_label(moment, year=year))
            shown_year = moment.year if self.spans_years else None
        return labels


def _midnights(tz: ZoneInfo, start: datetime, end: datetime, step: int) -> list[datetime]:
    """Local midnights `step` days apart, counted back from the period's last day."""
    first, day = start.astimezone(tz).date(), end.astimezone(tz).date()
    ticks: list[datetime] = []
    while day >= first:
        midnight = datetime(day.year, day.month, day.day, tzinfo=tz)
        if start <= midnight <= end:
            ticks.append(midnight)
        day -= step * _DAY
    return ticks[::-1]


def date_axis(
    tz: ZoneInfo, start: datetime, end: datetime, layout: Layout
) -> tuple[list[datetime] | None, DayFormatter]:
    """The x-axis' ticks and their wording for a period, in the patient's zone.

    Ticks fall on local midnights an even number of days apart, the last on the period's last
    day; None (matplotlib's choice) for a period shorter than two days.
    """
    spans_years = start.astimezone(tz).year != end.astimezone(tz).year
    most = layout.max_ticks - 2 if spans_years else layout.max_ticks  # "1 Jan 2026" is wider
    days = (end - start) / _DAY
    formatter = DayFormatter(tz, spans_years=spans_years)
    if days < 2:
        return None, formatter
    step = next((n for n in _STEPS if days / n < most), _STEPS[-1])
    return _midnights(tz, start, end, step), formatter

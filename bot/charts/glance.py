"""The mood chart at a glance, in words beside it: the latest mood, the lowest, positive screens.

A pure function of the chart's own values and the time passed in, so the words and the drawing
never disagree and a test fixes the clock.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from bot.charts.data import MoodChart, MoodPoint
from bot.i18n import C_, Cn_

_DAY = timedelta(days=1)


def _when(moment: datetime, tz: ZoneInfo, now: datetime, *, clock: bool) -> str:
    """ "6 Dec 14:05" in the patient's zone; the year only when it is not this year."""
    local = moment.astimezone(tz)
    text = f"{local.day} {local:%b}"
    if local.year != now.astimezone(tz).year:
        text += f" {local.year}"
    return f"{text} {local:%H:%M}" if clock else text


def _ago(wait: timedelta) -> str:
    minutes = max(0, int(wait.total_seconds() // 60))
    if minutes < 1:
        return C_("just now")
    if minutes < 60:
        return C_("{n} min ago").format(n=minutes)
    hours = minutes // 60
    if hours < 48:
        return C_("{n} h ago").format(n=hours)
    return Cn_("{n} day ago", "{n} days ago", hours // 24).format(n=hours // 24)


def _period(chart: MoodChart, now: datetime) -> str:
    days = max(1, round((now - chart.start) / _DAY))
    return Cn_("in the last day", "in the last {n} days", days).format(n=days)


def chart_glance(chart: MoodChart, *, now: datetime) -> list[str]:
    """What a clinician reads first, one line each: the latest mood (when, how long ago), the
    lowest (the most recent of equals) and how many C-SSRS screens were positive."""
    shown = [p for p in chart.points if chart.start <= p.at <= min(chart.end, now)]
    moods: list[MoodPoint] = sorted((p for p in shown if p.mood is not None), key=lambda p: p.at)
    period = _period(chart, now)
    tz = chart.tz
    lines: list[str] = []
    if moods:
        latest = moods[-1]
        when = _when(latest.at, tz, now, clock=True)
        ago = _ago(now - latest.at)
        lines.append(
            C_("Latest mood {mood}/10 on {when} ({ago})").format(
                mood=latest.mood, when=when, ago=ago
            )
        )
        lowest = min(reversed(moods), key=lambda p: p.mood or 0)
        on = _when(lowest.at, tz, now, clock=False)
        lines.append(C_("Lowest {mood}/10 on {when}").format(mood=lowest.mood, when=on))
    else:
        lines.append(C_("No mood answers {period}").format(period=period))
    positive = sum(1 for p in shown if p.cssrs == "positive")
    if positive:
        said = Cn_(
            "{n} positive C-SSRS screen {period}", "{n} positive C-SSRS screens {period}", positive
        )
        lines.append(said.format(n=positive, period=period))
    else:
        lines.append(C_("No positive C-SSRS screen {period}").format(period=period))
    return lines

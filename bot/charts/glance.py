"""The mood chart at a glance, in words beside it: the latest mood, the lowest, positive screens.

A pure function of the chart's own values and the time passed in, so the words and the drawing
never disagree and a test fixes the clock.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from bot.charts.data import MoodChart, MoodPoint

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
        return "just now"
    if minutes < 60:
        return f"{minutes} min ago"
    hours = minutes // 60
    if hours < 48:
        return f"{hours} h ago"
    return f"{hours // 24} days ago"


def _period(chart: MoodChart, now: datetime) -> str:
    days = max(1, round((now - chart.start) / _DAY))
    return "in the last day" if days == 1 else f"in the last {days} days"


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
        lines.append(f"Latest mood {latest.mood}/10 on {when} ({_ago(now - latest.at)})")
        lowest = min(reversed(moods), key=lambda p: p.mood or 0)
        lines.append(f"Lowest {lowest.mood}/10 on {_when(lowest.at, tz, now, clock=False)}")
    else:
        lines.append(f"No mood answers {period}")
    positive = sum(1 for p in shown if p.cssrs == "positive")
    if positive:
        screens = "positive C-SSRS screen" if positive == 1 else "positive C-SSRS screens"
        lines.append(f"{positive} {screens} {period}")
    else:
        lines.append(f"No positive C-SSRS screen {period}")
    return lines

"""The values a mood chart is drawn from: plain, frozen, no database or Telegram types."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo


@dataclass(frozen=True)
class MoodPoint:
    """One answered check-in: mood 0-10 (None when not answered), screener result, level."""

    at: datetime  # aware
    mood: int | None
    cssrs: str | None  # None: not asked; "negative"; "positive" (any screener item Yes)
    level: str  # the check-in's triage level: none, low, moderate, high, imminent


@dataclass(frozen=True)
class MoodChart:
    """What one chart shows: points, baseline, mood floor and infusions over [start, end]."""

    points: Sequence[MoodPoint]
    baseline: int | None
    floor: int | None
    infusions: Sequence[datetime]
    tz: ZoneInfo
    start: datetime
    end: datetime
    title: str

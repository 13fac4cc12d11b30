"""The times that matter for a case, and their summary per level (CLINICAL.md §10). Pure.

For each case four durations: first page → acknowledged, first page → first contact attempt,
first page → patient reached, and the concerning answer (the case's opening) → patient
reached. A duration whose end has not happened is absent (not zero): a summary counts the
cases it measured and says how many are still waiting.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from bot.i18n import C_, NC_

PUBLISHED_MEDIAN = timedelta(days=1.9)  # JMIR 2024;26:e60879: notification → response, n = 292
PUBLISHED_SOURCE = NC_(  # said with C_() where a clinician reads it
    "JMIR 2024;26:e60879 (median 1.9 days from notification to response, n = 292)"
)
LEVELS = ("high", "moderate", "low")


class Measure(StrEnum):
    PAGE_TO_ACK = "page_to_ack"
    PAGE_TO_ATTEMPT = "page_to_attempt"
    PAGE_TO_REACHED = "page_to_reached"
    ANSWER_TO_REACHED = "answer_to_reached"

    @property
    def label(self) -> str:
        return {
            Measure.PAGE_TO_ACK: C_("Page → acknowledged"),
            Measure.PAGE_TO_ATTEMPT: C_("Page → first contact attempt"),
            Measure.PAGE_TO_REACHED: C_("Page → patient reached"),
            Measure.ANSWER_TO_REACHED: C_("Answer → patient reached"),
        }[self]


@dataclass(frozen=True)
class CaseTimes:
    """When each thing happened to one case (None: not yet, or never)."""

    case_id: int
    patient_ref: str
    level: str
    opened_at: datetime  # the concerning answer or message opened it
    first_paged_at: datetime | None
    acknowledged_at: datetime | None
    first_attempt_at: datetime | None
    reached_at: datetime | None

    def duration(self, measure: Measure) -> timedelta | None:
        start = self.opened_at if measure is Measure.ANSWER_TO_REACHED else self.first_paged_at
        end = {
            Measure.PAGE_TO_ACK: self.acknowledged_at,
            Measure.PAGE_TO_ATTEMPT: self.first_attempt_at,
            Measure.PAGE_TO_REACHED: self.reached_at,
            Measure.ANSWER_TO_REACHED: self.reached_at,
        }[measure]
        if start is None or end is None:
            return None
        return max(end - start, timedelta(0))


@dataclass(frozen=True)
class Summary:
    """One measure for one level over a window: how many measured, median and 90th percentile,
    and how many cases in the window have not reached that point yet."""

    level: str
    measure: Measure
    measured: int
    waiting: int
    median: timedelta | None
    p90: timedelta | None


def percentile(values: Sequence[timedelta], q: float) -> timedelta | None:
    """The q-th percentile (0–100), nearest rank: a value that occurred, never an average of
    two (None for no values)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def summarise(cases: Sequence[CaseTimes], *, since: datetime) -> list[Summary]:
    """Every level × measure for the cases opened at or after `since`."""
    found = []
    window = [c for c in cases if c.opened_at >= since]
    for level in LEVELS:
        of_level = [c for c in window if c.level == level]
        for measure in Measure:
            values = [d for c in of_level if (d := c.duration(measure)) is not None]
            found.append(
                Summary(
                    level=level,
                    measure=measure,
                    measured=len(values),
                    waiting=len(of_level) - len(values),
                    median=percentile(values, 50),
                    p90=percentile(values, 90),
                )
            )
    return found


def describe(delta: timedelta | None) -> str:
    """A duration for a table: '4 min', '2.5 h', '1.9 days'; '—' for none."""
    if delta is None:
        return "—"
    seconds = delta.total_seconds()
    if seconds < 60:
        return C_("{n} s").format(n=f"{seconds:.0f}")
    if seconds < 3600:
        return C_("{n} min").format(n=f"{seconds / 60:.0f}")
    if seconds < 48 * 3600:
        return C_("{n} h").format(n=f"{seconds / 3600:.1f}")
    return C_("{n} days").format(n=f"{seconds / 86400:.1f}")

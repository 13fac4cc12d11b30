"""Mood before and after each infusion series (README, "The monthly report"). Pure.

A series is one patient's infusions (not cancelled) that ended in the month, grouped while
each follows the one before within 14 days. Mood before: the patient's last mood answer before
the series' first infusion ended, else their baseline mood. Mood after: their last mood answer
within 7 days after the series' last infusion ended. The change is after − before.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

SERIES_GAP = timedelta(days=14)
AFTER_WINDOW = timedelta(days=7)


@dataclass(frozen=True)
class InfusionRow:
    patient_id: int
    patient_ref: str
    ended_at: datetime


@dataclass(frozen=True)
class MoodRow:
    patient_id: int
    answered_at: datetime
    mood: int


@dataclass(frozen=True)
class Series:
    patient_ref: str
    first_ended_at: datetime
    last_ended_at: datetime
    infusions: int
    before: int | None
    before_from_baseline: bool
    after: int | None

    @property
    def change(self) -> int | None:
        if self.before is None or self.after is None:
            return None
        return self.after - self.before


def group_series(infusions: Iterable[InfusionRow]) -> list[list[InfusionRow]]:
    """Each patient's infusions, oldest first, split where the gap is over 14 days."""
    by_patient: dict[int, list[InfusionRow]] = {}
    for row in sorted(infusions, key=lambda r: (r.patient_id, r.ended_at)):
        by_patient.setdefault(row.patient_id, []).append(row)
    groups: list[list[InfusionRow]] = []
    for rows in by_patient.values():
        current = [rows[0]]
        for row in rows[1:]:
            if row.ended_at - current[-1].ended_at <= SERIES_GAP:
                current.append(row)
            else:
                groups.append(current)
                current = [row]
        groups.append(current)
    return sorted(groups, key=lambda g: (g[0].ended_at, g[0].patient_ref))


def mood_series(
    infusions: Iterable[InfusionRow],
    moods: Iterable[MoodRow],
    baselines: Mapping[int, int | None],
) -> list[Series]:
    """Every series of the infusions given (those that ended in the month), oldest first."""
    by_patient: dict[int, list[MoodRow]] = {}
    for mood in sorted(moods, key=lambda m: m.answered_at):
        by_patient.setdefault(mood.patient_id, []).append(mood)
    found = []
    for group in group_series(infusions):
        first, last = group[0], group[-1]
        theirs = by_patient.get(first.patient_id, [])
        earlier = [m.mood for m in theirs if m.answered_at < first.ended_at]
        later = [
            m.mood for m in theirs if last.ended_at < m.answered_at <= last.ended_at + AFTER_WINDOW
        ]
        before = earlier[-1] if earlier else baselines.get(first.patient_id)
        found.append(
            Series(
                patient_ref=first.patient_ref,
                first_ended_at=first.ended_at,
                last_ended_at=last.ended_at,
                infusions=len(group),
                before=before,
                before_from_baseline=not earlier and before is not None,
                after=later[-1] if later else None,
            )
        )
    return found


def median_change(series: Sequence[Series]) -> float | None:
    """The median of the changes that could be measured (None when none could)."""
    changes = [c for s in series if (c := s.change) is not None]
    return statistics.median(changes) if changes else None

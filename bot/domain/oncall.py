"""Who is on call at an instant: explicit shifts first, then the weekly rotation (pure)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

ROLES = ("primary", "backup")
LONGEST_SHIFT = timedelta(days=14)
FURTHEST_AHEAD = timedelta(days=366)


class ShiftProblem(StrEnum):
    """Why a scheduled shift (console or `aftercare oncall add`) cannot be stored; each front
    end words it its own way."""

    ROLE = "role"  # neither primary nor backup
    NO_OFFSET = "no_offset"  # a time without a UTC offset
    ENDS_BEFORE_START = "ends_before_start"  # ends at or before its start
    TOO_LONG = "too_long"  # lasts longer than LONGEST_SHIFT
    TOO_FAR_AHEAD = "too_far_ahead"  # starts more than FURTHEST_AHEAD from now


def shift_problems(
    *, role: str, starts_at: datetime, ends_at: datetime, now: datetime
) -> list[ShiftProblem]:
    """What is wrong with a shift to be scheduled, in the order the front ends report them;
    empty if nothing. The one set of rules for every scheduled shift."""
    problems = [] if role in ROLES else [ShiftProblem.ROLE]
    if starts_at.tzinfo is None or ends_at.tzinfo is None:
        return [*problems, ShiftProblem.NO_OFFSET]
    if ends_at <= starts_at:
        problems.append(ShiftProblem.ENDS_BEFORE_START)
    elif ends_at - starts_at > LONGEST_SHIFT:
        problems.append(ShiftProblem.TOO_LONG)
    if starts_at > now + FURTHEST_AHEAD:
        problems.append(ShiftProblem.TOO_FAR_AHEAD)
    return problems


@dataclass(frozen=True)
class Shift:
    """An explicit shift (added by command or in the bot), [starts_at, ends_at), aware UTC."""

    clinician_id: int
    role: str
    starts_at: datetime
    ends_at: datetime
    created_at: datetime

    def covers(self, at: datetime) -> bool:
        """Whether `at` falls inside [starts_at, ends_at)."""
        return self.starts_at <= at < self.ends_at


@dataclass(frozen=True)
class Slot:
    """A weekly rotation slot in local time; ends the next day when end <= start."""

    clinician_id: int
    role: str
    days: tuple[int, ...]
    start: time
    end: time

    def occurrence(self, day: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
        """The [start, end) in aware UTC of the occurrence starting on local `day`."""
        end_day = day if self.end > self.start else day + timedelta(days=1)
        starts = datetime.combine(day, self.start, tzinfo=zone).astimezone(UTC)
        ends = datetime.combine(end_day, self.end, tzinfo=zone).astimezone(UTC)
        return starts, ends

    def covers(self, at: datetime, zone: ZoneInfo) -> bool:
        """Whether an occurrence started today or yesterday (local) covers `at`."""
        today = at.astimezone(zone).date()
        for day in (today, today - timedelta(days=1)):
            if day.isoweekday() in self.days:
                starts, ends = self.occurrence(day, zone)
                if starts <= at < ends:
                    return True
        return False


@dataclass(frozen=True)
class OnCall:
    """The primary and backup clinician ids at an instant; None means nobody."""

    primary: int | None
    backup: int | None


def _pick(
    role: str, at: datetime, shifts: Sequence[Shift], rotation: Sequence[Slot], zone: ZoneInfo
) -> int | None:
    covering = [s for s in shifts if s.role == role and s.covers(at)]
    if covering:
        # max() keeps the first of equals; reversed() makes the later-listed win a tie.
        return max(reversed(covering), key=lambda s: s.created_at).clinician_id
    for slot in rotation:
        if slot.role == role and slot.covers(at, zone):
            return slot.clinician_id
    return None


def on_call_at(
    at: datetime, *, shifts: Sequence[Shift], rotation: Sequence[Slot], zone: ZoneInfo
) -> OnCall:
    """Per role: the newest explicit shift covering `at`, else the first covering rotation slot."""
    if at.tzinfo is None:
        raise ValueError("on_call_at needs an aware datetime")
    at = at.astimezone(UTC)
    primary = _pick("primary", at, shifts, rotation, zone)
    backup = _pick("backup", at, shifts, rotation, zone)
    return OnCall(primary=primary, backup=None if backup == primary else backup)


def rotation_shifts(
    slots: Iterable[Slot], *, start: datetime, end: datetime, zone: ZoneInfo
) -> list[Shift]:
    """The rotation's occurrences overlapping [start, end), as shifts sorted by start."""
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("rotation_shifts needs aware datetimes")
    first = start.astimezone(zone).date() - timedelta(days=1)
    last = end.astimezone(zone).date()
    days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
    found = []
    for slot in slots:
        for day in days:
            if day.isoweekday() not in slot.days:
                continue
            starts, ends = slot.occurrence(day, zone)
            if starts < end and ends > start:
                found.append(Shift(slot.clinician_id, slot.role, starts, ends, created_at=starts))
    return sorted(found, key=lambda s: (s.starts_at, ROLES.index(s.role) if s.role in ROLES else 2))

"""The check-in planner: when each routine check-in after an infusion is due (pure, no I/O).

The clinic's rules (CLINICAL.md §1: +4 h, +24 h, then daily; every number is a protocol
setting, quiet hours a clinic setting):

1. The infusion time must be timezone-aware (ValueError otherwise); every instant returned
   is aware UTC.
2. Offset check-ins fall at infusion end + offset in elapsed time: +24 h is 24 real hours
   even across a DST change, never wall-clock arithmetic. Equal offsets are planned once.
3. Daily check-ins fall at `daily_time` local on each local date d+1 .. d+N, where d is the
   infusion's local date in the patient's zone. A date that already holds an offset check-in
   (by the offset's nominal local date) gets no daily one, so a patient never gets a daily
   prompt on top of an offset one: the default (4 h, 24 h, 10:00, 7 days) for an infusion on
   Monday 09:00 gives Mon 13:00, Tue 09:00, then Wed .. Mon 10:00 (6 dailies).
4. A local wall time skipped by a DST change moves forward by the gap (02:30 on a US
   spring-forward day is 03:30 EDT); a repeated one takes its first occurrence (fold=0).
5. Every check-in whose local time falls in quiet hours [start, end) waits until the end of
   those quiet hours: the next local occurrence of `end`, resolved as in rule 4 (when `end`
   is repeated and the check-in falls in the repeat, the repeat of `end`). `nominal_at` keeps
   the time before the move. start == end means no quiet hours.
6. The plan is sorted by due time (then nominal time).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

CheckinKind = Literal["offset", "daily"]


@dataclass(frozen=True)
class QuietHours:
    """Local hours [start, end) when routine prompts wait; may cross midnight."""

    start: time
    end: time

    def __post_init__(self) -> None:
        if self.start.tzinfo is not None or self.end.tzinfo is not None:
            raise ValueError("quiet hours are local wall times, without a timezone")

    def contains(self, local: time) -> bool:
        """Whether a local wall time falls in the quiet hours (never when start == end)."""
        local = local.replace(tzinfo=None)
        if self.start == self.end:
            return False
        if self.start < self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end


@dataclass(frozen=True)
class Protocol:
    """A named check-in schedule: offsets after the infusion, then daily for N days."""

    name: str
    offsets: tuple[timedelta, ...]
    daily_time: time
    daily_days: int

    def __post_init__(self) -> None:
        if any(offset <= timedelta(0) for offset in self.offsets):
            raise ValueError("check-in offsets must be positive")
        if self.daily_days < 0:
            raise ValueError("daily_days must be 0 or more")
        if self.daily_time.tzinfo is not None:
            raise ValueError("daily_time is a local wall time, without a timezone")


@dataclass(frozen=True)
class PlannedCheckin:
    """One check-in of a plan; `nominal_at` before and `due_at` after the quiet-hours move."""

    kind: CheckinKind
    offset: timedelta | None
    day: int | None
    nominal_at: datetime
    due_at: datetime


def _aware(moment: datetime) -> bool:
    return moment.tzinfo is not None and moment.utcoffset() is not None


def resolve_local(day: date, at: time, zone: ZoneInfo) -> datetime:
    """The one UTC instant for a local wall time: a time skipped by a DST change moves forward
    by the gap; a repeated time takes its first occurrence."""
    if at.tzinfo is not None:
        raise ValueError("expected a local wall time, without a timezone")
    wall = datetime.combine(day, at).replace(fold=0)
    # fold=0 is the first occurrence of a repeated time. A skipped time does not survive the
    # round trip back to local: PEP 495 reads it (fold=0) at the offset in force before the
    # change, so the clock after the change shows wall + gap, which is rule 4 exactly.
    return wall.replace(tzinfo=zone).astimezone(UTC)


def _next_wall_time(after: datetime, day: date, at: time, zone: ZoneInfo) -> datetime:
    """The first instant after `after` showing `at` on `day` (rule 4), or the repeat of it."""
    first = resolve_local(day, at, zone)
    if first > after:
        return first
    # `after` lies in the repeated hour of a fall-back, past the first `at`: `at` comes again.
    return datetime.combine(day, at.replace(fold=1), tzinfo=zone).astimezone(UTC)


def defer_past_quiet_hours(instant: datetime, zone: ZoneInfo, quiet: QuietHours | None) -> datetime:
    """An instant inside quiet hours moves to the end of those quiet hours (the next local
    `end`), else unchanged."""
    if not _aware(instant):
        raise ValueError("instant must be timezone-aware")
    local = instant.astimezone(zone)
    if quiet is None or not quiet.contains(local.time()):
        return instant
    end_day = local.date()
    if quiet.start > quiet.end and local.time() >= quiet.start:
        end_day += timedelta(days=1)  # the evening part of quiet hours that cross midnight
    return _next_wall_time(instant, end_day, quiet.end, zone)


def plan_checkins(
    *, infusion_at: datetime, protocol: Protocol, zone: ZoneInfo, quiet: QuietHours | None
) -> list[PlannedCheckin]:
    """Every routine check-in after one infusion, by the rules of this module's docstring."""
    if not _aware(infusion_at):
        raise ValueError("infusion_at must be timezone-aware")
    infusion_utc = infusion_at.astimezone(UTC)
    plan: list[PlannedCheckin] = []
    for offset in sorted(set(protocol.offsets)):
        nominal = infusion_utc + offset  # UTC arithmetic: elapsed time, not wall-clock
        due = defer_past_quiet_hours(nominal, zone, quiet)
        plan.append(PlannedCheckin("offset", offset, None, nominal, due))

    taken = {checkin.nominal_at.astimezone(zone).date() for checkin in plan}
    infusion_date = infusion_utc.astimezone(zone).date()
    for day in range(1, protocol.daily_days + 1):
        local_date = infusion_date + timedelta(days=day)
        if local_date in taken:
            continue  # that day already has its check-in
        nominal = resolve_local(local_date, protocol.daily_time, zone)
        due = defer_past_quiet_hours(nominal, zone, quiet)
        plan.append(PlannedCheckin("daily", None, day, nominal, due))

    plan.sort(key=lambda checkin: (checkin.due_at, checkin.nominal_at))
    return plan


_UNITS = (("hour", timedelta(hours=1)), ("minute", timedelta(minutes=1)))


def humanize_offset(offset: timedelta) -> str:
    """An offset as an adjective in its largest whole unit: "2-day", "24-hour", "30-second"."""
    if offset <= timedelta(0):
        raise ValueError("offset must be positive")
    day = timedelta(days=1)
    if offset >= 2 * day and offset % day == timedelta(0):
        return f"{offset // day}-day"  # 24 h stays "24-hour", as clinicians say it
    for unit, length in _UNITS:
        if offset % length == timedelta(0):
            return f"{offset // length}-{unit}"
    return f"{offset.total_seconds():g}-second"


def offset_parts(offset: timedelta) -> tuple[str, int, str]:
    """An offset as its number (as written: "1.5"), the whole number a plural rule takes, and
    its unit ("day", "hour", "minute", "second"): the largest whole unit `humanize_offset`
    picks. Every text that says an offset in words (in any catalogue) starts here."""
    n, unit = humanize_offset(offset).split("-", 1)
    return n, round(float(n)), unit


def checkin_label(kind: CheckinKind, offset: timedelta | None, day: int | None) -> str:
    """How a check-in is named to patients and clinicians: "4-hour check-in", "day 3 daily
    check-in"."""
    if kind == "offset" and offset is not None:
        return f"{humanize_offset(offset)} check-in"
    if kind == "daily" and day is not None:
        return f"day {day} daily check-in"
    raise ValueError(f"no label for a {kind!r} check-in with offset={offset!r}, day={day!r}")

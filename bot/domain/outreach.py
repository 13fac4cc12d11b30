"""Reaching the patient (CLINICAL.md §10), pure with the time passed in: what outreach a case
needs next, by when, and what a page says when that time has passed.

A case's clock starts at its first delivered page (a care-team queue rung: when it was queued).
A high case needs a first contact attempt soon after that page and the patient reached within
hours; a moderate or low case needs the patient reached. Acknowledging never stops the clock;
recording that the patient was reached (or handed over) does.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from bot.domain.levels import Level
from bot.domain.schedule import resolve_local


class Need(StrEnum):
    """What outreach a case is waiting for."""

    FIRST_ATTEMPT = "first_attempt"  # a high case: anyone tried to reach the patient
    REACHED = "reached"  # the patient reached (or a stated reason)


@dataclass(frozen=True)
class ReachTargets:
    """A clinic's targets (`[clinics.outreach]`), as plain values."""

    high_first_attempt: timedelta
    high_reached: timedelta
    moderate_reached: timedelta
    low_reached_business_days: int
    business_days: tuple[int, ...]  # ISO weekdays, Monday = 1
    again_after: timedelta  # an overdue case acknowledged again: its next look


def add_business_days(
    start: datetime, days: int, *, zone: ZoneInfo, workdays: tuple[int, ...]
) -> datetime:
    """The same local wall time `days` business days after `start` (in `zone`): a Friday
    afternoon plus 3 is the Wednesday afternoon; a Saturday plus 1 is the Monday. Across a
    change of clock the wall time is kept (a skipped time moves forward by the gap)."""
    if not workdays:
        raise ValueError("business days name no weekday")
    local = start.astimezone(zone)
    day, counted = local.date(), 0
    while counted < days:
        day += timedelta(days=1)
        if day.isoweekday() in workdays:
            counted += 1
    return resolve_local(day, local.time().replace(tzinfo=None), zone)


def first_need(level: Level) -> Need | None:
    """What a case's clock waits for first; None for a level with no outreach target."""
    if level is Level.HIGH:
        return Need.FIRST_ATTEMPT
    if level in (Level.MODERATE, Level.LOW):
        return Need.REACHED
    return None


def due_at(
    level: Level, need: Need, *, start: datetime, targets: ReachTargets, zone: ZoneInfo
) -> datetime:
    """When `need` is due for a case of `level` whose clock started at `start`."""
    if need is Need.FIRST_ATTEMPT:
        return start + targets.high_first_attempt
    if level is Level.HIGH:
        return start + targets.high_reached
    if level is Level.MODERATE:
        return start + targets.moderate_reached
    return add_business_days(
        start, targets.low_reached_business_days, zone=zone, workdays=targets.business_days
    )


def need_now(level: Level, *, attempts: int) -> Need | None:
    """What a case is waiting for, given how many attempts (none of them reaching) are logged."""
    first = first_need(level)
    if first is Need.FIRST_ATTEMPT and attempts > 0:
        return Need.REACHED
    return first


def after_attempt(
    level: Level, *, start: datetime, now: datetime, targets: ReachTargets, zone: ZoneInfo
) -> datetime:
    """The next deadline once an attempt that did not reach the patient is logged: the
    "reached" target from the clock's start, and never sooner than `again_after` from now (a
    clinician who has just tried is not paged over it the same minute)."""
    reached = due_at(level, Need.REACHED, start=start, targets=targets, zone=zone)
    return max(reached, now + targets.again_after)


def after_acknowledge(
    due: datetime | None, *, now: datetime, targets: ReachTargets
) -> datetime | None:
    """An acknowledgement never stops the clock; one that comes after the deadline passed (the
    case went back up the ladder) gives the clinician `again_after` before it goes up again."""
    if due is None or due > now:
        return due
    return now + targets.again_after


def _ago(delta: timedelta) -> str:
    minutes = max(int(delta.total_seconds() // 60), 0)
    if minutes < 120:
        return f"{minutes} min"
    hours, rest = divmod(minutes, 60)
    return f"{hours} h {rest} min" if rest else f"{hours} h"


def overdue_wording(
    *,
    need: Need,
    level: Level,
    acknowledged_by: str | None,
    acknowledged_at: datetime | None,
    attempts: int,
    targets: ReachTargets,
    now: datetime,
) -> str:
    """Why an acknowledged case goes back up the ladder, in a clinician's words: "Outreach
    overdue: acknowledged by Dr Lee 40 min ago, no contact attempt recorded — the first attempt
    was due 30 min after the first page." """
    who = acknowledged_by or "the paging service"
    taken = f"acknowledged by {who}"
    if acknowledged_at is not None:
        taken += f" {_ago(now - acknowledged_at)} ago"
    if need is Need.FIRST_ATTEMPT:
        done = "no contact attempt recorded"
        target = (
            f"the first attempt was due {_ago(targets.high_first_attempt)} after the first page"
        )
    else:
        done = (
            "no contact attempt recorded"
            if attempts == 0
            else f"{attempts} attempt{'s' if attempts != 1 else ''} recorded, patient not reached"
        )
        if level is Level.HIGH:
            within = _ago(targets.high_reached)
        elif level is Level.MODERATE:
            within = _ago(targets.moderate_reached)
        else:
            days = targets.low_reached_business_days
            within = f"{days} business day{'s' if days != 1 else ''}"
        target = f"the patient was to be reached within {within} of the first page"
    return f"Outreach overdue: {taken}, {done} — {target}."

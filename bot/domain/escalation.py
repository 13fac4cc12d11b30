"""The escalation ladder (pure, the time passed in): who is told when, and what silence means.

Ladders come from the clinic file (CLINICAL.md §8): each step says how long after opening an
unacknowledged escalation it fires and whom it notifies. A page that cannot be delivered counts
as unacknowledged, so the ladder moves on at once. With nobody on call, every clinician of the
clinic is notified. After the last step the ladder repeats its last step until acknowledged.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from bot.domain.channels import ChannelKind
from bot.domain.levels import Level
from bot.domain.schedule import resolve_local
from bot.domain.triage import Finding

NEXT_BUSINESS_DAY = "next_business_day"
MIN_REPEAT = timedelta(minutes=5)


@dataclass(frozen=True)
class Step:
    after: timedelta | str  # a duration, or "next_business_day"
    notify: tuple[str, ...]  # "queue", "primary", "backup", "everyone"
    channels: tuple[ChannelKind, ...] = (ChannelKind.TELEGRAM,)


@dataclass(frozen=True)
class BusinessHours:
    start: time
    days: tuple[int, ...]  # ISO weekdays


def next_business_start(after: datetime, zone: ZoneInfo, hours: BusinessHours) -> datetime:
    """The start of the first business day strictly after `after`'s local date."""
    day = after.astimezone(zone).date()
    for _ in range(14):
        day += timedelta(days=1)
        if day.isoweekday() in hours.days:
            return resolve_local(day, hours.start, zone)
    raise ValueError("business hours name no weekday")


def step_at(opened_at: datetime, step: Step, *, zone: ZoneInfo, hours: BusinessHours) -> datetime:
    """When a step fires for an escalation opened at `opened_at`."""
    if isinstance(step.after, timedelta):
        return opened_at + step.after
    return next_business_start(opened_at, zone, hours)


def repeat_interval(
    ladder: Sequence[Step], *, opened_at: datetime, zone: ZoneInfo, hours: BusinessHours
) -> timedelta:
    """How often the last step repeats once the ladder is exhausted: the last gap, >= 5 min."""
    if len(ladder) < 2:
        return max(MIN_REPEAT, timedelta(minutes=10))
    last = step_at(opened_at, ladder[-1], zone=zone, hours=hours)
    before = step_at(opened_at, ladder[-2], zone=zone, hours=hours)
    return max(MIN_REPEAT, last - before)


def next_step_time(
    ladder: Sequence[Step],
    fired: int,
    *,
    opened_at: datetime,
    now: datetime,
    zone: ZoneInfo,
    hours: BusinessHours,
    delivered: bool,
) -> datetime:
    """When to act next after step `fired` ran: at once if nobody could be reached."""
    if not delivered:
        return now
    if fired + 1 < len(ladder):
        return max(now, step_at(opened_at, ladder[fired + 1], zone=zone, hours=hours))
    return now + repeat_interval(ladder, opened_at=opened_at, zone=zone, hours=hours)


@dataclass(frozen=True)
class Targets:
    clinician_ids: tuple[int, ...]
    nobody_on_call: bool
    queue_only: bool


def targets(
    notify: Sequence[str], *, primary: int | None, backup: int | None, everyone: Sequence[int]
) -> Targets:
    """The clinicians a step pages. Nobody on call: everyone of the clinic (CLINICAL.md §8)."""
    chosen: list[int] = []
    wants_on_call = any(n in ("primary", "backup") for n in notify)
    if "everyone" in notify or (wants_on_call and primary is None and backup is None):
        chosen = list(everyone)
    else:
        if "primary" in notify and primary is not None:
            chosen.append(primary)
        if "backup" in notify:
            if backup is not None:
                chosen.append(backup)
            elif primary is not None and primary not in chosen:
                chosen.append(primary)  # no backup: the primary again, never nobody
        if "primary" in notify and primary is None and backup is not None:
            chosen.append(backup)
    unique = tuple(dict.fromkeys(chosen))
    return Targets(
        clinician_ids=unique,
        nobody_on_call=primary is None and backup is None,
        queue_only=not unique and all(n == "queue" for n in notify),
    )


@dataclass(frozen=True)
class NonResponseRule:
    """Which silences escalate (CLINICAL.md §6); levels come from the clinic file."""

    missed_24h: Level
    missed_after_risk: Level
    risk_lookback: timedelta
    consecutive_missed: int
    consecutive_missed_level: Level


def non_response_findings(
    *,
    offset: timedelta | None,
    missed: bool,
    now: datetime,
    rule: NonResponseRule,
    recent: Sequence[tuple[datetime, str, Level]],
) -> list[Finding]:
    """Findings from a check-in that closed unanswered.

    `recent` holds the patient's earlier closed check-ins, newest first, as
    (due time, status, risk level); the closing one is not in it.
    """
    if not missed:
        return []
    findings = []
    if offset == timedelta(hours=24):
        findings.append(Finding(rule.missed_24h, "missed the +24 h check-in"))
    window = [r for r in recent if r[0] >= now - rule.risk_lookback]
    if any(level.rank >= Level.MODERATE.rank for _, _, level in window):
        findings.append(
            Finding(
                rule.missed_after_risk,
                "missed a check-in within "
                f"{rule.risk_lookback.days} days of a moderate-or-higher result",
            )
        )
    run = [status for _, status, _ in recent[: rule.consecutive_missed - 1]]
    if len(run) == rule.consecutive_missed - 1 and all(s == "missed" for s in run):
        findings.append(
            Finding(
                rule.consecutive_missed_level,
                f"{rule.consecutive_missed} consecutive check-ins missed",
            )
        )
    return findings

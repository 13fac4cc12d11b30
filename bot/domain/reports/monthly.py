"""The monthly report's figures from plain rows (README, "The monthly report"). Pure.

- Check-ins per slot (+4 h, +24 h, any other offset by its own label, daily, and the patient's
  own apart): *sent* = sent in the period; *answered* = of those, at least one answer
  (in progress, completed or abandoned); *missed* = closed with no answer and due in the
  period; *reminders* = a reminder sent in the period.
- Cases opened in the month per level, and the re-escalated share: a case whose ladder went
  past its first rung (a page of a later rung) or that was re-opened because its outreach was
  overdue (`outreach.overdue`).
- Patients with a moderate or high case opened in the month and no active safety plan.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from bot.domain.reports.month import Month

ANSWERED = frozenset({"in_progress", "completed", "abandoned"})
LEVELS = ("high", "moderate", "low")
ADHOC = "adhoc"
DAILY = "daily"
MONTH = "month"  # the period of a month's own row, beside its weeks


@dataclass(frozen=True)
class CheckinRow:
    kind: str  # offset, daily, adhoc
    offset_seconds: int | None
    status: str
    due_at: datetime
    sent_at: datetime | None
    reminded_at: datetime | None


@dataclass(frozen=True)
class SlotCount:
    """One slot's check-ins over a period (a week's label, or "month")."""

    period: str
    slot: str
    sent: int
    answered: int
    missed: int
    reminders: int

    @property
    def rate(self) -> float | None:
        """Answered / sent; None when nothing was sent."""
        return self.answered / self.sent if self.sent else None


def slot_of(kind: str, offset_seconds: int | None) -> str:
    """A check-in's slot: "+4h", "+24h", "+90m" for offsets, "daily", "adhoc"."""
    if kind == ADHOC:
        return ADHOC
    if kind == DAILY:
        return DAILY
    seconds = offset_seconds or 0
    if seconds % 3600 == 0:
        return f"+{seconds // 3600}h"
    if seconds % 60 == 0:
        return f"+{seconds // 60}m"
    return f"+{seconds}s"


def slot_order(slot: str) -> tuple[int, float]:
    """Offsets first by their length, then daily, then the patient's own."""
    if slot == DAILY:
        return (1, 0)
    if slot == ADHOC:
        return (2, 0)
    number, unit = float(slot[1:-1]), slot[-1]
    return (0, number * {"h": 3600, "m": 60, "s": 1}[unit])


def _count(
    period: str, slot: str, rows: Sequence[CheckinRow], within: Month, week: str | None
) -> SlotCount:
    def inside(at: datetime | None) -> bool:
        if at is None or not within.holds(at):
            return False
        return week is None or within.week_of(at) == week

    sent = [r for r in rows if inside(r.sent_at)]
    return SlotCount(
        period=period,
        slot=slot,
        sent=len(sent),
        answered=sum(1 for r in sent if r.status in ANSWERED),
        missed=sum(1 for r in rows if r.status == "missed" and inside(r.due_at)),
        reminders=sum(1 for r in rows if inside(r.reminded_at)),
    )


def checkin_counts(rows: Iterable[CheckinRow], month: Month) -> list[SlotCount]:
    """Per slot: the month's row, then one per ISO week of the month (clipped to it). The
    regular slots +4h, +24h and daily are always listed, at zero when nothing happened."""
    by_slot: dict[str, list[CheckinRow]] = {"+4h": [], "+24h": [], DAILY: []}
    for row in rows:
        by_slot.setdefault(slot_of(row.kind, row.offset_seconds), []).append(row)
    slots = sorted(by_slot, key=slot_order)
    found = [_count(MONTH, s, by_slot[s], month, None) for s in slots]
    for week in month.weeks():
        found += [_count(week.label, s, by_slot[s], month, week.label) for s in slots]
    return found


@dataclass(frozen=True)
class CaseRow:
    case_id: int
    patient_id: int
    patient_ref: str
    level: str
    opened_at: datetime
    later_rung: bool  # a page (sent or failed) of a rung after the first
    outreach_overdue: bool  # re-opened because the outreach was overdue

    @property
    def reescalated(self) -> bool:
        return self.later_rung or self.outreach_overdue


@dataclass(frozen=True)
class LevelCount:
    level: str
    opened: int
    reescalated: int

    @property
    def share(self) -> float | None:
        return self.reescalated / self.opened if self.opened else None


def case_counts(cases: Iterable[CaseRow], month: Month) -> list[LevelCount]:
    """Cases opened in the month per level (high, moderate, low), and how many re-escalated."""
    opened = [c for c in cases if month.holds(c.opened_at)]
    return [
        LevelCount(
            level=level,
            opened=sum(1 for c in opened if c.level == level),
            reescalated=sum(1 for c in opened if c.level == level and c.reescalated),
        )
        for level in LEVELS
    ]


@dataclass(frozen=True)
class WithoutPlan:
    patient_ref: str
    level: str  # the highest of their moderate or high cases opened in the month
    cases: int
    plan: str  # "none" (never had one) or "not active" (the newest version lacks steps 4/5)


def without_safety_plan(
    cases: Iterable[CaseRow], month: Month, *, active: dict[int, bool]
) -> list[WithoutPlan]:
    """Patients with a moderate or high case opened in the month whose newest safety plan is
    not active. `active`: patient id → whether their newest plan is active (absent: no plan)."""
    serious: dict[int, list[CaseRow]] = {}
    for case in cases:
        if month.holds(case.opened_at) and case.level in ("high", "moderate"):
            serious.setdefault(case.patient_id, []).append(case)
    found = []
    for patient_id, theirs in serious.items():
        if active.get(patient_id):
            continue
        level = "high" if any(c.level == "high" for c in theirs) else "moderate"
        plan = "none" if patient_id not in active else "not_active"
        found.append(WithoutPlan(theirs[0].patient_ref, level, len(theirs), plan))
    return sorted(found, key=lambda w: (LEVELS.index(w.level), w.patient_ref))

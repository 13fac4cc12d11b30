"""Outreach due times (CLINICAL.md §10), pure: business days across a weekend and DST."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from bot.domain.levels import Level
from bot.domain.outreach import (
    Need,
    ReachTargets,
    add_business_days,
    after_acknowledge,
    after_attempt,
    due_at,
    need_now,
    overdue_wording,
)

NY = ZoneInfo("America/New_York")
WEEK = (1, 2, 3, 4, 5)
TARGETS = ReachTargets(
    high_first_attempt=timedelta(minutes=30),
    high_reached=timedelta(hours=12),
    moderate_reached=timedelta(hours=24),
    low_reached_business_days=3,
    business_days=WEEK,
    again_after=timedelta(minutes=30),
)


def test_three_business_days_from_a_friday_is_the_wednesday() -> None:
    friday = datetime(2026, 3, 13, 19, 0, tzinfo=UTC)  # Fri 15:00 EDT
    due = add_business_days(friday, 3, zone=NY, workdays=WEEK)
    assert due.astimezone(NY).strftime("%a %H:%M") == "Wed 15:00"


def test_a_saturday_counts_from_the_monday() -> None:
    saturday = datetime(2026, 3, 14, 14, 0, tzinfo=UTC)
    due = add_business_days(saturday, 1, zone=NY, workdays=WEEK)
    assert due.astimezone(NY).strftime("%a %d %H:%M") == "Mon 16 10:00"


def test_business_days_keep_the_wall_time_across_dst() -> None:
    # Fri 6 Mar 2026 10:00 EST; clocks go forward Sun 8 Mar: Wed 11 Mar 10:00 EDT
    friday = datetime(2026, 3, 6, 15, 0, tzinfo=UTC)
    due = add_business_days(friday, 3, zone=NY, workdays=WEEK)
    assert due.astimezone(NY).strftime("%a %d %H:%M %Z") == "Wed 11 10:00 EDT"
    assert due - friday == timedelta(days=5) - timedelta(hours=1)


def test_due_times_per_level() -> None:
    start = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
    assert due_at(Level.HIGH, Need.FIRST_ATTEMPT, start=start, targets=TARGETS, zone=NY) == (
        start + timedelta(minutes=30)
    )
    assert due_at(Level.HIGH, Need.REACHED, start=start, targets=TARGETS, zone=NY) == (
        start + timedelta(hours=12)
    )
    assert due_at(Level.MODERATE, Need.REACHED, start=start, targets=TARGETS, zone=NY) == (
        start + timedelta(hours=24)
    )
    assert due_at(Level.LOW, Need.REACHED, start=start, targets=TARGETS, zone=NY) == (
        start + timedelta(days=3)
    )


def test_what_is_needed_next() -> None:
    assert need_now(Level.HIGH, attempts=0) is Need.FIRST_ATTEMPT
    assert need_now(Level.HIGH, attempts=1) is Need.REACHED
    assert need_now(Level.MODERATE, attempts=0) is Need.REACHED
    assert need_now(Level.NONE, attempts=0) is None


def test_an_attempt_moves_to_the_reached_target_never_sooner_than_again_after() -> None:
    start = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
    early = start + timedelta(minutes=10)
    assert after_attempt(Level.HIGH, start=start, now=early, targets=TARGETS, zone=NY) == (
        start + timedelta(hours=12)
    )
    late = start + timedelta(hours=13)
    assert after_attempt(Level.HIGH, start=start, now=late, targets=TARGETS, zone=NY) == (
        late + timedelta(minutes=30)
    )


def test_acknowledging_never_stops_the_clock() -> None:
    now = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
    due = now + timedelta(minutes=20)
    assert after_acknowledge(due, now=now, targets=TARGETS) == due
    assert after_acknowledge(now - timedelta(minutes=5), now=now, targets=TARGETS) == (
        now + timedelta(minutes=30)
    )


def test_the_overdue_wording_says_what_is_missing() -> None:
    now = datetime(2026, 3, 10, 12, 40, tzinfo=UTC)
    text = overdue_wording(
        need=Need.FIRST_ATTEMPT,
        level=Level.HIGH,
        acknowledged_by="Dr Lee",
        acknowledged_at=now - timedelta(minutes=40),
        attempts=0,
        targets=TARGETS,
        now=now,
    )
    assert text == (
        "Outreach overdue: acknowledged by Dr Lee 40 min ago, no contact attempt recorded — "
        "the first attempt was due 30 min after the first page."
    )
    low = overdue_wording(
        need=Need.REACHED,
        level=Level.LOW,
        acknowledged_by=None,
        acknowledged_at=None,
        attempts=2,
        targets=TARGETS,
        now=now,
    )
    assert "2 attempts recorded, patient not reached" in low and "3 business days" in low

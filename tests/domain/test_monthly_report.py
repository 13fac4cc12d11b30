"""The monthly report's pure figures on hand-made rows: the month and its clipped ISO weeks in
the clinic's zone, slots, sent / answered / missed / reminders, cases and the re-escalated
share, infusion series and their mood, patients without an active plan."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.domain.reports.month import Month, MonthRefused, last_complete_month, parse_month
from bot.domain.reports.monthly import (
    CaseRow,
    CheckinRow,
    case_counts,
    checkin_counts,
    slot_of,
    without_safety_plan,
)
from bot.domain.reports.mood_series import InfusionRow, MoodRow, median_change, mood_series
from bot.domain.response_times import percentile

NY = ZoneInfo("America/New_York")
NOV = Month(2026, 11, NY)
H = timedelta(hours=1)


def test_the_month_is_the_clinics_calendar_month_as_utc_boundaries() -> None:
    # New York is on EDT (-4) on 1 Nov 2026 at midnight and EST (-5) on 1 Dec
    assert NOV.start == datetime(2026, 11, 1, 4, 0, tzinfo=UTC)
    assert NOV.end == datetime(2026, 12, 1, 5, 0, tzinfo=UTC)
    assert not NOV.holds(datetime(2026, 11, 1, 3, 59, tzinfo=UTC))  # still 31 Oct locally
    assert NOV.holds(datetime(2026, 12, 1, 4, 59, tzinfo=UTC))  # still 30 Nov locally
    assert Month(2026, 12, NY).end == datetime(2027, 1, 1, 5, 0, tzinfo=UTC)


def test_weeks_are_iso_weeks_clipped_to_the_month() -> None:
    weeks = NOV.weeks()  # 1 Nov 2026 is a Sunday, 30 Nov a Monday
    assert [(w.label, w.first_day, w.last_day) for w in weeks] == [
        ("2026-W44", date(2026, 11, 1), date(2026, 11, 1)),
        ("2026-W45", date(2026, 11, 2), date(2026, 11, 8)),
        ("2026-W46", date(2026, 11, 9), date(2026, 11, 15)),
        ("2026-W47", date(2026, 11, 16), date(2026, 11, 22)),
        ("2026-W48", date(2026, 11, 23), date(2026, 11, 29)),
        ("2026-W49", date(2026, 11, 30), date(2026, 11, 30)),
    ]
    # Monday 2 Nov 02:00 UTC is still Sunday 1 Nov in New York
    assert NOV.week_of(datetime(2026, 11, 2, 2, 0, tzinfo=UTC)) == "2026-W44"


def test_a_month_is_parsed_or_refused() -> None:
    now = datetime(2026, 12, 7, 12, tzinfo=UTC)
    assert parse_month("", zone=NY, now=now) == NOV
    assert parse_month("2026-12", zone=NY, now=now).key == "2026-12"  # so far
    assert last_complete_month(datetime(2026, 12, 1, 4, tzinfo=UTC), NY) == Month(2026, 10, NY)
    for bad in ("2026-13", "2026-1", "November", "2026-11-01", "1999-01"):
        with pytest.raises(MonthRefused, match="YYYY-MM"):
            parse_month(bad, zone=NY, now=now)
    with pytest.raises(MonthRefused, match="not begun"):
        parse_month("2027-01", zone=NY, now=now)


def test_slots() -> None:
    assert slot_of("offset", 4 * 3600) == "+4h"
    assert slot_of("offset", 24 * 3600) == "+24h"
    assert slot_of("offset", 90 * 60) == "+90m"
    assert slot_of("daily", None) == "daily"
    assert slot_of("adhoc", None) == "adhoc"


def _checkin(
    kind: str,
    offset: int | None,
    status: str,
    *,
    sent: datetime | None = None,
    due: datetime | None = None,
    reminded: datetime | None = None,
) -> CheckinRow:
    return CheckinRow(kind, offset, status, due or sent or NOV.start, sent, reminded)


def test_checkins_sent_answered_missed_and_reminded_per_slot_and_week() -> None:
    w45 = datetime(2026, 11, 3, 15, tzinfo=UTC)
    w47 = datetime(2026, 11, 17, 15, tzinfo=UTC)
    rows = [
        _checkin("offset", 14400, "completed", sent=w45, reminded=w45 + H),
        _checkin("offset", 14400, "abandoned", sent=w45),
        _checkin("offset", 14400, "sent", sent=w47),
        _checkin("offset", 14400, "missed", sent=w47, reminded=w47 + H),
        _checkin("offset", 86400, "in_progress", sent=w47),
        _checkin("daily", None, "missed", due=w45),  # never sent: missed, not sent
        _checkin("adhoc", None, "completed", sent=w45),
        _checkin("offset", 7200, "completed", sent=w45),
        _checkin("offset", 14400, "completed", sent=NOV.end),  # December: not counted
        _checkin("offset", 14400, "completed", sent=NOV.start - H),  # October
    ]
    counts = checkin_counts(rows, NOV)
    month = {c.slot: c for c in counts if c.period == "month"}
    assert list(month) == ["+2h", "+4h", "+24h", "daily", "adhoc"]
    four = month["+4h"]
    assert (four.sent, four.answered, four.missed, four.reminders) == (4, 2, 1, 2)
    assert four.rate == 0.5
    assert (month["+24h"].sent, month["+24h"].answered) == (1, 1)
    assert (month["daily"].sent, month["daily"].missed, month["daily"].rate) == (0, 1, None)
    assert (month["adhoc"].sent, month["adhoc"].answered) == (1, 1)
    weekly = {(c.period, c.slot): c for c in counts if c.period != "month"}
    assert len(weekly) == 6 * 5  # every week × every slot, zeros included
    assert (weekly[("2026-W45", "+4h")].sent, weekly[("2026-W45", "+4h")].answered) == (2, 2)
    assert (weekly[("2026-W47", "+4h")].sent, weekly[("2026-W47", "+4h")].missed) == (2, 1)
    assert weekly[("2026-W49", "+4h")].sent == 0  # 1 Dec's check-in is not November's
    assert sum(c.sent for c in counts if c.period != "month") == sum(c.sent for c in month.values())


def test_an_empty_month_gives_zeros_not_errors() -> None:
    counts = checkin_counts([], NOV)
    assert {c.slot for c in counts} == {"+4h", "+24h", "daily"}
    assert all(c.sent == c.answered == 0 and c.rate is None for c in counts)
    assert [(n.level, n.opened, n.share) for n in case_counts([], NOV)] == [
        ("high", 0, None),
        ("moderate", 0, None),
        ("low", 0, None),
    ]
    assert mood_series([], [], {}) == []
    assert median_change([]) is None
    assert without_safety_plan([], NOV, active={}) == []


def _case(case_id: int, patient: int, level: str, *, later: bool = False, overdue: bool = False,
          at: datetime | None = None) -> CaseRow:  # fmt: skip
    opened = at or datetime(2026, 11, 10, tzinfo=UTC)
    return CaseRow(case_id, patient, f"P-{patient}", level, opened, later, overdue)


def test_cases_per_level_and_the_reescalated_share() -> None:
    cases = [
        _case(1, 1, "high", later=True),  # a page on a later rung
        _case(2, 2, "high", overdue=True),  # re-opened: outreach overdue
        _case(3, 3, "high"),
        _case(4, 4, "high"),
        _case(5, 5, "moderate", later=True, overdue=True),  # counted once
        _case(6, 6, "low"),
        _case(7, 7, "high", later=True, at=NOV.end),  # December's
    ]
    counts = {n.level: n for n in case_counts(cases, NOV)}
    assert (counts["high"].opened, counts["high"].reescalated, counts["high"].share) == (4, 2, 0.5)
    assert (counts["moderate"].opened, counts["moderate"].reescalated) == (1, 1)
    assert (counts["low"].opened, counts["low"].reescalated, counts["low"].share) == (1, 0, 0.0)


def test_patients_without_an_active_plan() -> None:
    cases = [
        _case(1, 1, "moderate"),
        _case(2, 1, "high"),  # P-1: highest high, two cases, no plan
        _case(3, 2, "high"),  # P-2: an active plan
        _case(4, 3, "moderate"),  # P-3: a plan, not active
        _case(5, 4, "low"),  # P-4: low only
        _case(6, 5, "high", at=NOV.start - H),  # P-5: October's case
    ]
    found = without_safety_plan(cases, NOV, active={2: True, 3: False})
    assert [(w.patient_ref, w.level, w.cases, w.plan) for w in found] == [
        ("P-1", "high", 2, "none"),
        ("P-3", "moderate", 1, "not_active"),
    ]


def _at(day: int, hour: int = 15) -> datetime:
    return datetime(2026, 11, day, hour, tzinfo=UTC)


def test_series_group_infusions_at_most_14_days_apart_and_read_mood_around_them() -> None:
    infusions = [
        InfusionRow(1, "P-1", _at(2)),
        InfusionRow(1, "P-1", _at(16)),  # 14 days after: the same series
        InfusionRow(1, "P-1", _at(30, 16)),  # 14 days 1 h after: a new series
        InfusionRow(2, "P-2", _at(5)),
    ]
    moods = [
        MoodRow(1, _at(1), 3),
        MoodRow(1, _at(2, 14), 4),  # the last before the first infusion ended
        MoodRow(1, _at(2, 16), 9),  # after it: not "before"
        MoodRow(1, _at(20), 6),
        MoodRow(1, _at(23, 14), 7),  # the last within 7 days of the 16th → series 1's after
        MoodRow(1, _at(23, 16), 8),  # 7 days and an hour after: outside
        MoodRow(2, _at(13), 5),  # 8 days after P-2's infusion: outside
    ]
    series = mood_series(infusions, moods, {1: 2, 2: 6})
    assert [
        (s.patient_ref, s.infusions, s.before, s.before_from_baseline, s.after, s.change)
        for s in series
    ] == [
        ("P-1", 2, 4, False, 7, 3),
        ("P-2", 1, 6, True, None, None),  # baseline before, nothing after
        ("P-1", 1, 8, False, None, None),  # before: the last answer before the 30th
    ]
    assert median_change(series) == 3


def test_median_change_and_nearest_rank_percentiles() -> None:
    infusions = [InfusionRow(p, f"P-{p}", _at(10)) for p in (1, 2, 3, 4)]
    moods = [MoodRow(p, _at(11), after) for p, after in ((1, 5), (2, 6), (3, 9), (4, 2))]
    found = mood_series(infusions, moods, {1: 4, 2: 4, 3: 4, 4: 4})
    assert sorted(s.change or 0 for s in found) == [-2, 1, 2, 5]
    assert median_change(found) == 1.5  # the mean of the middle two
    minutes = [timedelta(minutes=m) for m in (10, 20, 30, 40, 50, 60, 70, 80, 90, 100)]
    assert percentile(minutes, 50) == timedelta(minutes=50)
    assert percentile(minutes, 90) == timedelta(minutes=90)
    assert percentile(minutes[:3], 90) == timedelta(minutes=30)

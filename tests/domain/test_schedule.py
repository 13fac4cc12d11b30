"""The check-in planner (bot/domain/schedule.py): worked examples, then properties."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.domain.schedule import (
    PlannedCheckin,
    Protocol,
    QuietHours,
    checkin_label,
    defer_past_quiet_hours,
    humanize_offset,
    plan_checkins,
    resolve_local,
)

NEW_YORK = ZoneInfo("America/New_York")
LONDON = ZoneInfo("Europe/London")
SYDNEY = ZoneInfo("Australia/Sydney")
KOLKATA = ZoneInfo("Asia/Kolkata")
LORD_HOWE = ZoneInfo("Australia/Lord_Howe")

STANDARD = Protocol(
    name="standard",
    offsets=(timedelta(hours=4), timedelta(hours=24)),
    daily_time=time(10, 0),
    daily_days=7,
)
NIGHT = QuietHours(start=time(22, 0), end=time(8, 0))


def at(
    zone: ZoneInfo, year: int, month: int, day: int, hour: int, minute: int, second: int = 0
) -> datetime:
    """A local wall time in `zone` (the first occurrence if repeated)."""
    return datetime(year, month, day, hour, minute, second, tzinfo=zone)


def utc_offset(instant: datetime, zone: ZoneInfo) -> timedelta:
    offset = instant.astimezone(zone).utcoffset()
    assert offset is not None
    return offset


def local(checkin: PlannedCheckin, zone: ZoneInfo) -> datetime:
    return checkin.due_at.astimezone(zone).replace(tzinfo=None)


def plan(
    infusion_at: datetime,
    zone: ZoneInfo,
    protocol: Protocol = STANDARD,
    quiet: QuietHours | None = NIGHT,
) -> list[PlannedCheckin]:
    return plan_checkins(infusion_at=infusion_at, protocol=protocol, zone=zone, quiet=quiet)


# --- worked examples ---------------------------------------------------------------------


@pytest.mark.parametrize("zone", [NEW_YORK, LONDON, SYDNEY, KOLKATA], ids=str)
def test_standard_protocol_on_an_ordinary_week(zone: ZoneInfo) -> None:
    checkins = plan(at(zone, 2025, 5, 5, 9, 0), zone)  # a Monday, no DST change near

    assert [(c.kind, local(c, zone)) for c in checkins] == [
        ("offset", datetime(2025, 5, 5, 13, 0)),
        ("offset", datetime(2025, 5, 6, 9, 0)),
        *[("daily", datetime(2025, 5, d, 10, 0)) for d in range(7, 13)],
    ]
    assert [checkin_label(c.kind, c.offset, c.day) for c in checkins] == [
        "4-hour check-in",
        "24-hour check-in",
        *[f"day {d} daily check-in" for d in range(2, 8)],
    ]
    assert all(c.due_at == c.nominal_at and c.due_at.tzinfo is UTC for c in checkins)


@pytest.mark.parametrize(
    ("zone", "infusion_day", "change"),
    [
        (NEW_YORK, date(2025, 3, 6), "spring forward Sun 9 Mar"),
        (NEW_YORK, date(2025, 10, 30), "fall back Sun 2 Nov"),
        (LONDON, date(2025, 3, 27), "spring forward Sun 30 Mar"),
        (LONDON, date(2025, 10, 23), "fall back Sun 26 Oct"),
        (SYDNEY, date(2025, 10, 2), "spring forward Sun 5 Oct"),
        (SYDNEY, date(2025, 4, 3), "fall back Sun 6 Apr"),
    ],
    ids=lambda value: str(value) if isinstance(value, ZoneInfo | str) else "",
)
def test_daily_time_keeps_its_wall_time_across_dst(
    zone: ZoneInfo, infusion_day: date, change: str
) -> None:
    infusion_at = datetime.combine(infusion_day, time(9, 0), tzinfo=zone)
    dailies = [c for c in plan(infusion_at, zone) if c.kind == "daily"]

    assert [local(c, zone) for c in dailies] == [
        datetime.combine(infusion_day + timedelta(days=d), time(10, 0)) for d in range(2, 8)
    ]
    offsets = {c.due_at.astimezone(zone).utcoffset() for c in dailies}
    assert len(offsets) == 2, f"the week should span the {change}"


def test_offsets_are_elapsed_time_across_dst() -> None:
    # Saturday 09:00 EST; clocks go forward overnight, so 24 h later the wall shows 10:00.
    checkins = plan(at(NEW_YORK, 2025, 3, 8, 9, 0), NEW_YORK)
    offset_24h = next(c for c in checkins if c.offset == timedelta(hours=24))
    assert offset_24h.nominal_at == datetime(2025, 3, 9, 14, 0, tzinfo=UTC)
    assert local(offset_24h, NEW_YORK) == datetime(2025, 3, 9, 10, 0)


@pytest.mark.parametrize(
    ("zone", "day", "wall", "expected_utc", "expected_local"),
    [
        # skipped times move forward by the gap
        (NEW_YORK, date(2025, 3, 9), time(2, 30), datetime(2025, 3, 9, 7, 30), time(3, 30)),
        (LONDON, date(2025, 3, 30), time(1, 30), datetime(2025, 3, 30, 1, 30), time(2, 30)),
        (SYDNEY, date(2025, 10, 5), time(2, 30), datetime(2025, 10, 4, 16, 30), time(3, 30)),
        (LORD_HOWE, date(2025, 10, 5), time(2, 15), datetime(2025, 10, 4, 15, 45), time(2, 45)),
        # repeated times take their first occurrence (summer time)
        (NEW_YORK, date(2025, 11, 2), time(1, 30), datetime(2025, 11, 2, 5, 30), time(1, 30)),
        (LONDON, date(2025, 10, 26), time(1, 30), datetime(2025, 10, 26, 0, 30), time(1, 30)),
        (SYDNEY, date(2025, 4, 6), time(2, 30), datetime(2025, 4, 5, 15, 30), time(2, 30)),
        # and a time with seconds that simply exists
        (KOLKATA, date(2025, 1, 1), time(9, 0, 5), datetime(2025, 1, 1, 3, 30, 5), time(9, 0, 5)),
    ],
)
def test_resolve_local_gives_the_documented_instant(
    zone: ZoneInfo, day: date, wall: time, expected_utc: datetime, expected_local: time
) -> None:
    instant = resolve_local(day, wall, zone)
    assert instant == expected_utc.replace(tzinfo=UTC)
    assert instant.tzinfo is UTC
    assert instant.astimezone(zone).time() == expected_local
    assert resolve_local(day, wall.replace(fold=1), zone) == instant


def test_daily_time_skipped_by_spring_forward_moves_to_after_the_gap() -> None:
    protocol = Protocol("night", offsets=(), daily_time=time(2, 30), daily_days=4)
    checkins = plan(at(NEW_YORK, 2025, 3, 7, 9, 0), NEW_YORK, protocol, quiet=None)
    assert [local(c, NEW_YORK) for c in checkins] == [
        datetime(2025, 3, 8, 2, 30),
        datetime(2025, 3, 9, 3, 30),
        datetime(2025, 3, 10, 2, 30),
        datetime(2025, 3, 11, 2, 30),
    ]


@pytest.mark.parametrize(
    ("infusion_hour", "nominal", "due"),
    [
        (19, datetime(2025, 5, 5, 23, 0), datetime(2025, 5, 6, 8, 0)),  # evening part
        (23, datetime(2025, 5, 6, 3, 0), datetime(2025, 5, 6, 8, 0)),  # after midnight
        (3, datetime(2025, 5, 5, 7, 0), datetime(2025, 5, 5, 8, 0)),  # early morning
        (4, datetime(2025, 5, 5, 8, 0), datetime(2025, 5, 5, 8, 0)),  # `end` is not quiet
        (17, datetime(2025, 5, 5, 21, 0), datetime(2025, 5, 5, 21, 0)),
    ],
)
def test_quiet_hours_across_midnight(infusion_hour: int, nominal: datetime, due: datetime) -> None:
    checkins = plan(at(SYDNEY, 2025, 5, 5, infusion_hour, 0), SYDNEY)
    first = checkins[0]
    assert first.offset == timedelta(hours=4)
    assert first.nominal_at.astimezone(SYDNEY).replace(tzinfo=None) == nominal
    assert local(first, SYDNEY) == due


def test_quiet_hours_within_one_day() -> None:
    lunch = QuietHours(start=time(13, 0), end=time(14, 0))
    protocol = Protocol("lunch", (timedelta(hours=4),), daily_time=time(13, 30), daily_days=2)
    checkins = plan(at(LONDON, 2025, 5, 5, 9, 0), LONDON, protocol, lunch)
    assert [(local(c, LONDON), c.nominal_at.astimezone(LONDON).time()) for c in checkins] == [
        (datetime(2025, 5, 5, 14, 0), time(13, 0)),
        (datetime(2025, 5, 6, 14, 0), time(13, 30)),
        (datetime(2025, 5, 7, 14, 0), time(13, 30)),
    ]
    boundary = [at(LONDON, 2025, 5, 5, 12, 59, 59), at(LONDON, 2025, 5, 5, 14, 0)]
    assert [defer_past_quiet_hours(t, LONDON, lunch) for t in boundary] == boundary


def test_no_quiet_hours_when_start_equals_end() -> None:
    never = QuietHours(start=time(22, 0), end=time(22, 0))
    assert not never.contains(time(22, 0))
    instant = at(NEW_YORK, 2025, 5, 5, 22, 30)
    assert defer_past_quiet_hours(instant, NEW_YORK, never) == instant
    assert defer_past_quiet_hours(instant, NEW_YORK, None) == instant


def test_quiet_hours_ending_in_a_repeated_hour_end_after_the_checkin() -> None:
    quiet = QuietHours(start=time(0, 0), end=time(1, 45))
    first_pass = datetime(2025, 11, 2, 5, 30, tzinfo=UTC)  # 01:30 EDT
    second_pass = datetime(2025, 11, 2, 6, 30, tzinfo=UTC)  # 01:30 EST, an hour later
    assert defer_past_quiet_hours(first_pass, NEW_YORK, quiet) == datetime(
        2025, 11, 2, 5, 45, tzinfo=UTC
    )
    assert defer_past_quiet_hours(second_pass, NEW_YORK, quiet) == datetime(
        2025, 11, 2, 6, 45, tzinfo=UTC
    )


def test_quiet_hours_ending_in_a_gap_end_after_the_gap() -> None:
    quiet = QuietHours(start=time(22, 0), end=time(2, 30))
    moved = defer_past_quiet_hours(at(NEW_YORK, 2025, 3, 9, 1, 0), NEW_YORK, quiet)
    assert moved.astimezone(NEW_YORK).replace(tzinfo=None) == datetime(2025, 3, 9, 3, 30)


def test_quiet_hours_of_nearly_a_day_meet_dst_edges() -> None:
    # Degenerate windows, kept explicit because the properties make exceptions for them.
    quiet = QuietHours(start=time(2, 45), end=time(2, 30))
    # The end is skipped and the start lies inside the gap: 03:30 is already quiet again.
    moved = defer_past_quiet_hours(at(NEW_YORK, 2025, 3, 9, 1, 0), NEW_YORK, quiet)
    assert moved.astimezone(NEW_YORK).replace(tzinfo=None) == datetime(2025, 3, 9, 3, 30)
    # 23 h 40 min of wall clock plus the repeated hour: more than 24 h of real time.
    start = at(NEW_YORK, 2025, 11, 1, 2, 50)
    moved = defer_past_quiet_hours(start, NEW_YORK, quiet)
    assert moved.astimezone(NEW_YORK).replace(tzinfo=None) == datetime(2025, 11, 2, 2, 30)
    assert moved - start == timedelta(hours=24, minutes=40)


def test_seconds_level_protocol_for_rehearsals() -> None:
    rehearsal = Protocol(
        "rehearsal",
        offsets=(timedelta(seconds=30), timedelta(seconds=60)),
        daily_time=time(10, 15, 30),
        daily_days=2,
    )
    infusion_at = datetime(2025, 5, 5, 9, 0, 0, tzinfo=UTC)
    checkins = plan(infusion_at, KOLKATA, rehearsal)
    assert [(checkin_label(c.kind, c.offset, c.day), c.due_at) for c in checkins] == [
        ("30-second check-in", datetime(2025, 5, 5, 9, 0, 30, tzinfo=UTC)),
        ("1-minute check-in", datetime(2025, 5, 5, 9, 1, 0, tzinfo=UTC)),
        ("day 1 daily check-in", datetime(2025, 5, 6, 4, 45, 30, tzinfo=UTC)),
        ("day 2 daily check-in", datetime(2025, 5, 7, 4, 45, 30, tzinfo=UTC)),
    ]


def test_equal_offsets_are_planned_once() -> None:
    protocol = Protocol(
        "dup", (timedelta(hours=4), timedelta(minutes=240), timedelta(days=1)), time(10), 0
    )
    checkins = plan(at(LONDON, 2025, 5, 5, 9, 0), LONDON, protocol)
    assert [c.offset for c in checkins] == [timedelta(hours=4), timedelta(hours=24)]


def test_naive_infusion_time_is_rejected() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        plan(datetime(2025, 5, 5, 9, 0), LONDON)


def test_invalid_settings_are_rejected() -> None:
    with pytest.raises(ValueError, match="positive"):
        Protocol("bad", (timedelta(0),), time(10), 7)
    with pytest.raises(ValueError, match="daily_days"):
        Protocol("bad", (), time(10), -1)
    with pytest.raises(ValueError, match="wall time"):
        QuietHours(start=time(22, tzinfo=UTC), end=time(8))


@pytest.mark.parametrize(
    ("offset", "label"),
    [
        (timedelta(hours=4), "4-hour"),
        (timedelta(hours=24), "24-hour"),
        (timedelta(hours=36), "36-hour"),
        (timedelta(days=2), "2-day"),
        (timedelta(days=3), "3-day"),
        (timedelta(minutes=90), "90-minute"),
        (timedelta(hours=1), "1-hour"),
        (timedelta(seconds=30), "30-second"),
        (timedelta(seconds=90), "90-second"),
        (timedelta(milliseconds=1500), "1.5-second"),
    ],
)
def test_humanize_offset(offset: timedelta, label: str) -> None:
    assert humanize_offset(offset) == label


def test_checkin_labels() -> None:
    assert checkin_label("offset", timedelta(hours=4), None) == "4-hour check-in"
    assert checkin_label("offset", timedelta(hours=24), None) == "24-hour check-in"
    assert checkin_label("offset", timedelta(days=2), None) == "2-day check-in"
    assert checkin_label("offset", timedelta(seconds=30), None) == "30-second check-in"
    assert checkin_label("offset", timedelta(minutes=90), None) == "90-minute check-in"
    assert checkin_label("daily", None, 3) == "day 3 daily check-in"
    with pytest.raises(ValueError):
        checkin_label("daily", timedelta(hours=4), None)
    with pytest.raises(ValueError):
        humanize_offset(timedelta(0))


# --- properties ----------------------------------------------------------------------------

ZONES = [
    "UTC",
    "America/New_York",
    "America/Los_Angeles",
    "America/St_Johns",  # -03:30 / -02:30
    "America/Santiago",  # southern, changes at midnight
    "America/Havana",  # changes at midnight
    "America/Sao_Paulo",  # no DST since 2019
    "Europe/London",
    "Europe/Berlin",
    "Africa/Casablanca",  # goes back an hour for Ramadan each year
    "Asia/Kolkata",  # +05:30
    "Asia/Kathmandu",  # +05:45
    "Australia/Sydney",
    "Australia/Adelaide",  # +09:30 / +10:30
    "Australia/Lord_Howe",  # half-hour DST
    "Pacific/Chatham",  # +12:45 / +13:45
    "Pacific/Auckland",
]
FIRST, LAST = datetime(2020, 1, 1), datetime(2035, 12, 31)


@lru_cache
def change_days(key: str) -> tuple[date, ...]:
    """Local dates on which the zone's UTC offset changes, 2020–2035 (for biased sampling)."""
    zone = ZoneInfo(key)
    days, day = [], FIRST.date()
    while day <= LAST.date():
        today = datetime.combine(day, time(0), tzinfo=zone).utcoffset()
        tomorrow = datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone).utcoffset()
        if today != tomorrow:
            days.append(day)
        day += timedelta(days=1)
    return tuple(days)


@st.composite
def infusions(draw: st.DrawFn, zone: ZoneInfo) -> datetime:
    """Infusion times, half of them in the fortnight before a DST change."""
    wall = draw(st.datetimes(min_value=FIRST, max_value=LAST))
    near = change_days(zone.key)
    near_a_change = draw(st.booleans())
    if near and near_a_change:
        change = draw(st.sampled_from(near))
        wall = datetime.combine(change, wall.time()) - timedelta(days=draw(st.integers(0, 14)))
    tz = draw(st.sampled_from([zone, UTC]))
    return wall.replace(tzinfo=tz, fold=draw(st.integers(0, 1)))


wall_times = st.one_of(
    st.times(), st.builds(time, st.integers(0, 23), st.sampled_from([0, 15, 30, 45]))
)
offsets = st.one_of(
    st.timedeltas(min_value=timedelta(seconds=1), max_value=timedelta(days=3)),
    st.integers(1, 72).map(lambda hours: timedelta(hours=hours)),
)
protocols = st.builds(
    Protocol,
    name=st.just("random"),
    offsets=st.lists(offsets, min_size=1, max_size=4).map(tuple),
    daily_time=wall_times,
    daily_days=st.integers(0, 14),
)
quiet_hours = st.one_of(
    st.none(),
    st.builds(QuietHours, start=wall_times, end=wall_times),
    wall_times.map(lambda t: QuietHours(start=t, end=t)),
)


def skipped(day: date, wall: time, zone: ZoneInfo) -> timedelta:
    """How far a DST gap pushes this local wall time forward (0 when it exists)."""
    naive = datetime.combine(day, wall.replace(fold=0))
    shown = naive.replace(tzinfo=zone).astimezone(UTC).astimezone(zone).replace(tzinfo=None)
    return shown - naive


@settings(max_examples=400, deadline=None)
@given(data=st.data(), key=st.sampled_from(ZONES), protocol=protocols, quiet=quiet_hours)
def test_plan_properties(
    data: st.DataObject, key: str, protocol: Protocol, quiet: QuietHours | None
) -> None:
    zone = ZoneInfo(key)
    infusion_at = data.draw(infusions(zone))
    checkins = plan(infusion_at, zone, protocol, quiet)

    assert all(c.nominal_at.tzinfo is UTC and c.due_at.tzinfo is UTC for c in checkins)
    assert [c.due_at for c in checkins] == sorted(c.due_at for c in checkins)

    for c in checkins:
        due_local = c.due_at.astimezone(zone)
        assert c.due_at >= c.nominal_at
        # Quiet hours last under 24 wall-clock hours; a fall-back inside them adds its hour.
        shift = utc_offset(c.nominal_at, zone) - utc_offset(c.due_at, zone)
        assert c.due_at - c.nominal_at < timedelta(hours=24) + max(shift, timedelta(0))
        if quiet is None:
            assert c.due_at == c.nominal_at
            continue
        end_here = resolve_local(due_local.date(), quiet.end, zone)
        if c.due_at != c.nominal_at:
            assert due_local.time() == quiet.end or c.due_at == end_here
        if quiet.contains(due_local.time()):
            # Only when the quiet hours end in a gap and start within it (a ~24 h window):
            # then the clock never shows a time outside them that day.
            assert skipped(due_local.date(), quiet.end, zone) > timedelta(0)
            assert c.due_at == end_here

    offsets = [c for c in checkins if c.kind == "offset"]
    assert [c.offset for c in offsets] == sorted(set(protocol.offsets))
    for c in offsets:
        assert c.offset is not None and c.day is None
        assert c.nominal_at - infusion_at == c.offset
        assert c.nominal_at == infusion_at.astimezone(UTC) + c.offset

    # Through UTC: astimezone() to the datetime's own zone returns it as it is, and a wall time
    # in a spring-forward gap names an instant outside it, maybe on another day (Santiago's gap
    # is at midnight: 2020-09-06 00:00 with fold=1 is 23:00 on the 5th).
    infusion_date = infusion_at.astimezone(UTC).astimezone(zone).date()
    taken = {c.nominal_at.astimezone(zone).date() for c in offsets}
    planned_days = [
        d
        for d in range(1, protocol.daily_days + 1)
        if infusion_date + timedelta(days=d) not in taken
    ]
    dailies = sorted((c for c in checkins if c.kind == "daily"), key=lambda c: c.day or 0)
    assert [c.day for c in dailies] == planned_days
    daily_dates = [c.nominal_at.astimezone(zone).date() for c in dailies]
    assert len(set(daily_dates)) == len(daily_dates)
    assert not taken & set(daily_dates)
    for c, on in zip(dailies, daily_dates, strict=True):
        assert c.offset is None and on == infusion_date + timedelta(days=c.day or 0)
        shown = c.nominal_at.astimezone(zone).replace(tzinfo=None)
        gap = skipped(on, protocol.daily_time, zone)
        assert shown - datetime.combine(on, protocol.daily_time) == gap
        assert gap <= timedelta(hours=1)


@settings(max_examples=300, deadline=None)
@given(key=st.sampled_from(ZONES), data=st.data(), wall=wall_times)
def test_resolve_local_is_the_earliest_instant_showing_the_time(
    key: str, data: st.DataObject, wall: time
) -> None:
    zone = ZoneInfo(key)
    near = change_days(key)
    day = data.draw(
        st.sampled_from(near) if near else st.dates(FIRST.date(), LAST.date()), label="day"
    )
    instant = resolve_local(day, wall, zone)
    shown = instant.astimezone(zone).replace(tzinfo=None)
    naive = datetime.combine(day, wall)
    assert instant.tzinfo is UTC
    if shown == naive:  # it exists: nothing earlier shows the same wall time
        for earlier in (instant - timedelta(hours=1), instant - timedelta(minutes=30)):
            assert earlier.astimezone(zone).replace(tzinfo=None) != naive
    else:  # skipped: pushed forward by the gap, to a time just after the change
        assert timedelta(0) < shown - naive <= timedelta(hours=1)
        assert utc_offset(instant - (shown - naive), zone) < utc_offset(instant, zone)


def test_offset_parts_give_the_number_its_plural_count_and_unit() -> None:
    from bot.domain.schedule import offset_parts

    assert offset_parts(timedelta(hours=24)) == ("24", 24, "hour")  # 24 h stays hours
    assert offset_parts(timedelta(days=2)) == ("2", 2, "day")
    assert offset_parts(timedelta(minutes=90)) == ("90", 90, "minute")
    assert offset_parts(timedelta(seconds=1.5)) == ("1.5", 2, "second")  # plural rules: whole

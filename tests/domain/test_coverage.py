"""The roster's week grid and coverage gaps: pure, and always what the pager would resolve."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from bot.domain.coverage import coverage, gaps, opened_gaps, roster_of, to_the_minute, week_grid
from bot.domain.oncall import (
    FURTHEST_AHEAD,
    LONGEST_SHIFT,
    Shift,
    ShiftProblem,
    Slot,
    shift_problems,
)
from bot.services.clinic.roster import check_shift, parse_local
from bot.services.clinic.rotation import rotation_slot
from storage.models import Clinician

NY = ZoneInfo("America/New_York")
ADA, BEN, CY = 1, 2, 3


def _ny(day: int, hour: int, minute: int = 0, month: int = 5) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=NY).astimezone(UTC)


def _shift(who: int, start: datetime, end: datetime, role: str = "primary", made: int = 0) -> Shift:
    return Shift(
        who, role, start, end, created_at=datetime(2026, 1, 1, tzinfo=UTC) + timedelta(made)
    )


NIGHTS = Slot(BEN, "primary", (1, 2, 3, 4, 5, 6, 7), time(20), time(8))  # every night


def test_the_grid_shows_a_shift_in_its_local_hours_and_the_gap_after_it() -> None:
    # Mon 4 May 2026, New York: Ada is primary 09:00-17:30, Cy backup 12:00-13:00; nights Ben.
    roster = roster_of(
        shifts=[
            _shift(ADA, _ny(4, 9), _ny(4, 17, 30)),
            _shift(CY, _ny(4, 12), _ny(4, 13), role="backup"),
        ],
        rotation=[NIGHTS],
        active={ADA, BEN, CY},
        zone=NY,
    )
    grid = week_grid(roster, first_day=date(2026, 5, 4))
    day = date(2026, 5, 4)
    assert len(grid.days) == 7 and grid.days[0] == day
    assert [s.primary for s in grid.block(day, 3).stretches] == [BEN]  # last night's slot
    assert grid.block(day, 8).gap and not grid.block(day, 7).gap  # the night ended at 08:00
    assert [(s.primary, s.backup) for s in grid.block(day, 12).stretches] == [(ADA, CY)]
    assert [(s.primary, s.backup) for s in grid.block(day, 9).stretches] == [(ADA, None)]
    half = grid.block(day, 17).stretches  # Ada until 17:30, then nobody
    assert [(s.primary, s.starts_at) for s in half] == [(ADA, _ny(4, 17)), (None, _ny(4, 17, 30))]
    assert grid.block(day, 17).gap and grid.block(day, 18).gap and not grid.block(day, 20).gap
    assert [(g.starts_at, g.ends_at) for g in grid.gaps][:2] == [
        (_ny(4, 8), _ny(4, 9)),
        (_ny(4, 17, 30), _ny(4, 20)),
    ]


def test_the_grid_never_disagrees_with_the_pager_rule() -> None:
    """Every 10 minutes of the week: the grid's stretch there names who on_call_at names."""
    roster = roster_of(
        shifts=[
            _shift(ADA, _ny(5, 6, 10), _ny(6, 2, 40), made=1),
            _shift(CY, _ny(5, 22), _ny(6, 1), made=2),  # newer: wins over Ada
            _shift(BEN, _ny(7, 11, 5), _ny(7, 11, 55), role="backup"),
            _shift(BEN, _ny(8, 3), _ny(8, 4)),  # Ben is inactive: nobody, as for the pager
        ],
        rotation=[NIGHTS, Slot(ADA, "backup", (2, 4), time(9), time(9))],  # 24 h slots
        active={ADA, CY},
        zone=NY,
    )
    grid = week_grid(roster, first_day=date(2026, 5, 4))
    for block in grid.blocks.values():
        at = block.starts_at
        while at < block.ends_at:
            found = next(s for s in block.stretches if s.starts_at <= at < s.ends_at)
            expected = roster.on_call(at)
            assert (found.primary, found.backup) == (expected.primary, expected.backup), at
            at += timedelta(minutes=10)
    assert grid.block(date(2026, 5, 5), 23).stretches[0].primary == CY
    assert grid.block(date(2026, 5, 8), 3).gap  # Ben's shift, but Ben is not active


def test_clock_changes_skip_and_repeat_an_hour() -> None:
    roster = roster_of(shifts=[], rotation=[NIGHTS], active={BEN}, zone=NY)
    spring = week_grid(roster, first_day=date(2026, 3, 8), days=1)
    assert spring.block(date(2026, 3, 8), 2).skipped  # 02:00-03:00 does not exist that night
    assert sum((b.ends_at - b.starts_at for b in spring.blocks.values()), timedelta()) == timedelta(
        hours=23
    )
    autumn = week_grid(roster, first_day=date(2026, 11, 1), days=1)
    repeated = autumn.block(date(2026, 11, 1), 1)
    assert repeated.ends_at - repeated.starts_at == timedelta(hours=2)
    assert [s.primary for s in repeated.stretches] == [BEN]


def test_a_cell_and_a_day_show_each_change_once_to_the_minute() -> None:
    """Shifts kept to the second (the demo's: primary at 02:36:12, backup 28 s later) made a
    stretch of 28 s, and the cell read "from 02:36 Dr Primary" twice."""
    primary = _ny(4, 2, 36) + timedelta(seconds=12)
    backup = primary + timedelta(seconds=28)
    roster = roster_of(
        shifts=[
            _shift(ADA, primary, primary + timedelta(hours=1)),
            _shift(CY, backup, backup + timedelta(hours=1), role="backup"),
        ],
        rotation=[],
        active={ADA, CY},
        zone=NY,
    )
    grid = week_grid(roster, first_day=date(2026, 5, 4), days=1)
    cell = grid.block(date(2026, 5, 4), 2)
    assert len(cell.stretches) == 3  # the pager's truth, to the second, is kept
    assert [(s.primary, s.backup, s.starts_at) for s in cell.shown] == [
        (None, None, _ny(4, 2)),
        (ADA, CY, primary),
    ]
    assert cell.gap  # the minutes with no one stay a gap
    assert [(s.primary, s.backup, s.starts_at, s.ends_at) for s in grid.day(date(2026, 5, 4))] == [
        (None, None, _ny(4, 0), primary),
        (ADA, CY, primary, primary + timedelta(hours=1)),
        (None, None, primary + timedelta(hours=1), _ny(5, 0)),  # the backup's 28 s folded in
    ]
    assert to_the_minute([]) == ()


def test_a_gap_stays_one_gap_whatever_the_backup_does() -> None:
    """Gaps are counted merged: a backup shift inside a gap does not split it."""
    start, end = _ny(4, 0), _ny(5, 0)
    alone = roster_of(shifts=[], rotation=[], active={ADA}, zone=NY)
    backed = roster_of(
        shifts=[_shift(ADA, _ny(4, 10), _ny(4, 12), role="backup")],
        rotation=[],
        active={ADA},
        zone=NY,
    )
    assert gaps(alone, start=start, end=end) == gaps(backed, start=start, end=end) == [(start, end)]
    assert len(week_grid(backed, first_day=date(2026, 5, 4), days=1).gaps) == 3  # split stretches


def test_opened_gaps_are_only_the_ones_a_change_makes() -> None:
    start, end = _ny(4, 0), _ny(5, 0)
    before = roster_of(
        shifts=[_shift(ADA, _ny(4, 2), _ny(4, 12))], rotation=[], active={ADA}, zone=NY
    )
    after = roster_of(
        shifts=[_shift(ADA, _ny(4, 4), _ny(4, 10))], rotation=[], active={ADA}, zone=NY
    )
    assert gaps(before, start=start, end=end) == [(_ny(4, 0), _ny(4, 2)), (_ny(4, 12), _ny(5, 0))]
    assert opened_gaps(before, after, start=start, end=end) == [
        (_ny(4, 2), _ny(4, 4)),
        (_ny(4, 10), _ny(4, 12)),
    ]
    assert opened_gaps(after, before, start=start, end=end) == []  # filling a gap opens none
    # Deactivating the only clinician on call opens the whole of their shift.
    gone = roster_of(
        shifts=[_shift(ADA, _ny(4, 2), _ny(4, 12))], rotation=[], active=set(), zone=NY
    )
    assert opened_gaps(before, gone, start=start, end=end) == [(_ny(4, 2), _ny(4, 12))]
    assert coverage(before, start=end, end=start) == []


def test_a_rotation_slot_from_the_form() -> None:
    names = ["Dr Ada", "Dr Ben"]
    slot = rotation_slot(
        clinician="dr ada", role="backup", days=["1", "3"], start="20:00", end="08:00", names=names
    )
    assert not isinstance(slot, dict)
    assert (slot.clinician, slot.role, slot.days, slot.start, slot.end) == (
        "Dr Ada",  # as registered
        "backup",
        [1, 3],
        time(20),
        time(8),
    )
    wrong = rotation_slot(
        clinician="Dr Zed", role="x", days=["9"], start="25:00", end="", names=names
    )
    assert isinstance(wrong, dict)
    assert set(wrong) == {"clinician", "role", "days", "start", "end"}
    same = rotation_slot(
        clinician="Dr Ben", role="primary", days=["2"], start="08:00", end="08:00", names=names
    )
    assert not isinstance(same, dict) and (same.start, same.end) == (time(8), time(8))  # 24 h
    odd = rotation_slot(
        clinician="Dr Ben", role="primary", days=["²", "1"], start="08:00", end="09:00", names=names
    )
    assert odd == {"days": "Tick at least one weekday."}  # "²" is no weekday (nor a crash)


def test_dates_at_the_calendars_ends_are_a_message_not_a_crash() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    for text, zone in [("9999-12-31T23:59", NY), ("0001-01-01T00:00", berlin)]:
        assert parse_local(text, zone) == (
            "That date is too far in the past or future: check the year."
        )
    assert parse_local("0001-01-01T00:00", NY) == datetime(1, 1, 1, 4, 56, 2, tzinfo=UTC)  # LMT


def test_a_new_shift_or_a_moved_start_cannot_be_in_the_past() -> None:
    now = _ny(4, 12)
    ben = Clinician(id=BEN, clinic_id="north", telegram_user_id=2, name="Dr Ben")

    def check(start: datetime, stored: datetime | None = None) -> dict[str, str]:
        return check_shift(
            clinician=ben,
            role="primary",
            starts_at=start,
            ends_at=now + timedelta(hours=4),
            now=now,
            stored_start=stored,
        )

    assert set(check(now - timedelta(minutes=6))) == {"starts_at"}
    assert "cannot start in the past" in check(now - timedelta(hours=1))["starts_at"]
    assert check(now - timedelta(minutes=5)) == {}  # "now", typed a moment ago
    assert check(now) == {} and check(now + timedelta(hours=1)) == {}
    running = now - timedelta(hours=3)
    assert check(running, stored=running) == {}  # a running shift keeps its start
    assert set(check(now - timedelta(hours=2), stored=running)) == {"starts_at"}  # moved: no


def test_one_set_of_rules_for_every_scheduled_shift() -> None:
    """`shift_problems`: what the CLI's `oncall add` and the console's form both refuse."""
    now = _ny(4, 12)
    hour = timedelta(hours=1)

    def problems(start: datetime, end: datetime, role: str = "primary") -> list[ShiftProblem]:
        return shift_problems(role=role, starts_at=start, ends_at=end, now=now)

    assert problems(now, now + hour) == [] and problems(now, now + LONGEST_SHIFT) == []
    assert problems(now, now + hour, role="tertiary") == [ShiftProblem.ROLE]
    assert problems(now + hour, now + hour) == [ShiftProblem.ENDS_BEFORE_START]
    assert problems(now, now + LONGEST_SHIFT + hour) == [ShiftProblem.TOO_LONG]
    far = now + FURTHEST_AHEAD + hour
    assert problems(far, far + hour) == [ShiftProblem.TOO_FAR_AHEAD]
    naive = datetime(2026, 5, 4, 12)
    assert problems(naive, naive + hour) == [ShiftProblem.NO_OFFSET]
    # the console words each one beside its field
    ben = Clinician(id=BEN, clinic_id="north", telegram_user_id=2, name="Dr Ben", active=True)
    too_long = check_shift(
        clinician=ben, role="primary", starts_at=now, ends_at=now + timedelta(days=15), now=now
    )
    assert too_long == {"ends_at": "A shift can last at most 14 days."}

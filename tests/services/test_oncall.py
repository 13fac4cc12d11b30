"""The on-call roster: the pure rule, storage, the bot layer, the CLI and /oncall, /offcall."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlmodel import col
from telegram import Update

from bot.clinic_config import ClinicConfig, parse_clinics
from bot.domain.oncall import OnCall, Shift, Slot, on_call_at, rotation_shifts
from bot.services.clinic.team import members
from bot.services.oncall import (
    OnCallError,
    add_shift,
    go_off_call,
    roster,
    take_primary_now,
    who_is_on_call,
)
from handlers.auth import NOT_AUTHORISED
from sandbox import BotApiSandbox
from storage import oncall as store
from storage.clinics import ClinicRow, sync_clinics
from storage.crypto.keyring import open_database
from storage.engine import Database
from storage.invites import add_clinician
from storage.migrate import upgrade
from storage.models import AuditEvent, Clinician, OnCallShift
from tests.auxil.databases import TEST_DATA_KEY, IsolatedDatabase
from tests.auxil.harness import running_bot

NY = ZoneInfo("America/New_York")
T0 = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)  # Monday 10:00 in New York
ADA, BOB, CY = 1, 2, 3
WEEKDAYS = (1, 2, 3, 4, 5)


def _shift(
    who: int, start: datetime, hours: float, created: datetime, role: str = "primary"
) -> Shift:
    return Shift(who, role, start, start + timedelta(hours=hours), created)


# --- the pure rule -------------------------------------------------------------------------


def _primary_by(rotation: list[Slot]) -> Callable[[datetime], int | None]:
    def who(moment: datetime) -> int | None:
        return on_call_at(moment, shifts=[], rotation=rotation, zone=NY).primary

    return who


def test_nobody_on_call() -> None:
    assert on_call_at(T0, shifts=[], rotation=[], zone=NY) == OnCall(None, None)


def test_rotation_in_local_time() -> None:
    day = Slot(ADA, "primary", WEEKDAYS, time(8), time(20))
    assert on_call_at(T0, shifts=[], rotation=[day], zone=NY).primary == ADA
    # 08:00 EST is 13:00 UTC: 12:59 UTC is still night in New York.
    assert (
        on_call_at(T0.replace(hour=12, minute=59), shifts=[], rotation=[day], zone=NY).primary
        is None
    )
    assert on_call_at(T0.replace(hour=13), shifts=[], rotation=[day], zone=NY).primary == ADA
    saturday = T0 + timedelta(days=5)
    assert on_call_at(saturday, shifts=[], rotation=[day], zone=NY) == OnCall(None, None)


def test_command_shift_beats_rotation() -> None:
    day = Slot(ADA, "primary", WEEKDAYS, time(8), time(20))
    cover = _shift(BOB, T0 - timedelta(hours=1), 2, created=T0 - timedelta(days=3))
    assert on_call_at(T0, shifts=[cover], rotation=[day], zone=NY).primary == BOB
    # Once the shift has ended ([start, end)), the rotation applies again.
    assert on_call_at(cover.ends_at, shifts=[cover], rotation=[day], zone=NY).primary == ADA


def test_most_recently_created_shift_wins() -> None:
    older = _shift(ADA, T0 - timedelta(hours=5), 10, created=T0 - timedelta(days=2))
    newer = _shift(BOB, T0 - timedelta(hours=1), 2, created=T0 - timedelta(days=1))
    for shifts in ([older, newer], [newer, older]):
        assert on_call_at(T0, shifts=shifts, rotation=[], zone=NY).primary == BOB
    assert on_call_at(newer.ends_at, shifts=[older, newer], rotation=[], zone=NY).primary == ADA


def test_roles_are_independent() -> None:
    backup = _shift(CY, T0 - timedelta(hours=1), 2, created=T0, role="backup")
    day = Slot(ADA, "primary", WEEKDAYS, time(8), time(20))
    night_backup = Slot(BOB, "backup", WEEKDAYS, time(8), time(20))
    assert on_call_at(T0, shifts=[backup], rotation=[day, night_backup], zone=NY) == OnCall(ADA, CY)
    assert on_call_at(T0, shifts=[], rotation=[day, night_backup], zone=NY) == OnCall(ADA, BOB)


def test_overnight_slot_runs_into_the_next_day() -> None:
    friday_night = Slot(ADA, "primary", (5,), time(20), time(8))
    fri = datetime(2026, 11, 27, tzinfo=NY)

    def at(day: int, hour: int, minute: int) -> datetime:
        return (fri + timedelta(days=day)).replace(hour=hour, minute=minute)

    who = _primary_by([friday_night])
    assert who(at(0, 19, 59)) is None
    assert who(at(0, 20, 0)) == ADA
    assert who(at(1, 3, 0)) == ADA  # Saturday 03:00
    assert who(at(1, 7, 59)) == ADA
    assert who(at(1, 8, 0)) is None
    assert who(at(6, 23, 0)) is None  # Thursday night: the slot starts Fridays only


def test_slot_with_equal_start_and_end_lasts_a_day() -> None:
    whole = Slot(ADA, "primary", (1,), time(9), time(9))
    monday_9 = datetime(2026, 11, 23, 9, tzinfo=NY)
    assert (
        on_call_at(
            monday_9 + timedelta(hours=23, minutes=59), shifts=[], rotation=[whole], zone=NY
        ).primary
        == ADA
    )
    assert (
        on_call_at(monday_9 + timedelta(hours=24), shifts=[], rotation=[whole], zone=NY).primary
        is None
    )


def test_dst_spring_forward_night_is_an_hour_shorter() -> None:
    # US clocks go forward at 02:00 on Sunday 8 March 2026: Saturday 20:00 EST -> Sunday 08:00 EDT.
    night = Slot(ADA, "primary", (6,), time(20), time(8))
    who = _primary_by([night])
    assert who(datetime(2026, 3, 8, 1, 0, tzinfo=UTC)) == ADA  # 20:00 EST
    assert who(datetime(2026, 3, 8, 11, 59, tzinfo=UTC)) == ADA  # 07:59 EDT
    assert who(datetime(2026, 3, 8, 12, 0, tzinfo=UTC)) is None  # 08:00 EDT, not 08:00 EST
    [occurrence] = rotation_shifts(
        [night],
        start=datetime(2026, 3, 7, tzinfo=UTC),
        end=datetime(2026, 3, 9, tzinfo=UTC),
        zone=NY,
    )
    assert occurrence.ends_at - occurrence.starts_at == timedelta(hours=11)


def test_dst_fall_back_night_is_an_hour_longer() -> None:
    # Clocks go back at 02:00 on Sunday 1 November 2026: Saturday 20:00 EDT -> Sunday 08:00 EST.
    night = Slot(ADA, "primary", (6,), time(20), time(8))
    who = _primary_by([night])
    assert who(datetime(2026, 11, 1, 0, 0, tzinfo=UTC)) == ADA  # 20:00 EDT
    assert who(datetime(2026, 11, 1, 12, 30, tzinfo=UTC)) == ADA  # 07:30 EST
    assert who(datetime(2026, 11, 1, 13, 0, tzinfo=UTC)) is None  # 08:00 EST
    [occurrence] = rotation_shifts(
        [night],
        start=datetime(2026, 10, 31, tzinfo=UTC),
        end=datetime(2026, 11, 2, tzinfo=UTC),
        zone=NY,
    )
    assert occurrence.ends_at - occurrence.starts_at == timedelta(hours=13)


def test_primary_is_never_also_backup() -> None:
    day = Slot(ADA, "primary", WEEKDAYS, time(8), time(20))
    same = Slot(ADA, "backup", WEEKDAYS, time(0), time(0))
    assert on_call_at(T0, shifts=[], rotation=[day, same], zone=NY) == OnCall(ADA, None)
    backup_shift = _shift(ADA, T0 - timedelta(hours=1), 2, created=T0, role="backup")
    assert on_call_at(T0, shifts=[backup_shift], rotation=[day], zone=NY) == OnCall(ADA, None)


def test_naive_time_is_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        on_call_at(datetime(2026, 1, 1), shifts=[], rotation=[], zone=NY)


def test_rotation_shifts_for_a_week() -> None:
    day = Slot(ADA, "primary", WEEKDAYS, time(8), time(20))
    backup = Slot(BOB, "backup", (6, 7), time(0), time(0))
    found = rotation_shifts([day, backup], start=T0, end=T0 + timedelta(days=7), zone=NY)
    assert [s.clinician_id for s in found].count(ADA) == 6  # Mon (in progress) to next Mon
    assert [s.clinician_id for s in found].count(BOB) == 2
    assert found[0].starts_at == datetime(2026, 11, 23, 8, tzinfo=NY)
    assert all(s.starts_at < T0 + timedelta(days=7) and s.ends_at > T0 for s in found)


# --- properties ----------------------------------------------------------------------------

BASE = datetime(2026, 3, 1, tzinfo=UTC)  # spans the March DST change in New York
moments = st.integers(min_value=0, max_value=21 * 24 * 4).map(
    lambda q: BASE + timedelta(minutes=15 * q)
)
roles = st.sampled_from(["primary", "backup"])
ids = st.integers(min_value=1, max_value=5)
zones = st.sampled_from(
    [NY, ZoneInfo("Europe/London"), ZoneInfo("Australia/Lord_Howe"), ZoneInfo("UTC")]
)
shifts_st = st.builds(
    lambda who, role, start, quarters, created: Shift(
        who, role, start, start + timedelta(minutes=15 * quarters), created
    ),
    ids,
    roles,
    moments,
    st.integers(min_value=1, max_value=4 * 48),
    moments,
)
slots_st = st.builds(
    Slot,
    ids,
    roles,
    st.lists(st.integers(min_value=1, max_value=7), min_size=1, max_size=7, unique=True).map(tuple),
    st.builds(time, st.integers(0, 23), st.sampled_from([0, 30])),
    st.builds(time, st.integers(0, 23), st.sampled_from([0, 30])),
)


@settings(max_examples=300, deadline=None)
@given(
    at=moments,
    shifts=st.lists(shifts_st, max_size=6),
    rotation=st.lists(slots_st, max_size=4),
    zone=zones,
)
def test_result_is_always_a_covering_shift_or_slot(
    at: datetime, shifts: list[Shift], rotation: list[Slot], zone: ZoneInfo
) -> None:
    result = on_call_at(at, shifts=shifts, rotation=rotation, zone=zone)
    for role, chosen in (("primary", result.primary), ("backup", result.backup)):
        by_shift = {s.clinician_id for s in shifts if s.role == role and s.covers(at)}
        by_slot = {s.clinician_id for s in rotation if s.role == role and s.covers(at, zone)}
        if by_shift:
            assert chosen in by_shift or (role == "backup" and chosen is None)
        elif by_slot:
            assert chosen in by_slot or (role == "backup" and chosen is None)
        else:
            assert chosen is None
    assert result.backup is None or result.backup != result.primary


@settings(max_examples=200, deadline=None)
@given(at=moments, slot=slots_st, zone=zones)
def test_rotation_shifts_agree_with_coverage(at: datetime, slot: Slot, zone: ZoneInfo) -> None:
    window = rotation_shifts(
        [slot], start=at - timedelta(days=2), end=at + timedelta(days=2), zone=zone
    )
    assert slot.covers(at, zone) == any(s.covers(at) for s in window)


# --- storage and the bot layer, on both backends -------------------------------------------

ROSTER_TOML = """
[[clinics]]
id = "north"
name = "North Clinic"
timezone = "America/New_York"
contact_phone = "+1 555 0100"

[clinics.oncall]
bot_shift_hours = 12

[[clinics.oncall.rotation]]
clinician = "dr ada"
days = [1, 2, 3, 4, 5]
start = "08:00"
end = "20:00"

[[clinics.oncall.rotation]]
clinician = "Dr Nobody"
role = "backup"
days = [1, 2, 3, 4, 5]
start = "08:00"
end = "20:00"

[[clinics.oncall.rotation]]
clinician = "Dr Cy"
role = "backup"
days = [1, 2, 3, 4, 5, 6, 7]
start = "00:00"
end = "00:00"

[[clinics]]
id = "south"
name = "South Clinic"
timezone = "Europe/London"
contact_phone = "+44 1"
"""


def _clinic(clinic_id: str = "north") -> ClinicConfig:
    return parse_clinics(ROSTER_TOML, source="test.toml").clinic(clinic_id)


async def _seed(db: Database) -> dict[str, Clinician]:
    """Both clinics; Ada, Bob and Cy in north, an inactive Dee in north, Ada (2) in south."""
    people: dict[str, Clinician] = {}
    async with db.transaction() as session:
        rows = [
            ClinicRow(c.id, c.name, c.timezone, "") for c in (_clinic("north"), _clinic("south"))
        ]
        await sync_clinics(session, clinics=rows, now=T0)
        for key, clinic_id, name, active in (
            ("ada", "north", "Dr Ada", True),
            ("bob", "north", "Dr Bob", True),
            ("cy", "north", "Dr Cy", True),
            ("dee", "north", "Dr Dee", False),
            ("south_ada", "south", "Dr Ada", True),
        ):
            people[key] = await add_clinician(
                session,
                clinician=Clinician(
                    clinic_id=clinic_id,
                    name=name,
                    telegram_user_id=1000 + len(people),
                    chat_id=1000 + len(people),
                    active=active,
                    created_at=T0,
                ),
            )
    return people


def _id(clinician: Clinician) -> int:
    assert clinician.id is not None
    return clinician.id


async def test_storage_queries(db: Database) -> None:
    people = await _seed(db)
    ada, bob = _id(people["ada"]), _id(people["bob"])
    async with db.transaction() as session:
        for who, start, hours, source in (
            (ada, T0, 2, "command"),
            (bob, T0 + timedelta(hours=2), 2, "bot"),
            (ada, T0 - timedelta(hours=1), 5, "bot"),
        ):
            await store.add_shift(
                session,
                shift=OnCallShift(
                    clinic_id="north",
                    clinician_id=who,
                    starts_at=start,
                    ends_at=start + timedelta(hours=hours),
                    source=source,
                    created_at=T0,
                ),
            )
        covering = await store.shifts_covering(
            session, clinic_id="north", at=T0 + timedelta(hours=2)
        )
        assert {(s.clinician_id, s.source) for s in covering} == {(bob, "bot"), (ada, "bot")}
        assert await store.shifts_covering(session, clinic_id="south", at=T0) == []
        overlapping = await store.shifts_overlapping(
            session, clinic_id="north", start=T0 + timedelta(hours=3), end=T0 + timedelta(hours=9)
        )
        assert [(s.clinician_id, s.source) for s in overlapping] == [(ada, "bot"), (bob, "bot")]

        ended = await store.end_shifts(session, clinician_id=ada, now=T0 + timedelta(minutes=30))
        assert [s.source for s in ended] == ["bot"]
        assert ended[0].ends_at == T0 + timedelta(minutes=30)
        left = await store.shifts_covering(session, clinic_id="north", at=T0 + timedelta(hours=1))
        assert [(s.clinician_id, s.source) for s in left] == [(ada, "command")]

        found = await store.clinician_by_name(session, clinic_id="north", name="  DR ADA ")
        assert found is not None and found.id == ada
        assert await store.clinician_by_name(session, clinic_id="north", name="Dr Dee") is None
        south = await store.clinician_by_name(session, clinic_id="south", name="dr ada")
        assert south is not None and south.id == _id(people["south_ada"])
        assert await store.clinician_by_name(session, clinic_id="north", name="Dr Zed") is None


async def test_who_is_on_call_combines_rotation_and_shifts(
    db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    people = await _seed(db)
    clinic = _clinic()
    ada, bob, cy = _id(people["ada"]), _id(people["bob"]), _id(people["cy"])
    caplog.set_level(logging.WARNING, logger="bot.services.oncall")
    async with db.transaction() as session:
        # Monday 10:00 New York: Ada by rotation; Dr Nobody's slot skipped, Cy the all-day backup.
        assert await who_is_on_call(session, clinic=clinic, at=T0) == OnCall(ada, cy)
        assert "oncall.rotation_unknown" in caplog.text and "Dr Nobody" in caplog.text
        # Monday 22:00: no primary slot.
        night = T0 + timedelta(hours=12)
        assert await who_is_on_call(session, clinic=clinic, at=night) == OnCall(None, cy)

        shift, who = await add_shift(
            session,
            clinic=clinic,
            clinician_name="dr bob",
            starts_at=T0 - timedelta(hours=1),
            ends_at=T0 + timedelta(hours=13),
            now=T0 - timedelta(days=1),
            actor="cli",
        )
        assert who.id == bob and shift.source == "command" and shift.role == "primary"
        assert await who_is_on_call(session, clinic=clinic, at=T0) == OnCall(bob, cy)
        assert await who_is_on_call(session, clinic=clinic, at=night) == OnCall(bob, cy)

        # /oncall by Ada: newest shift wins; /offcall hands back to Bob's command shift.
        taken = await take_primary_now(session, clinic=clinic, clinician=people["ada"], now=T0)
        assert taken.ends_at == T0 + timedelta(hours=12) and taken.source == "bot"
        assert await who_is_on_call(session, clinic=clinic, at=T0 + timedelta(minutes=1)) == OnCall(
            ada, cy
        )
        later = T0 + timedelta(hours=1)
        assert await go_off_call(session, clinic=clinic, clinician=people["ada"], now=later)
        assert not await go_off_call(session, clinic=clinic, clinician=people["ada"], now=later)
        assert await who_is_on_call(session, clinic=clinic, at=later) == OnCall(bob, cy)

        # Cy as primary by command: the all-day backup slot would make Cy both, so no backup.
        await add_shift(
            session,
            clinic=clinic,
            clinician_name="Dr Cy",
            starts_at=later,
            ends_at=later + timedelta(hours=1),
            now=later,
            actor="cli",
        )
        assert await who_is_on_call(session, clinic=clinic, at=later) == OnCall(cy, None)

        events = (
            await session.scalars(select(col(AuditEvent.event)).order_by(col(AuditEvent.id)))
        ).all()
        assert list(events) == ["oncall.added", "oncall.taken", "oncall.ended", "oncall.added"]

        entries = await roster(session, clinic=clinic, start=T0, end=T0 + timedelta(days=1))
        sources = {(e.name, e.source) for e in entries}
        assert {
            ("Dr Bob", "command"),
            ("Dr Ada", "bot"),
            ("Dr Ada", "rotation"),
            ("Dr Cy", "rotation"),
        } <= sources


async def test_repeated_oncall_replaces_the_bot_shift(db: Database) -> None:
    people = await _seed(db)
    clinic = _clinic()
    async with db.transaction() as session:
        await take_primary_now(session, clinic=clinic, clinician=people["bob"], now=T0)
        await take_primary_now(
            session, clinic=clinic, clinician=people["bob"], now=T0 + timedelta(hours=1)
        )
        live = await store.shifts_covering(session, clinic_id="north", at=T0 + timedelta(hours=2))
        assert len(live) == 1 and live[0].starts_at == T0 + timedelta(hours=1)
        with pytest.raises(OnCallError):  # a clinician of another clinic
            await take_primary_now(session, clinic=clinic, clinician=people["south_ada"], now=T0)


@pytest.mark.parametrize(
    ("clinic_id", "name", "start", "end", "message"),
    [
        ("north", "Dr Ada", T0, T0, "must end after it starts"),
        ("north", "Dr Ada", T0 + timedelta(hours=1), T0, "must end after it starts"),
        ("north", "Dr Zed", T0, T0 + timedelta(hours=1), "no active clinician named 'Dr Zed'"),
        ("north", "Dr Dee", T0, T0 + timedelta(hours=1), "no active clinician named 'Dr Dee'"),
        ("south", "Dr Bob", T0, T0 + timedelta(hours=1), "no active clinician named 'Dr Bob'"),
        # the rules the console's form has too (one set, `bot.domain.oncall.shift_problems`)
        ("north", "Dr Ada", T0, T0 + timedelta(days=14, seconds=1), "at most 14 days"),
        ("north", "Dr Ada", T0 + timedelta(days=367), T0 + timedelta(days=368), "a year ahead"),
    ],
)
async def test_add_shift_refuses_bad_input(
    db: Database, clinic_id: str, name: str, start: datetime, end: datetime, message: str
) -> None:
    await _seed(db)
    with pytest.raises(OnCallError, match=message):
        async with db.transaction() as session:
            await add_shift(
                session,
                clinic=_clinic(clinic_id),
                clinician_name=name,
                starts_at=start,
                ends_at=end,
                now=T0,
                actor="cli",
            )
    async with db.transaction() as session:
        window = {"start": T0 - timedelta(days=1), "end": T0 + timedelta(days=1)}
        for clinic in ("north", "south"):
            assert await store.shifts_overlapping(session, clinic_id=clinic, **window) == []


# --- handlers without Telegram -------------------------------------------------------------


class _Message:
    def __init__(self) -> None:
        self.replies: list[str] = []

    async def reply_text(self, text: str) -> None:
        self.replies.append(text)


@pytest.mark.parametrize("command", ["oncall", "offcall"])
async def test_commands_refuse_non_clinicians(command: str) -> None:
    from handlers import oncall as handlers

    message = _Message()
    update = cast(Update, SimpleNamespace(effective_message=message))
    context = cast(Any, SimpleNamespace(identity=SimpleNamespace(clinicians=())))
    await getattr(handlers, command)(update, context)
    assert message.replies == [NOT_AUTHORISED]


# --- the CLI, as a subprocess --------------------------------------------------------------

AFTERCARE = (
    Path(sys.executable).parent / "aftercare"
)  # `oncall` is registered in bot/cli/commands.py


@pytest.fixture
async def cli_db(tmp_path: Path) -> Path:
    """A migrated SQLite file with the seeded clinics and clinicians; returns the config path."""
    config = tmp_path / "clinic.toml"
    config.write_text(ROSTER_TOML, encoding="utf-8")
    db = open_database(f"sqlite+aiosqlite:///{tmp_path}/a.db")
    try:
        await upgrade(db)
        await _seed(db)
    finally:
        await db.dispose()
    return config


@pytest.fixture
def oncall_cli(tmp_path: Path, cli_db: Path) -> Callable[..., subprocess.CompletedProcess[str]]:
    command = [str(AFTERCARE), "oncall"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("AFTERCARE_")}
    env["AFTERCARE_DATA_KEY"] = TEST_DATA_KEY
    env.update(
        AFTERCARE_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path}/a.db",
        AFTERCARE_CONFIG=str(cli_db),
        AFTERCARE_BOT_USERNAME="aftercare_test_bot",
    )

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*command, *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
        )

    return run


def _error_line(result: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in result.stderr, result.stderr
    errors = [ln for ln in result.stderr.splitlines() if ln.startswith("aftercare: error:")]
    assert len(errors) == 1, result.stderr
    return errors[0]


def test_cli_add_and_show(oncall_cli: Callable[..., subprocess.CompletedProcess[str]]) -> None:
    monday_10 = "2026-11-23T10:00-05:00"
    shown = oncall_cli("show", "--clinic", "north", "--at", monday_10)
    assert shown.returncode == 0, shown.stderr
    assert "at Mon 23 Nov 2026 10:00 EST" in shown.stdout
    assert "primary: Dr Ada" in shown.stdout and "backup:  Dr Cy" in shown.stdout
    assert (
        "Mon 23 Nov 2026 08:00 EST – Mon 23 Nov 2026 20:00 EST  primary  Dr Ada  (rotation)"
        in shown.stdout
    )

    added = oncall_cli(
        "add",
        "--clinic",
        "north",
        "--clinician",
        "dr bob",
        "--from",
        "2026-11-23T14:00:00+00:00",
        "--to",
        "2026-11-24T14:00:00+00:00",
    )
    assert added.returncode == 0, added.stderr
    assert (
        "Dr Bob is primary on-call for North Clinic from Mon 23 Nov 2026 09:00 EST" in added.stdout
    )
    backup = oncall_cli(
        "add",
        "--clinic",
        "north",
        "--clinician",
        "Dr Ada",
        "--backup",
        "--from",
        "2026-11-23T14:00:00+00:00",
        "--to",
        "2026-11-23T16:00:00+00:00",
    )
    assert backup.returncode == 0, backup.stderr and "backup" in backup.stdout

    shown = oncall_cli("show", "--clinic", "north", "--at", monday_10)
    assert "primary: Dr Bob" in shown.stdout and "backup:  Dr Ada" in shown.stdout
    assert "primary  Dr Bob  (command)" in shown.stdout

    quiet = oncall_cli("show", "--clinic", "south", "--at", monday_10)
    assert quiet.returncode == 0, quiet.stderr
    assert "primary: nobody" in quiet.stdout and "backup:  nobody" in quiet.stdout
    assert "NOBODY IS ON CALL" in quiet.stdout and "(none)" in quiet.stdout


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            [
                "add",
                "--clinic",
                "west",
                "--clinician",
                "Dr Ada",
                "--from",
                "2026-11-23T10:00",
                "--to",
                "2026-11-23T11:00",
            ],
            "no clinic 'west'",
        ),
        (
            [
                "add",
                "--clinic",
                "north",
                "--clinician",
                "Dr Zed",
                "--from",
                "2026-11-23T10:00",
                "--to",
                "2026-11-23T11:00",
            ],
            "no active clinician named 'Dr Zed'",
        ),
        (
            [
                "add",
                "--clinic",
                "north",
                "--clinician",
                "Dr Ada",
                "--from",
                "2026-11-23T11:00",
                "--to",
                "2026-11-23T10:00",
            ],
            "must end after it starts",
        ),
        (
            [
                "add",
                "--clinic",
                "north",
                "--clinician",
                "Dr Ada",
                "--from",
                "tomorrow",
                "--to",
                "2026-11-23T10:00",
            ],
            "not an ISO-8601 time: 'tomorrow'",
        ),
        (["show", "--clinic", "west"], "no clinic 'west'"),
        (["show", "--clinic", "north", "--at", "noonish"], "not an ISO-8601 time"),
    ],
)
def test_cli_bad_input_is_one_line_exit_2(
    oncall_cli: Callable[..., subprocess.CompletedProcess[str]], args: list[str], expected: str
) -> None:
    result = oncall_cli(*args)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert expected in _error_line(result)


def test_cli_help_lists_oncall_commands() -> None:
    result = subprocess.run(
        [str(AFTERCARE), "oncall", "--help"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert "add" in result.stdout and "show" in result.stdout


# --- end to end through the sandbox --------------------------------------------------------
# Needs CommandHandler("oncall"/"offcall") in the MEMBERS group of handlers/__init__.py, before
# the MessageHandler(filters.COMMAND, common.unknown_command) catch-all (wired by the lead).

CLINICIAN = 7301


async def test_oncall_and_offcall_in_the_bot(
    sandbox: BotApiSandbox, test_db: IsolatedDatabase
) -> None:
    from tests.auxil.journey import join_clinician

    async with running_bot(sandbox, test_db) as bot:
        await join_clinician(bot, CLINICIAN, "Dr Ada")
        clinic = bot.ctx.clinics.clinics[0]
        sandbox.send_text(CLINICIAN, "/oncall")
        reply = await sandbox.wait_for_message(
            CLINICIAN, "You're the primary on-call for North Clinic until"
        )
        assert reply["text"].endswith("(or /offcall).")
        async with bot.ctx.db.transaction() as session:
            ada = await store.clinician_by_name(session, clinic_id=clinic.id, name="Dr Ada")
            assert ada is not None
            now = bot.ctx.clock.now()
            assert await who_is_on_call(session, clinic=clinic, at=now) == OnCall(ada.id, None)
            [shift] = await store.shifts_covering(session, clinic_id=clinic.id, at=now)
        assert shift.ends_at - shift.starts_at == timedelta(hours=clinic.oncall.bot_shift_hours)
        local_end = f"{shift.ends_at.astimezone(clinic.zone):%H:%M}"
        assert local_end in reply["text"]

        sandbox.send_text(CLINICIAN, "/offcall")
        off = await sandbox.wait_for_message(CLINICIAN, "You're off call for North Clinic")
        assert "Nobody is primary on-call for North Clinic now." in off["text"]
        async with bot.ctx.db.transaction() as session:
            now = bot.ctx.clock.now()
            assert await who_is_on_call(session, clinic=clinic, at=now) == OnCall(None, None)

        sandbox.send_text(CLINICIAN, "/offcall")
        await sandbox.wait_for_message(CLINICIAN, "You had no /oncall shift to end")


async def test_the_team_says_who_is_the_last_admin(db: Database) -> None:
    """The console's team page only reads `Member.last_admin` (it disables "Make clinician")."""
    people = await _seed(db)
    async with db.transaction() as session:
        ada = await session.get(Clinician, _id(people["ada"]))
        assert ada is not None
        ada.is_admin = True
    async with db.transaction() as session:
        team = await members(session, clinic=_clinic("north"), now=T0)
        assert {m.clinician.name: m.last_admin for m in team} == {
            "Dr Ada": True,
            "Dr Bob": False,
            "Dr Cy": False,
            "Dr Dee": False,
        }
        bob = await session.get(Clinician, _id(people["bob"]))
        assert bob is not None
        bob.is_admin = True
    async with db.transaction() as session:
        assert not any(
            m.last_admin for m in await members(session, clinic=_clinic("north"), now=T0)
        )

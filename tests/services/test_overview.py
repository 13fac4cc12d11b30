"""The console's patient list (`bot.services.overview`): what each row says, that it shows
one clinic only, how it sorts and filters, and that it stays one query. Both backends."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event

from bot.services.overview import (
    LastCheckin,
    OpenCase,
    PatientRow,
    filter_rows,
    patient_rows,
    sort_rows,
)
from storage.clinics import ClinicRow, sync_clinics
from storage.engine import Database
from storage.models import Answer, Case, Checkin, Patient
from storage.states import (
    CaseStatus,
    CaseTrigger,
    CheckinKind,
    CheckinStatus,
    Level,
    PatientStatus,
)

NOW = datetime(2026, 6, 3, 15, 0, tzinfo=UTC)
DAY = timedelta(days=1)


def _patient(
    ref: str, status: PatientStatus = PatientStatus.ACTIVE, clinic: str = "north"
) -> Patient:
    return Patient(
        clinic_id=clinic,
        ref=ref,
        timezone="Europe/Berlin",
        baseline_mood=6,
        status=status,
        created_at=NOW - 30 * DAY,
    )


def _checkin(
    patient: Patient, status: CheckinStatus, *, due: datetime, sent: bool = True
) -> Checkin:
    assert patient.id is not None
    return Checkin(
        patient_id=patient.id,
        kind=CheckinKind.DAILY,
        day=1,
        nominal_at=due,
        due_at=due,
        status=status,
        sent_at=due + timedelta(minutes=1) if sent else None,
        risk_level=Level.LOW if status == CheckinStatus.ABANDONED else Level.NONE,
        created_at=due,
    )


def _answer(
    patient: Patient, checkin: Checkin | None, item: str, value: str, at: datetime
) -> Answer:
    assert patient.id is not None
    return Answer(
        patient_id=patient.id,
        checkin_id=checkin.id if checkin else None,
        item_id=item,
        value=value,
        instrument_id="aftercare-checkin",
        instrument_version="1",
        answered_at=at,
    )


def _case(patient: Patient, level: Level, status: CaseStatus, opened: datetime) -> Case:
    assert patient.id is not None
    return Case(
        clinic_id=patient.clinic_id,
        patient_id=patient.id,
        level=level,
        trigger=CaseTrigger.CHECKIN,
        reason="C-SSRS item 2 = Yes",
        status=status,
        opened_at=opened,
        ladder_started_at=opened,
    )


async def _world(db: Database) -> None:
    """North: P-1 with a known history, P-2 stopped, P-3 invited, P-4 unreachable with a taken
    high case. South, another clinic: its own P-1 and S-1, with an open high case."""
    async with db.transaction() as session:
        await sync_clinics(
            session,
            clinics=[
                ClinicRow("north", "North", "UTC", "x"),
                ClinicRow("south", "South", "UTC", "x"),
            ],
            now=NOW,
        )
        p1, p2, p3 = (
            _patient("P-1"),
            _patient("P-2", PatientStatus.OPTED_OUT),
            _patient("P-3", PatientStatus.INVITED),
        )
        p4 = _patient("P-4", PatientStatus.UNREACHABLE)
        s1, s2 = _patient("P-1", clinic="south"), _patient("S-1", clinic="south")
        session.add_all([p1, p2, p3, p4, s1, s2])
        await session.flush()
        old = _checkin(p1, CheckinStatus.COMPLETED, due=NOW - 20 * DAY)  # before the window
        done = _checkin(p1, CheckinStatus.COMPLETED, due=NOW - 10 * DAY)
        missed = _checkin(p1, CheckinStatus.MISSED, due=NOW - 5 * DAY)
        part = _checkin(p1, CheckinStatus.ABANDONED, due=NOW - 3 * DAY)
        # Still marked sent, but an answer arrived: an answer counts whatever the status says.
        answered_sent = _checkin(p1, CheckinStatus.SENT, due=NOW - 2 * DAY)
        open_now = _checkin(p1, CheckinStatus.IN_PROGRESS, due=NOW - timedelta(hours=1))
        overdue = _checkin(p1, CheckinStatus.SCHEDULED, due=NOW - timedelta(minutes=5), sent=False)
        dropped = _checkin(p1, CheckinStatus.CANCELLED, due=NOW + timedelta(hours=1), sent=False)
        soon = _checkin(p1, CheckinStatus.SCHEDULED, due=NOW + timedelta(hours=2), sent=False)
        later = _checkin(p1, CheckinStatus.SCHEDULED, due=NOW + DAY, sent=False)
        south = _checkin(s1, CheckinStatus.COMPLETED, due=NOW - DAY)
        south_soon = _checkin(
            s1, CheckinStatus.SCHEDULED, due=NOW + timedelta(minutes=30), sent=False
        )
        session.add_all([old, done, missed, part, answered_sent, open_now, overdue, dropped])
        session.add_all([soon, later, south, south_soon])
        await session.flush()
        session.add_all(
            [
                _answer(p1, done, "mood", "4", NOW - 10 * DAY),
                _answer(p1, part, "mood", "7", NOW - 3 * DAY),
                _answer(p1, answered_sent, "s1", "no", NOW - 2 * DAY),
                _answer(p1, open_now, "s1", "no", NOW - timedelta(minutes=50)),
                _answer(p1, None, "message", "a note, not a mood", NOW - DAY),
                _answer(s1, south, "mood", "1", NOW - DAY),
                _case(p1, Level.HIGH, CaseStatus.RESOLVED, NOW - 9 * DAY),
                _case(p1, Level.MODERATE, CaseStatus.OPEN, NOW - 3 * DAY),
                _case(p4, Level.HIGH, CaseStatus.ACKNOWLEDGED, NOW - DAY),
                _case(s1, Level.HIGH, CaseStatus.OPEN, NOW - DAY),
            ]
        )


async def _rows(db: Database, clinic_id: str = "north", **kwargs: Any) -> dict[str, PatientRow]:
    async with db.transaction() as session:
        rows = await patient_rows(session, clinic_id=clinic_id, now=NOW, **kwargs)
    return {row.ref: row for row in rows}


async def test_only_the_clinics_own_patients_ordered_by_ref(db: Database) -> None:
    await _world(db)
    async with db.transaction() as session:
        north = await patient_rows(session, clinic_id="north", now=NOW)
        south = await patient_rows(session, clinic_id="south", now=NOW)
        nobody = await patient_rows(session, clinic_id="west", now=NOW)
    assert [row.ref for row in north] == ["P-1", "P-2", "P-3", "P-4"]
    assert [row.ref for row in south] == ["P-1", "S-1"]
    assert not {row.patient_id for row in north} & {row.patient_id for row in south}
    assert nobody == []
    # South's P-1 has its own history, none of north's P-1.
    assert south[0].last_mood == 1 and south[0].open_case is not None
    assert south[0].open_case.level == Level.HIGH and south[0].sent == 1


async def test_adherence_counts_answered_of_sent_in_the_window(db: Database) -> None:
    await _world(db)
    p1 = (await _rows(db))["P-1"]
    # Sent in 14 days: done, missed, part, answered_sent, open_now; all but missed answered.
    assert (p1.sent, p1.answered) == (5, 4)
    assert p1.adherence == pytest.approx(0.8)
    wide = (await _rows(db, days=30))["P-1"]
    assert (wide.sent, wide.answered) == (6, 5)
    narrow = (await _rows(db, days=1))["P-1"]
    assert (narrow.sent, narrow.answered) == (1, 1)
    nothing = (await _rows(db))["P-2"]
    assert (nothing.sent, nothing.answered, nothing.adherence) == (0, 0, None)


async def test_last_checkin_last_mood_next_planned_and_baseline(db: Database) -> None:
    await _world(db)
    rows = await _rows(db)
    p1 = rows["P-1"]
    assert p1.last_checkin is not None
    assert p1.last_checkin.sent_at == NOW - timedelta(minutes=59)
    assert p1.last_checkin.status == CheckinStatus.IN_PROGRESS
    assert p1.last_checkin.sent_at.tzinfo is not None
    assert (p1.last_mood, p1.last_mood_at) == (7, NOW - 3 * DAY)
    assert p1.baseline_mood == 6 and p1.timezone == "Europe/Berlin"
    # Not the overdue one, not the cancelled one: the earliest still planned after now.
    assert p1.next_planned_at == NOW + timedelta(hours=2)
    p3 = rows["P-3"]
    assert (p3.last_checkin, p3.last_mood, p3.last_mood_at, p3.next_planned_at) == (None,) * 4


async def test_open_case_and_status_labels(db: Database) -> None:
    await _world(db)
    rows = await _rows(db)
    p1_case = rows["P-1"].open_case
    assert p1_case is not None and p1_case.level == Level.MODERATE  # the resolved high is past
    assert p1_case.status == CaseStatus.OPEN
    p4_case = rows["P-4"].open_case
    assert p4_case is not None and p4_case.status == CaseStatus.ACKNOWLEDGED
    assert rows["P-2"].open_case is None
    assert {ref: row.status_label for ref, row in rows.items()} == {
        "P-1": "active",
        "P-2": "stopped",
        "P-3": "invited",
        "P-4": "unreachable",
    }
    assert rows["P-2"].status == PatientStatus.OPTED_OUT


@contextmanager
def _counting(db: Database) -> Iterator[list[str]]:
    statements: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    event.listen(db.engine.sync_engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", count)


async def _add_patients(db: Database, start: int, count: int) -> None:
    """Patients of clinic east, each with three answered check-ins, a plan and an open case."""
    async with db.transaction() as session:
        await sync_clinics(session, clinics=[ClinicRow("east", "East", "UTC", "x")], now=NOW)
        patients = [_patient(f"E-{n:03d}", clinic="east") for n in range(start, start + count)]
        session.add_all(patients)
        await session.flush()
        for patient in patients:
            done = [
                _checkin(patient, CheckinStatus.COMPLETED, due=NOW - n * DAY) for n in range(1, 4)
            ]
            planned = _checkin(patient, CheckinStatus.SCHEDULED, due=NOW + DAY, sent=False)
            session.add_all([*done, planned])
            await session.flush()
            session.add_all(_answer(patient, c, "mood", "5", c.due_at) for c in done)
            session.add(_case(patient, Level.LOW, CaseStatus.OPEN, NOW - DAY))


async def _queries_for_rows(db: Database, expected: int) -> int:
    async with db.transaction() as session:
        await session.connection()  # BEGIN outside the count
        with _counting(db) as statements:
            rows = await patient_rows(session, clinic_id="east", now=NOW)
    assert len(rows) == expected
    assert all(r.open_case and r.sent == r.answered == 3 and r.next_planned_at for r in rows)
    return len(statements)


async def test_the_query_count_does_not_grow_with_patients(db: Database) -> None:
    await _world(db)
    await _add_patients(db, 0, 5)
    few = await _queries_for_rows(db, 5)
    await _add_patients(db, 5, 45)
    many = await _queries_for_rows(db, 50)
    assert few == many == 7  # see storage.views.overview; the seventh: "no safety plan"


def _row(
    ref: str, *, level: Level | None = None, sent: int = 0, answered: int = 0, **fields: Any
) -> PatientRow:
    values: dict[str, Any] = {
        "patient_id": int(ref[2:]),
        "ref": ref,
        "status": PatientStatus.ACTIVE,
        "status_label": "active",
        "timezone": "UTC",
        "baseline_mood": None,
        "last_checkin": None,
        "last_mood": None,
        "last_mood_at": None,
        "open_case": OpenCase(int(ref[2:]), level, CaseStatus.OPEN) if level else None,
        "sent": sent,
        "answered": answered,
        "next_planned_at": None,
    }
    return PatientRow(**{**values, **fields})


def _sent(hours_ago: int) -> LastCheckin:
    return LastCheckin(1, NOW - timedelta(hours=hours_ago), CheckinStatus.COMPLETED, Level.NONE)


ROWS = [
    _row("P-1", sent=4, answered=4, last_mood=8, last_checkin=_sent(30)),
    _row("P-2", level=Level.MODERATE, sent=4, answered=1, last_mood=2, last_checkin=_sent(2)),
    _row("P-3", level=Level.HIGH, sent=4, answered=3, last_mood=5),
    _row("P-4", level=Level.MODERATE, sent=4, answered=3, last_checkin=_sent(5)),
    _row("P-5", level=Level.HIGH, status=PatientStatus.OPTED_OUT, status_label="stopped"),
    _row("P-6", level=Level.LOW, sent=2, answered=0, status=PatientStatus.UNREACHABLE),
]


@pytest.mark.parametrize(
    ("key", "order"),
    [
        # Highest open level first, then the least adherent (nothing sent: after any number).
        ("risk", ["P-3", "P-5", "P-2", "P-4", "P-6", "P-1"]),
        ("ref", ["P-1", "P-2", "P-3", "P-4", "P-5", "P-6"]),
        ("last_checkin", ["P-2", "P-4", "P-1", "P-3", "P-5", "P-6"]),
        ("adherence", ["P-6", "P-2", "P-3", "P-4", "P-1", "P-5"]),
        ("mood", ["P-2", "P-3", "P-1", "P-4", "P-5", "P-6"]),
    ],
)
def test_sort_rows(key: str, order: list[str]) -> None:
    assert [row.ref for row in sort_rows(reversed(ROWS), key)] == order


def test_sort_rows_refuses_an_unknown_key() -> None:
    with pytest.raises(ValueError, match="unknown sort key"):
        sort_rows(ROWS, "name")


@pytest.mark.parametrize(
    ("risk", "status", "refs"),
    [
        (None, None, ["P-1", "P-2", "P-3", "P-4", "P-5", "P-6"]),
        ("open", None, ["P-2", "P-3", "P-4", "P-5", "P-6"]),
        ("low", None, ["P-2", "P-3", "P-4", "P-5", "P-6"]),
        ("moderate", None, ["P-2", "P-3", "P-4", "P-5"]),
        ("high", None, ["P-3", "P-5"]),
        (None, "active", ["P-1", "P-2", "P-3", "P-4"]),
        (None, "stopped", ["P-5"]),
        (None, "opted_out", ["P-5"]),
        ("high", "active", ["P-3"]),
        ("open", "unreachable", ["P-6"]),
        (None, "invited", []),
    ],
)
def test_filter_rows(risk: str | None, status: str | None, refs: list[str]) -> None:
    assert [row.ref for row in filter_rows(ROWS, risk=risk, status=status)] == refs


@pytest.mark.parametrize(("risk", "status"), [("none", None), ("urgent", None), (None, "gone")])
def test_filter_rows_refuses_unknown_values(risk: str | None, status: str | None) -> None:
    with pytest.raises(ValueError, match="unknown"):
        filter_rows(ROWS, risk=risk, status=status)

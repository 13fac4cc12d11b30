"""Storage on both backends: migrations, UTC round trips, claims, start-up checks."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import select, text

from storage.cases import claim_due_cases
from storage.checkins import claim_closing, claim_due, claim_reminders
from storage.clinics import ClinicRow, sync_clinics
from storage.engine import Database, DatabaseUnavailable, WriteInReader
from storage.migrate import current_revision, head_revision, upgrade
from storage.models import Case, Checkin, Clinic, Patient
from storage.states import CaseTrigger, CheckinStatus, Level
from tests.auxil.databases import IsolatedDatabase

NOW = datetime(2026, 11, 26, 15, 0, tzinfo=UTC)


async def test_upgrade_reaches_head_and_is_idempotent(db: Database) -> None:
    assert await current_revision(db) == head_revision()
    assert await upgrade(db) == head_revision()


async def test_timestamps_come_back_aware_utc(db: Database) -> None:
    plus_five = timezone(timedelta(hours=5))
    async with db.transaction() as session:
        await sync_clinics(session, clinics=[ClinicRow("north", "North", "UTC", "fp")], now=NOW)
        session.add(
            Patient(
                clinic_id="north",
                ref="P-1",
                timezone="UTC",
                created_at=datetime(2026, 11, 26, 20, 0, tzinfo=plus_five),
            )
        )
    async with db.transaction() as session:
        patient = (await session.scalars(select(Patient))).one()
    assert patient.created_at == NOW
    assert patient.created_at.tzinfo is not None and patient.created_at.utcoffset() == timedelta(0)


async def test_naive_timestamps_are_refused(db: Database) -> None:
    with pytest.raises(Exception, match="naive datetime"):
        async with db.transaction() as session:
            session.add(Clinic(id="x", name="X", timezone="UTC", updated_at=datetime(2026, 1, 1)))


async def _patient_with_checkins(db: Database, due: list[timedelta]) -> list[int]:
    """A patient and one scheduled check-in per offset from NOW; their ids in that order."""
    async with db.transaction() as session:
        await sync_clinics(session, clinics=[ClinicRow("north", "North", "UTC", "fp")], now=NOW)
        patient = Patient(clinic_id="north", ref="P-1", timezone="UTC", created_at=NOW)
        session.add(patient)
        await session.flush()
        assert patient.id is not None
        rows = [
            Checkin(
                patient_id=patient.id,
                kind="daily",
                nominal_at=NOW + offset,
                due_at=NOW + offset,
                created_at=NOW,
            )
            for offset in due
        ]
        session.add_all(rows)
        await session.flush()
        return [row.id for row in rows if row.id is not None]


async def test_claim_due_takes_due_lease_free_rows_oldest_first(db: Database) -> None:
    later, oldest, middle, future = await _patient_with_checkins(
        db, [timedelta(minutes=-1), timedelta(minutes=-30), timedelta(minutes=-10), timedelta(1)]
    )
    until = NOW + timedelta(seconds=60)
    async with db.transaction() as session:
        held = await session.get(Checkin, middle)  # already in this session's identity map
        assert held is not None and held.lease_owner is None
        first = await claim_due(session, now=NOW, owner="a", lease_until=until, limit=2)
        assert [row.id for row in first] == [oldest, middle]
        assert first[1] is held  # the object the session held now shows the lease
        assert all(row.lease_owner == "a" and row.lease_until == until for row in first)
    async with db.transaction() as session:
        # Leased rows are skipped; the future one is not due; the limit still applies.
        second = await claim_due(session, now=NOW, owner="b", lease_until=until, limit=10)
        assert [row.id for row in second] == [later]
        assert await claim_due(session, now=NOW, owner="c", lease_until=until, limit=10) == []
    async with db.transaction() as session:
        stored = {
            row.id: (row.lease_owner, row.lease_until)
            for row in (await session.scalars(select(Checkin))).all()
        }
    assert stored == {
        oldest: ("a", until),
        middle: ("a", until),
        later: ("b", until),
        future: (None, None),
    }
    async with db.transaction() as session:
        # Once the leases expire the rows can be claimed again (an instance died).
        after = until + timedelta(seconds=1)
        again = await claim_due(session, now=after, owner="d", lease_until=after, limit=10)
        assert [row.id for row in again] == [oldest, middle, later]


async def test_reminder_and_closing_claims_take_only_open_check_ins(db: Database) -> None:
    sent, scheduled = await _patient_with_checkins(db, [timedelta(hours=-2), timedelta(hours=-2)])
    async with db.transaction() as session:
        row = await session.get(Checkin, sent)
        assert row is not None
        row.status = CheckinStatus.SENT
        row.reminder_due_at = NOW - timedelta(minutes=1)
        row.closes_at = NOW - timedelta(seconds=1)
    until = NOW + timedelta(seconds=60)
    async with db.transaction() as session:
        reminders = await claim_reminders(session, now=NOW, owner="a", lease_until=until, limit=5)
        assert [r.id for r in reminders] == [sent]
    async with db.transaction() as session:
        assert await claim_closing(session, now=NOW, owner="b", lease_until=until, limit=5) == []
        later = until + timedelta(seconds=1)
        closing = await claim_closing(session, now=later, owner="b", lease_until=later, limit=5)
        assert [r.id for r in closing] == [sent]
        due = await claim_due(session, now=later, owner="b", lease_until=later, limit=5)
        assert [r.id for r in due] == [scheduled]


async def test_claim_of_one_case_leaves_the_others(db: Database) -> None:
    await _patient_with_checkins(db, [])
    async with db.transaction() as session:
        patient = (await session.scalars(select(Patient))).one()
        assert patient.id is not None
        cases = [
            Case(
                clinic_id="north",
                patient_id=patient.id,
                level=Level.HIGH,
                trigger=CaseTrigger.CHECKIN,
                reason="test",
                opened_at=NOW,
                ladder_started_at=NOW,
                next_step_at=NOW - timedelta(minutes=minutes),
            )
            for minutes in (1, 2)
        ]
        session.add_all(cases)
        await session.flush()
        newer, older = (case.id for case in cases)
    until = NOW + timedelta(seconds=30)
    async with db.transaction() as session:
        one = await claim_due_cases(
            session, now=NOW, owner="a", lease_until=until, limit=5, only_id=newer
        )
        assert [case.id for case in one] == [newer]
        rest = await claim_due_cases(session, now=NOW, owner="b", lease_until=until, limit=5)
        assert [(case.id, case.lease_owner) for case in rest] == [(older, "b")]


async def test_failed_transaction_rolls_back(db: Database) -> None:
    with pytest.raises(RuntimeError):
        async with db.transaction() as session:
            await sync_clinics(session, clinics=[ClinicRow("north", "North", "UTC", "fp")], now=NOW)
            raise RuntimeError("boom")
    async with db.transaction() as session:
        assert (await session.scalars(select(Clinic))).all() == []


async def test_a_reader_runs_beside_a_writer_and_cannot_write(db: Database) -> None:
    """`read()` sees what was committed, not a writer's uncommitted rows, and does not wait for
    this process's writer; a write in it is a bug (`WriteInReader`: SQLite's `query_only`,
    PostgreSQL's READ ONLY), and the same pooled connection writes again in the next
    transaction."""
    async with db.transaction() as session:
        await sync_clinics(session, clinics=[ClinicRow("a", "A", "UTC", "fp")], now=NOW)
    async with db.transaction() as writer:  # the process's writer holds the lock meanwhile
        await sync_clinics(
            writer,
            clinics=[ClinicRow("a", "A", "UTC", "fp"), ClinicRow("b", "B", "UTC", "fp")],
            now=NOW,
        )
        async with asyncio.timeout(2), db.read() as reader:  # a writer would wait 10 s here
            names = (await reader.scalars(select(Clinic.id).order_by(Clinic.id))).all()
        assert names == ["a"]
    with pytest.raises(WriteInReader):
        async with db.read() as reader:
            await reader.execute(text("DELETE FROM clinic"))
    for _ in range(6):  # every pooled connection: a writer after a reader can write
        async with db.transaction() as session:
            await session.execute(text("UPDATE clinic SET name = name"))
        async with db.read() as reader:
            assert len((await reader.scalars(select(Clinic))).all()) == 2


async def test_sync_clinics_reports_plan_changes(db: Database) -> None:
    async with db.transaction() as session:
        first = [ClinicRow("a", "A", "UTC", "fp"), ClinicRow("b", "B", "UTC", "fp")]
        assert await sync_clinics(session, clinics=first, now=NOW) == []
    async with db.transaction() as session:
        changed = await sync_clinics(
            session,
            clinics=[ClinicRow("a", "A", "UTC", "fp2"), ClinicRow("b", "B2", "Europe/Paris", "fp")],
            now=NOW,
        )
        assert changed == ["a"]  # only a plan change asks for re-planning
        row = await session.get(Clinic, "b")
        assert row is not None and (row.name, row.timezone) == ("B2", "Europe/Paris")


async def test_sqlite_pragmas(db: Database) -> None:
    if db.dialect != "sqlite":
        pytest.skip("SQLite only")
    async with db.engine.connect() as conn:
        assert (await conn.execute(text("PRAGMA journal_mode"))).scalar() == "wal"
        assert (await conn.execute(text("PRAGMA foreign_keys"))).scalar() == 1
        assert (await conn.execute(text("PRAGMA busy_timeout"))).scalar() == 10_000


async def test_postgres_leaves_room_for_in_place_updates(db: Database) -> None:
    """Migration 0002: leases and sends update check-ins and cases in place (HOT)."""
    if db.dialect != "postgresql":
        pytest.skip("PostgreSQL only (SQLite has no fillfactor)")
    query = text(
        "SELECT relname, reloptions FROM pg_class "
        "WHERE relname IN ('checkin', 'escalation', 'answer') AND relkind = 'r'"
    )
    async with db.engine.connect() as conn:
        rows = (await conn.execute(query)).all()
    options = {name: reloptions for name, reloptions in rows}
    assert options == {
        "checkin": ["fillfactor=80"],
        "escalation": ["fillfactor=80"],
        "answer": None,
    }


async def test_schema_newer_than_code_is_refused(db: Database) -> None:
    async with db.transaction() as session:
        await session.execute(text("UPDATE alembic_version SET version_num = 'ffff_future'"))
    with pytest.raises(DatabaseUnavailable, match="newer than this Aftercare"):
        await upgrade(db)


async def test_unreachable_database_is_one_clear_error(test_db: IsolatedDatabase) -> None:
    if test_db.url.startswith("sqlite"):
        bad = Database("sqlite+aiosqlite:////nonexistent-dir/x/aftercare.db")
    else:
        bad = Database("postgresql+asyncpg://postgres@127.0.0.1:1/test")
    with pytest.raises(DatabaseUnavailable, match="cannot be reached") as caught:
        await upgrade(bad)
    assert "\n" not in str(caught.value)
    await bad.dispose()


def test_unsupported_url_is_refused() -> None:
    with pytest.raises(DatabaseUnavailable, match="unsupported database URL"):
        Database("mysql+aiomysql://x/y")

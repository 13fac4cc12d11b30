"""The hash-chained audit log: verification on both backends, and the `audit` CLI."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import event, func, select, text

from storage import audit
from storage.engine import Database
from storage.models import AuditEvent
from tests.auxil.cli import MINIMAL_CLINIC, cli_env
from tests.auxil.outage import until_someone_waits

NOW = datetime(2026, 11, 26, 15, 0, 0, 123456, tzinfo=UTC)
PYTHON = Path(sys.executable).parent / "python"
AFTERCARE = Path(sys.executable).parent / "aftercare"


async def _fill(db: Database, count: int) -> None:
    """`count` events; every third one for patient 7, the rest for patient 8 or none."""
    async with db.transaction() as session:
        for i in range(count):
            await audit.append(
                session,
                at=NOW + timedelta(seconds=i, microseconds=i),
                actor="cli",
                event="thing.happened",
                clinic_id="north",
                patient_id=7 if i % 3 == 0 else (8 if i % 3 == 1 else None),
                detail={"i": i, "note": "café ✓"},
            )


async def _verify_both(db: Database, *, batch_size: int = 3) -> audit.VerifyResult:
    """verify() in one transaction and verify_database() per batch must agree."""
    async with db.transaction() as session:
        single = await audit.verify(session, batch_size=batch_size)
    batched = await audit.verify_database(db, batch_size=batch_size)
    assert single == batched
    return single


async def _sql(db: Database, statement: str) -> None:
    async with db.transaction() as session:
        await session.execute(text(statement))


async def test_empty_log_is_intact(db: Database) -> None:
    assert await _verify_both(db) == audit.VerifyResult(ok=True, checked=0)


@pytest.mark.parametrize("batch_size", [1, 3, 5_000])
async def test_appends_form_a_valid_chain(db: Database, batch_size: int) -> None:
    await _fill(db, 10)
    async with db.transaction() as session:
        count = await session.scalar(select(func.count()).select_from(AuditEvent))
    result = await _verify_both(db, batch_size=batch_size)
    assert result == audit.VerifyResult(ok=True, checked=10, first_bad_id=None, problem=None)
    assert result.checked == count


async def test_edited_row_is_caught(db: Database) -> None:
    await _fill(db, 10)
    await _sql(db, """UPDATE audit_event SET detail = '{"i": 99}' WHERE id = 6""")
    result = await _verify_both(db)
    assert not result.ok
    assert result.first_bad_id == 6
    assert result.problem is not None and "row 6 was altered" in result.problem
    assert result.checked == 6


async def test_edited_timestamp_is_caught(db: Database) -> None:
    await _fill(db, 4)
    async with db.transaction() as session:
        row = await session.get(AuditEvent, 2)
        assert row is not None
        row.at = row.at + timedelta(seconds=1)
    result = await _verify_both(db)
    assert (result.ok, result.first_bad_id) == (False, 2)


async def test_deleted_middle_row_is_caught(db: Database) -> None:
    await _fill(db, 10)
    await _sql(db, "DELETE FROM audit_event WHERE id = 4")
    result = await _verify_both(db)
    assert not result.ok
    assert result.first_bad_id == 4
    assert result.problem is not None and "row 4 is missing" in result.problem


async def test_deleted_first_row_is_caught(db: Database) -> None:
    await _fill(db, 5)
    await _sql(db, "DELETE FROM audit_event WHERE id = 1")
    result = await _verify_both(db)
    assert (result.ok, result.first_bad_id) == (False, 1)
    assert result.problem is not None and "row 1 is missing" in result.problem


async def test_deleted_run_of_rows_is_caught(db: Database) -> None:
    await _fill(db, 10)
    await _sql(db, "DELETE FROM audit_event WHERE id BETWEEN 3 AND 7")
    result = await _verify_both(db)
    assert (result.ok, result.first_bad_id) == (False, 3)
    assert result.problem is not None and "rows 3-7 are missing" in result.problem


async def test_deleted_last_row_is_not_detectable(db: Database) -> None:
    """The documented limitation: a truncated chain is still a valid chain."""
    await _fill(db, 5)
    await _sql(db, "DELETE FROM audit_event WHERE id = 5")
    assert await _verify_both(db) == audit.VerifyResult(ok=True, checked=4)


async def test_tampered_prev_hash_is_caught(db: Database) -> None:
    await _fill(db, 6)
    await _sql(db, f"UPDATE audit_event SET prev_hash = '{'f' * 64}' WHERE id = 5")
    result = await _verify_both(db)
    assert (result.ok, result.first_bad_id) == (False, 5)
    assert result.problem is not None and "prev_hash" in result.problem


async def test_rewritten_row_with_recomputed_hash_breaks_the_next_link(db: Database) -> None:
    """Editing a row and fixing up its own hash is caught at the following row."""
    await _fill(db, 6)
    async with db.transaction() as session:
        row = await session.get(AuditEvent, 3)
        assert row is not None
        row.detail = '{"i": 99}'
        row.hash = audit.row_hash(row)
    result = await _verify_both(db)
    assert (result.ok, result.first_bad_id) == (False, 4)
    assert result.problem is not None and "row 3" in result.problem


async def test_tampered_hash_is_caught(db: Database) -> None:
    await _fill(db, 3)
    await _sql(db, f"UPDATE audit_event SET hash = '{'a' * 64}' WHERE id = 3")
    result = await _verify_both(db)
    assert (result.ok, result.first_bad_id) == (False, 3)


async def test_events_filters_by_patient(db: Database) -> None:
    await _fill(db, 10)
    async with db.transaction() as session:
        everything = await audit.events(session)
        seven = await audit.events(session, patient_id=7)
        first_two = await audit.events(session, patient_id=7, limit=2)
        nobody = await audit.events(session, patient_id=12345)
        other_clinic = await audit.events(session, clinic_id="south")
    assert [e.id for e in everything] == list(range(1, 11))
    assert [e.id for e in seven] == [1, 4, 7, 10]
    assert all(e.patient_id == 7 for e in seven)
    assert [e.id for e in first_two] == [1, 4]
    assert nobody == [] and other_clinic == []


# --- the CLI, as a subprocess on SQLite -------------------------------------------------


def _run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        list(args), cwd=tmp_path, env=cli_env(tmp_path), capture_output=True, text=True, timeout=60
    )


def _audit(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    code = "from bot.cli.audit import main; main()"
    return _run(tmp_path, str(PYTHON), "-c", code, *args)


def _one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in result.stderr + result.stdout, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("aftercare: error:"), lines[0]
    return lines[0]


def test_cli_verify_and_show(tmp_path: Path) -> None:
    (tmp_path / "clinic.toml").write_text(MINIMAL_CLINIC, encoding="utf-8")
    assert _run(tmp_path, str(AFTERCARE), "db", "upgrade").returncode == 0
    for ref in ("P-1", "P-2"):
        enrolled = _run(
            tmp_path, str(AFTERCARE), "patient", "enroll", "--clinic", "north", "--ref", ref
        )
        assert enrolled.returncode == 0, enrolled.stderr

    with sqlite3.connect(tmp_path / "a.db") as conn:
        (count,) = conn.execute("SELECT count(*) FROM audit_event").fetchone()
        (p1,) = conn.execute("SELECT id FROM patient WHERE ref = 'P-1'").fetchone()
        p1_events = conn.execute(
            "SELECT id FROM audit_event WHERE patient_id = ? ORDER BY id", (p1,)
        ).fetchall()
    assert count >= 4 and p1_events

    result = _audit(tmp_path, "verify")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"audit log intact: {count} rows"

    # Read-only: verifying appended nothing.
    with sqlite3.connect(tmp_path / "a.db") as conn:
        assert conn.execute("SELECT count(*) FROM audit_event").fetchone() == (count,)

    result = _audit(tmp_path, "show")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == count
    assert [int(ln.split("\t")[0]) for ln in lines] == list(range(1, count + 1))

    result = _audit(tmp_path, "show", "--patient", "P-1")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert [int(ln.split("\t")[0]) for ln in lines] == [row[0] for row in p1_events]
    for line in lines:
        _id, at, actor, event, ref, detail = line.split("\t")
        assert actor == "cli" and event
        assert at.endswith("+00:00") and datetime.fromisoformat(at).tzinfo is not None
        assert ref == "P-1"
        assert detail.startswith("{")

    result = _audit(tmp_path, "show", "--patient", "P-1", "--limit", "1")
    assert result.returncode == 0 and len(result.stdout.splitlines()) == 1

    result = _audit(tmp_path, "show", "--patient", "P-404")
    assert result.returncode == 1, result.stderr
    assert "no patient 'P-404'" in _one_error_line(result)
    assert result.stdout == ""

    with sqlite3.connect(tmp_path / "a.db") as conn:
        conn.execute("""UPDATE audit_event SET detail = '{"x": 1}' WHERE id = 2""")
    result = _audit(tmp_path, "verify")
    assert result.returncode == 1, result.stderr
    assert result.stdout == ""
    line = _one_error_line(result)
    assert line.startswith("aftercare: error: audit log broken at row 2: row 2 was altered"), line


def test_cli_verify_without_schema(tmp_path: Path) -> None:
    result = _audit(tmp_path, "verify")
    assert result.returncode == 1
    assert "aftercare db upgrade" in _one_error_line(result)


async def _rows(db: Database, now: datetime) -> dict[str, int]:
    """A patient with a case and a check-in, by kind: their ids."""
    from storage.clinics import ClinicRow, sync_clinics
    from storage.models import Case, Checkin, Patient
    from storage.states import CaseTrigger, CheckinKind, Level

    async with db.transaction() as session:
        await sync_clinics(session, clinics=[ClinicRow("north", "North", "UTC", "x")], now=now)
        patient = Patient(clinic_id="north", ref="P-1", timezone="UTC", created_at=now)
        session.add(patient)
        await session.flush()
        assert patient.id is not None
        case = Case(
            clinic_id="north",
            patient_id=patient.id,
            level=Level.HIGH,
            trigger=CaseTrigger.CHECKIN,
            reason="x",
            opened_at=now,
            ladder_started_at=now,
        )
        checkin = Checkin(
            patient_id=patient.id,
            kind=CheckinKind.DAILY,
            nominal_at=now,
            due_at=now,
            created_at=now,
        )
        session.add_all([case, checkin])
        await session.flush()
        assert case.id is not None and checkin.id is not None
        return {"patient": patient.id, "case": case.id, "checkin": checkin.id}


@pytest.mark.parametrize("row", ["case", "patient", "checkin"])
async def test_a_row_lock_and_the_chain_lock_are_taken_in_one_order(db: Database, row: str) -> None:
    """The pager locks a case, a case raised for a patient locks the patient, a check-in's
    answer locks the check-in, each then audits; meanwhile another writer (a /stop) audits,
    then updates that row. The chain's lock comes before the row in `get_case(lock=True)`,
    `lock_patient` and `get_for_update`, so the second waits for the first instead of the two
    deadlocking (seen under load on PostgreSQL)."""
    if db.dialect != "postgresql":
        pytest.skip("PostgreSQL only (SQLite serialises writers)")
    import asyncio

    from sqlalchemy import update

    from storage.cases import get_case
    from storage.checkins import get_for_update
    from storage.models import Case, Checkin, Patient
    from storage.patients import lock_patient

    now = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
    ids = await _rows(db, now)
    model = {"case": Case, "patient": Patient, "checkin": Checkin}[row]
    change = {"case": {"step": 1}, "patient": {"timezone": "UTC"}, "checkin": {"day": 1}}[row]
    locked = asyncio.Event()

    async def first() -> None:
        async with db.transaction() as session:
            if row == "case":
                assert await get_case(session, case_id=ids["case"], lock=True) is not None
            elif row == "patient":
                await lock_patient(session, patient_id=ids["patient"])
            else:
                assert await get_for_update(session, checkin_id=ids["checkin"]) is not None
            locked.set()
            await until_someone_waits(db)  # the writer below is blocked now
            await audit.append(session, at=now, actor="triage", event="escalation.raised")

    async def second() -> None:
        await locked.wait()
        async with db.transaction() as session:
            await audit.append(session, at=now, actor="patient:1", event="patient.opted_out")
            await session.execute(
                update(model).where(model.id == ids[row]).values(**change)  # type: ignore[attr-defined]
            )

    await asyncio.wait_for(asyncio.gather(first(), second()), timeout=20)
    async with db.transaction() as session:
        events = (await session.scalars(select(AuditEvent.event).order_by(AuditEvent.id))).all()
    assert events == ["escalation.raised", "patient.opted_out"]  # one after the other


async def test_a_question_recorded_takes_the_chain_before_its_check_in(db: Database) -> None:
    """`record_question` (the next question on screen) must not lock the check-in before the
    chain: a tap on that check-in holds the chain, then locks the check-in (`get_for_update`).
    Updating the row first deadlocked the two on PostgreSQL (a tap right after the question
    arrived got "cannot record this right now")."""
    if db.dialect != "postgresql":
        pytest.skip("PostgreSQL only (SQLite serialises writers)")
    import asyncio

    from bot.domain.delivery import Delivery, Outcome
    from bot.services.deliveries import record_question
    from storage.checkins import get_for_update
    from storage.models import Checkin, Patient

    now = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
    ids = await _rows(db, now)
    holding = asyncio.Event()

    async def tap() -> None:
        async with db.transaction() as session:
            await audit.hold_chain(session)
            holding.set()
            await until_someone_waits(db)  # the question's record is blocked now
            assert await get_for_update(session, checkin_id=ids["checkin"]) is not None
            await audit.append(session, at=now, actor="patient:1", event="answer.recorded")

    async def question_shown() -> None:
        await holding.wait()
        async with db.transaction() as session:
            patient = await session.get(Patient, ids["patient"])
            assert patient is not None
            await record_question(
                session,
                patient=patient,
                checkin_id=ids["checkin"],
                item_id="s2",
                delivery=Delivery(Outcome.SENT, message_id=77),
                now=now,
            )

    await asyncio.wait_for(asyncio.gather(tap(), question_shown()), timeout=20)
    async with db.transaction() as session:
        events = (await session.scalars(select(AuditEvent.event).order_by(AuditEvent.id))).all()
        checkin = await session.get(Checkin, ids["checkin"])
    assert events == ["answer.recorded", "prompt.sent"]  # one after the other
    assert checkin is not None and checkin.message_id == 77


async def test_a_transaction_reads_the_chain_end_once_and_a_rolled_back_one_leaves_no_trace(
    db: Database,
) -> None:
    """Appends after the first in one transaction chain on from what it wrote (no second read
    of the end); a transaction that rolled back its appends leaves the next one reading the
    true end, so the chain stays whole."""
    reads: list[str] = []

    def count(conn, cursor, statement, params, context, executemany) -> None:  # type: ignore[no-untyped-def]
        if statement.lstrip().upper().startswith("SELECT") and "audit_event" in statement:
            reads.append(statement)

    event.listen(db.engine.sync_engine, "before_cursor_execute", count)
    try:
        await _fill(db, 4)  # one transaction, four appends
        assert len(reads) == 1
        with pytest.raises(RuntimeError):
            async with db.transaction() as session:
                await audit.append(session, at=NOW, actor="cli", event="undone")
                await audit.append(session, at=NOW, actor="cli", event="undone too")
                raise RuntimeError("rolled back")
        async with db.transaction() as session:  # the same Database, a new transaction
            await audit.append(session, at=NOW, actor="cli", event="after the rollback")
        assert len(reads) == 3
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", count)
    result = await _verify_both(db)
    assert result == audit.VerifyResult(ok=True, checked=5, first_bad_id=None, problem=None)


async def test_the_chains_lock_is_taken_once_a_transaction(db: Database) -> None:
    """A writer that takes the chain first (a row lock's rule) and then appends asks
    PostgreSQL for the lock once; the next transaction asks again (the lock ended with the
    last one), even after a rollback."""
    if db.dialect != "postgresql":
        pytest.skip("PostgreSQL only (SQLite's writer lock is the chain's)")
    asks: list[str] = []

    def count(conn, cursor, statement, params, context, executemany) -> None:  # type: ignore[no-untyped-def]
        if "pg_advisory_xact_lock" in statement:
            asks.append(statement)

    event.listen(db.engine.sync_engine, "before_cursor_execute", count)
    try:
        async with db.transaction() as session:
            await audit.hold_chain(session)
            await audit.hold_chain(session)
            await audit.append(session, at=NOW, actor="cli", event="first")
        assert len(asks) == 1
        with pytest.raises(RuntimeError):
            async with db.transaction() as session:
                await audit.hold_chain(session)
                raise RuntimeError("rolled back")
        async with db.transaction() as session:
            await audit.append(session, at=NOW, actor="cli", event="second")
        assert len(asks) == 3
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", count)
    result = await _verify_both(db)
    assert result == audit.VerifyResult(ok=True, checked=2, first_bad_id=None, problem=None)

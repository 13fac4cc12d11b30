"""Erasing a patient (issue 31) over both backends: their words and contacts leave every table,
their chat is forgotten, what is planned for them is stopped; their answers, levels, cases and
times stay under the reference; another patient is untouched; the audit chain verifies and
holds none of the words. Refused, with nothing changed, under a legal hold, with a case not
resolved, with a check-in in progress, when already erased, and for another clinic's patient.
On SQLite the raw file (after a checkpoint) holds none of the erased words."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.domain.levels import Level
from bot.domain.triage import Finding
from bot.services.cases import raise_case
from bot.services.clinic.erasure import ErasureRefused, set_legal_hold
from bot.services.patients import ResumeError, resume
from storage import audit
from storage.engine import Database
from storage.models import (
    Answer,
    AuditEvent,
    Case,
    Checkin,
    Outreach,
    Patient,
    SafetyPlan,
)
from storage.models.care import CaringTrack
from storage.states import (
    CLI,
    CaringStatus,
    CaseTrigger,
    CheckinKind,
    CheckinStatus,
    PatientStatus,
)
from tests.auxil.privacy import (
    NORTH,
    NOW,
    SOUTH,
    WORDS,
    erase_ref,
    everything_of,
    one_of,
    seed_two_patients,
)


async def test_erasure_removes_the_words_and_keeps_the_record(db: Database) -> None:
    one, two = await seed_two_patients(db)
    assert one.id is not None and two.id is not None
    before = await everything_of(db, one.id)
    assert all(word in before for word in WORDS["P-1"])  # the seed holds what it claims
    erased = await erase_ref(db, "P-1")
    assert erased.chat_id == 501 and erased.language == "en"  # type: ignore[attr-defined]
    assert erased.counts == {  # type: ignore[attr-defined]
        "answers": 2,
        "cases": 1,
        "messages": 2,
        "outreach": 1,
        "safety_plans": 1,
        "safety_plan_events": 1,
        "invites": 1,
        "updates": 1,
    }
    after = await everything_of(db, one.id)
    assert [w for w in WORDS["P-1"] if w in after] == []
    other = await everything_of(db, two.id)
    assert all(word in other for word in WORDS["P-2"])  # the other patient is untouched
    async with db.transaction() as session:
        row = await session.get(Patient, one.id)
        assert row is not None
        assert (row.status, row.erased_at, row.chat_id, row.telegram_user_id) == (
            PatientStatus.ERASED,
            NOW,
            None,
            None,
        )
        answers = {
            a.item_id: a.value
            for a in await session.scalars(select(Answer).where(Answer.patient_id == one.id))
        }
        assert answers == {"mood": "3", "s1": "yes", "note": "", "message": ""}
        case = await one_of(session, Case, one.id)
        assert (case.level, case.quote, case.resolution_note) == (Level.HIGH, None, None)
        assert case.resolved_at is not None and "C-SSRS item 4 yes" in case.reason
        attempt = (
            await session.scalars(select(Outreach).where(Outreach.patient_id == one.id))
        ).one()
        assert (attempt.method, attempt.outcome, attempt.note) == ("phone", "no_answer", None)
        plan = (
            await session.scalars(select(SafetyPlan).where(SafetyPlan.patient_id == one.id))
        ).one()
        assert json.loads(plan.steps) == [[] for _ in range(6)] and not plan.active
        planned = await session.scalars(
            select(Checkin.status).where(
                Checkin.patient_id == one.id, Checkin.kind == CheckinKind.DAILY
            )
        )
        assert list(planned) == [CheckinStatus.CANCELLED]
        track = (
            await session.scalars(select(CaringTrack).where(CaringTrack.patient_id == one.id))
        ).one()
        assert track.status == CaringStatus.STOPPED
        verdict = await audit.verify(session)
        assert verdict.ok, verdict.problem
        events = list(await session.scalars(select(AuditEvent).order_by(AuditEvent.id)))
    tombstone = events[-1]
    assert (tombstone.event, tombstone.patient_id, tombstone.actor) == (
        "patient.erased",
        one.id,
        CLI,
    )
    assert json.loads(tombstone.detail)["basis"] == "patient_request"
    every_detail = "\n".join(e.detail for e in events)
    assert [w for w in (*WORDS["P-1"], *WORDS["P-2"]) if w in every_detail] == []


async def test_erasure_is_refused_and_changes_nothing(db: Database) -> None:
    one, two = await seed_two_patients(db)
    assert one.id is not None and two.id is not None
    with pytest.raises(ErasureRefused, match="No patient P-1"):
        await erase_ref(db, "P-1", SOUTH)  # another clinic's patient is not found
    with pytest.raises(ErasureRefused, match="No patient P-9"):
        await erase_ref(db, "P-9")
    async with db.transaction() as session:
        await set_legal_hold(session, clinic=NORTH, ref="P-1", hold=True, actor=CLI, now=NOW)
    with pytest.raises(ErasureRefused, match="legal hold"):
        await erase_ref(db, "P-1")
    async with db.transaction() as session:
        await set_legal_hold(session, clinic=NORTH, ref="P-1", hold=False, actor=CLI, now=NOW)
        raised = await raise_case(
            session,
            patient=two,
            level=Level.MODERATE,
            findings=[Finding(Level.MODERATE, "mood 2")],
            trigger=CaseTrigger.CHECKIN,
            now=NOW,
        )
        assert raised is not None
        session.add(
            Checkin(
                patient_id=one.id,
                kind=CheckinKind.ADHOC,
                nominal_at=NOW,
                due_at=NOW,
                sent_at=NOW,
                status=CheckinStatus.IN_PROGRESS,
                created_at=NOW,
            )
        )
    with pytest.raises(ErasureRefused, match="not resolved"):
        await erase_ref(db, "P-2")
    with pytest.raises(ErasureRefused, match="check-in in progress"):
        await erase_ref(db, "P-1")
    kept = {ref: await everything_of(db, p.id) for ref, p in (("P-1", one), ("P-2", two))}
    assert all(w in kept[ref] for ref in kept for w in WORDS[ref])
    async with db.transaction() as session:
        events = [e.event for e in await session.scalars(select(AuditEvent))]
    assert "patient.erased" not in events
    assert events.count("patient.legal_hold") == events.count("patient.legal_hold_lifted") == 1


async def test_an_erased_patient_stays_erased(db: Database) -> None:
    one, _ = await seed_two_patients(db)
    await erase_ref(db, "P-1")
    with pytest.raises(ErasureRefused, match="erased already"):
        await erase_ref(db, "P-1")
    async with db.transaction() as session:
        with pytest.raises(ErasureRefused, match="erased already"):
            await set_legal_hold(session, clinic=NORTH, ref="P-1", hold=True, actor=CLI, now=NOW)
        with pytest.raises(ResumeError, match="was erased"):
            await resume(session, patient=one, clinic=NORTH, now=NOW, actor=CLI)


async def test_the_raw_sqlite_file_keeps_no_erased_word(db: Database) -> None:
    if not db.url.startswith("sqlite"):
        pytest.skip("the raw file is SQLite's; a PostgreSQL dump is checked with encryption")
    await seed_two_patients(db)
    await erase_ref(db, "P-1")
    await db.dispose()  # every connection closed: the WAL is checkpointed into the file
    path = Path(db.url.split("///", 1)[1])
    with sqlite3.connect(path) as checkpoint:
        checkpoint.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    raw = b"".join(p.read_bytes() for p in (path, Path(f"{path}-wal")) if p.exists())
    assert [w for w in WORDS["P-1"] if w.encode() in raw] == []
    assert b"P-2" in raw  # the search sees what is kept in clear (the reference)...
    assert [w for w in WORDS["P-2"] if w.encode() in raw] == []  # ...and words are sealed
    with sqlite3.connect(path) as check:  # and the file is still a sound database
        assert check.execute("PRAGMA integrity_check").fetchone() == ("ok",)

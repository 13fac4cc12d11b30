"""Retention (issue 31) over both backends, on a compressed clock: the preview lists exactly the
patients, and what of them, that the run then removes; words due are erased (the records kept),
records due are deleted (the patient's row left as a pseudonymous tombstone, its data key
destroyed); a legal hold keeps everything, as does being in care; the audit chain verifies and
holds no words; the nightly run is claimed once per clinic and day."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from bot.clinic_config import ClinicConfig
from bot.clinic_retention import RetentionConfig
from bot.domain.levels import Level
from bot.domain.privacy.retention import Removal
from bot.services.clinic.retention import nightly, plan_retention, run_retention
from storage import audit
from storage.clinics import ClinicRow, sync_clinics
from storage.engine import Database
from storage.models import (
    Answer,
    AuditEvent,
    Case,
    CaseMessage,
    Checkin,
    Clinician,
    Infusion,
    Outreach,
    Page,
    Patient,
)
from storage.states import (
    CLI,
    DISPATCHER,
    CaseStatus,
    CaseTrigger,
    CheckinKind,
    CheckinStatus,
    MessageDirection,
    MessageStatus,
    OutreachMethod,
    OutreachOutcome,
    PageStatus,
    PatientStatus,
)

NOW = datetime(2026, 6, 3, 3, 30, tzinfo=UTC)
CLINIC = ClinicConfig(
    id="north",
    name="North",
    timezone="UTC",
    contact_phone="555 0100",
    retention=RetentionConfig(words_days=10, records_days=30),
)
RECORDS = (Answer, Checkin, Infusion, Case, CaseMessage, Outreach)


async def _seed(
    db: Database, ref: str, last: datetime, lee: int, *, hold: bool = False, care: bool = False
) -> int:
    """A patient whose last activity is `last`: an infusion, a completed check-in with a mood
    and a note, a resolved case with a page, a message and an outreach attempt; `care` adds a
    check-in still planned."""
    day = timedelta(days=1)
    async with db.transaction() as session:
        patient = Patient(
            clinic_id="north",
            ref=ref,
            timezone="UTC",
            status=PatientStatus.ACTIVE,
            display_name=f"name of {ref}",
            phone="+15550100",
            legal_hold=hold,
            created_at=last - 5 * day,
        )
        session.add(patient)
        await session.flush()
        assert patient.id is not None
        pid = patient.id
        infusion = Infusion(
            patient_id=pid,
            ended_at=last - 2 * day,
            protocol="standard",
            recorded_at=last - 2 * day,
            recorded_by=CLI,
        )
        session.add(infusion)
        await session.flush()
        done = Checkin(
            patient_id=pid,
            infusion_id=infusion.id,
            kind=CheckinKind.OFFSET,
            nominal_at=last - day,
            due_at=last - day,
            sent_at=last - day,
            closed_at=last - day,
            status=CheckinStatus.COMPLETED,
            created_at=last - 2 * day,
        )
        session.add(done)
        if care:
            session.add(
                Checkin(
                    patient_id=pid,
                    kind=CheckinKind.DAILY,
                    day=9,
                    nominal_at=NOW + 60 * day,
                    due_at=NOW + 60 * day,
                    created_at=last,
                )
            )
        await session.flush()
        for item, value in (("mood", "3"), ("note", f"words of {ref}")):
            session.add(
                Answer(
                    patient_id=pid,
                    checkin_id=done.id,
                    item_id=item,
                    value=value,
                    instrument_id="x",
                    instrument_version="1",
                    answered_at=last - day,
                )
            )
        case = Case(
            clinic_id="north",
            patient_id=pid,
            checkin_id=done.id,
            level=Level.MODERATE,
            trigger=CaseTrigger.CHECKIN,
            reason="mood",
            quote=f"quote of {ref}",
            status=CaseStatus.RESOLVED,
            opened_at=last - day,
            ladder_started_at=last - day,
            acknowledged_at=last - day,
            resolved_at=last,
            resolution_note=f"resolved {ref}",
        )
        session.add(case)
        await session.flush()
        assert case.id is not None
        session.add_all(
            [
                Page(
                    case_id=case.id,
                    clinician_id=lee,
                    step=0,
                    status=PageStatus.SENT,
                    sent_at=last - day,
                ),
                CaseMessage(
                    case_id=case.id,
                    clinic_id="north",
                    patient_id=pid,
                    direction=MessageDirection.FROM_PATIENT,
                    text=f"message of {ref}",
                    status=MessageStatus.RECEIVED,
                    at=last - day,
                ),
                Outreach(
                    case_id=case.id,
                    clinic_id="north",
                    patient_id=pid,
                    clinician_id=lee,
                    method=OutreachMethod.PHONE,
                    outcome=OutreachOutcome.REACHED,
                    at=last - day,
                    recorded_at=last - day,
                    note=f"outreach of {ref}",
                ),
            ]
        )
    return pid


async def _setup(db: Database) -> dict[str, int]:
    async with db.transaction() as session:
        await sync_clinics(session, clinics=[ClinicRow("north", "North", "UTC", "x")], now=NOW)
        lee = Clinician(
            clinic_id="north", name="Dr Lee", telegram_user_id=601, chat_id=601, created_at=NOW
        )
        session.add(lee)
        await session.flush()
        assert lee.id is not None
    days = timedelta(days=1)
    return {
        "OLD": await _seed(db, "OLD", NOW - 40 * days, lee.id),  # records due
        "WORDY": await _seed(db, "WORDY", NOW - 15 * days, lee.id),  # words due
        "HELD": await _seed(db, "HELD", NOW - 40 * days, lee.id, hold=True),
        "CARE": await _seed(db, "CARE", NOW - 40 * days, lee.id, care=True),
        "RECENT": await _seed(db, "RECENT", NOW - 2 * days, lee.id),
    }


async def _counts(db: Database, pid: int) -> dict[str, int]:
    """How many rows of each kind the patient has (pages through their cases)."""
    found: dict[str, int] = {}
    async with db.transaction() as session:
        for model in RECORDS:
            query = select(func.count()).where(model.patient_id == pid)  # type: ignore[attr-defined]
            found[model.__name__] = int(await session.scalar(query.select_from(model)) or 0)
        cases = select(Case.id).where(Case.patient_id == pid)
        pages = select(func.count()).select_from(Page).where(Page.case_id.in_(cases))  # type: ignore[attr-defined]
        found["Page"] = int(await session.scalar(pages) or 0)
    return found


async def _words(db: Database, pid: int) -> list[str]:
    """The patient's words as the services read them (empty once erased)."""
    async with db.transaction() as session:
        patient = await session.get(Patient, pid)
        assert patient is not None
        said: list[Any] = [patient.display_name, patient.phone]
        for model, field in (
            (Answer, "value"),
            (Case, "quote"),
            (CaseMessage, "text"),
            (Outreach, "note"),
        ):
            rows = await session.scalars(select(model).where(model.patient_id == pid))  # type: ignore[attr-defined]
            said += [getattr(row, field) for row in rows]
    return [w for w in said if w and w != "3"]  # the mood is a structured answer


def _plan_lines(plan: Any) -> tuple[list[tuple[str, Removal]], list[tuple[str, Removal]]]:
    return [(p.ref, p.removal) for p in plan.due], [(p.ref, p.removal) for p in plan.held]


async def test_the_run_removes_exactly_what_the_preview_listed(db: Database) -> None:
    ids = await _setup(db)
    full = {"Answer": 2, "Checkin": 1, "Infusion": 1, "Case": 1, "CaseMessage": 1, "Outreach": 1}
    full["Page"] = 1
    kept = {ref: await _counts(db, ids[ref]) for ref in ("HELD", "CARE", "RECENT")}
    async with db.transaction() as session:
        preview = await plan_retention(session, clinic=CLINIC, now=NOW)
    assert _plan_lines(preview) == (
        [("OLD", Removal.RECORDS), ("WORDY", Removal.WORDS)],
        [("HELD", Removal.RECORDS)],
    )
    old = preview.due[0]
    assert old.last_activity == NOW - timedelta(days=40)
    assert old.since == NOW - timedelta(days=10)  # 40 days ago + 30 days
    plan, report = await run_retention(db, clinic=CLINIC, actor=DISPATCHER, now=NOW)
    assert plan == preview
    assert (report.words, report.records, report.refused, report.held) == (1, 1, 0, 1)
    assert report.deleted["answers"] == 2 and report.deleted["pages"] == 1

    assert await _counts(db, ids["OLD"]) == dict.fromkeys(full, 0)
    assert await _counts(db, ids["WORDY"]) == full  # the structured records stay
    assert await _words(db, ids["WORDY"]) == []
    for ref, before in kept.items():
        assert await _counts(db, ids[ref]) == before
        assert f"words of {ref}" in await _words(db, ids[ref])
    async with db.transaction() as session:
        tombstone = await session.get(Patient, ids["OLD"])
        assert tombstone is not None
        assert (tombstone.ref, tombstone.status, tombstone.display_name) == (
            "OLD",
            PatientStatus.ERASED,
            None,
        )
        verdict = await audit.verify(session)
        assert verdict.ok, verdict.problem
        events = list(await session.scalars(select(AuditEvent).order_by(AuditEvent.id)))
    named = [(e.event, e.patient_id) for e in events if e.event != "clinic.synced"]
    assert ("patient.erased", ids["OLD"]) in named and ("patient.erased", ids["WORDY"]) in named
    assert ("patient.records_deleted", ids["OLD"]) in named
    assert named[-1] == ("retention.run", None)
    run = json.loads(events[-1].detail)
    assert (run["words"], run["records"], run["held"]) == (1, 1, 1)
    assert not [e for e in events if "of OLD" in e.detail or "of WORDY" in e.detail]
    assert db.keyring is not None  # the tests' databases are sealed
    assert {ids["OLD"], ids["WORDY"]} <= await db.keyring.shredded()
    assert ids["HELD"] not in await db.keyring.shredded()

    async with db.transaction() as session:
        after = await plan_retention(session, clinic=CLINIC, now=NOW)
        later = await plan_retention(session, clinic=CLINIC, now=NOW + timedelta(days=20))
    assert _plan_lines(after) == ([], [("HELD", Removal.RECORDS)])
    assert _plan_lines(later)[0] == [("WORDY", Removal.RECORDS), ("RECENT", Removal.WORDS)]
    plan, report = await run_retention(
        db, clinic=CLINIC, actor=DISPATCHER, now=NOW + timedelta(days=20)
    )
    assert plan == later and (report.words, report.records) == (1, 1)
    assert await _counts(db, ids["WORDY"]) == dict.fromkeys(full, 0)
    assert await _counts(db, ids["RECENT"]) == full
    assert await _counts(db, ids["CARE"]) == kept["CARE"]  # in care: never due, however old


async def test_keeping_is_the_default(db: Database) -> None:
    await _setup(db)
    keeping = CLINIC.model_copy(update={"retention": RetentionConfig()})
    async with db.transaction() as session:
        plan = await plan_retention(session, clinic=keeping, now=NOW + timedelta(days=9_000))
    assert (plan.due, plan.held) == ([], [])


async def test_the_nightly_run_is_claimed_once_a_day(db: Database) -> None:
    ids = await _setup(db)
    began = NOW.replace(hour=0, minute=0)
    first = await nightly(
        db, clinic=CLINIC, day="2026-06-03", day_began=began, actor=DISPATCHER, now=NOW
    )
    again = await nightly(
        db,
        clinic=CLINIC,
        day="2026-06-03",
        day_began=began,
        actor=DISPATCHER,
        now=NOW + timedelta(minutes=1),
    )
    assert first is not None and first.records == 1 and again is None
    tomorrow = await nightly(
        db,
        clinic=CLINIC,
        day="2026-06-04",
        day_began=began + timedelta(days=1),
        actor=DISPATCHER,
        now=NOW + timedelta(days=1),
    )
    assert tomorrow is not None and tomorrow.records == 0  # nothing new was due
    async with db.transaction() as session:
        started = list(
            await session.scalars(
                select(AuditEvent.detail).where(AuditEvent.event == "retention.started")
            )
        )
        assert (await audit.verify(session)).ok
    assert [json.loads(d)["day"] for d in started] == ["2026-06-03", "2026-06-04"]
    assert await _counts(db, ids["OLD"]) == dict.fromkeys(await _counts(db, ids["OLD"]), 0)

"""Writers that add a row keyed to a patient or a case, beside a writer that holds the audit
chain and then locks that row (PostgreSQL's lock order: the chain before any row)."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clinic_config import ClinicConfig
from bot.domain.delivery import Delivery, Outcome
from bot.domain.levels import Level
from bot.domain.safety_plan import read_plan
from bot.domain.triage import Finding
from bot.services.cases import raise_case
from bot.services.enrollment import enroll_patient, reissue_patient_invite
from bot.services.messages import Writable, record_free_text, record_written
from bot.services.reaching import caring
from bot.services.safety.plans import save_plan
from storage import audit
from storage.cases import get_case
from storage.clinics import ClinicRow, sync_clinics
from storage.engine import Database
from storage.models import Answer, CaseMessage, Clinician, Invite, Patient, SafetyPlan
from storage.models.care import CaringMessage, CaringTrack
from storage.patients import lock_patient
from storage.states import CaringStatus, CaseTrigger
from tests.auxil.outage import until_someone_waits

NOW = datetime(2026, 6, 3, 15, 0, tzinfo=UTC)
CLINIC = ClinicConfig(id="north", name="North", timezone="UTC", contact_phone="555 0100")
Locks = Callable[[AsyncSession], Awaitable[object]]


@pytest.fixture
def pg(db: Database) -> Database:
    if db.dialect != "postgresql":
        pytest.skip("PostgreSQL only (SQLite serialises writers)")
    return db


async def _patient(db: Database) -> tuple[Patient, Clinician]:
    async with db.transaction() as session:
        await sync_clinics(session, clinics=[ClinicRow("north", "North", "UTC", "x")], now=NOW)
        patient = Patient(
            clinic_id="north", ref="P-1", timezone="UTC", status="active", created_at=NOW
        )
        lee = Clinician(
            clinic_id="north", name="Dr Lee", telegram_user_id=601, chat_id=601, created_at=NOW
        )
        session.add_all([patient, lee])
        await session.flush()
    return patient, lee


async def _beside_a_chain_holder(
    db: Database, locks: Locks, write: Callable[[AsyncSession], Awaitable[object]]
) -> None:
    """`write` starts while another writer holds the chain; that writer then runs `locks`
    (a row lock) and appends. With the chain taken first, each waits in turn; with a row
    touched before the chain, PostgreSQL reports a deadlock."""
    holding = asyncio.Event()

    async def holder() -> None:
        async with db.transaction() as session:
            await audit.hold_chain(session)
            holding.set()
            await until_someone_waits(db)  # the write waits for the chain now
            await locks(session)
            await audit.append(session, at=NOW, actor="patient:1", event="answer")

    async def writer() -> None:
        await holding.wait()
        async with db.transaction() as session:
            await write(session)

    await asyncio.wait_for(asyncio.gather(holder(), writer()), timeout=20)


async def _count(db: Database, model: type) -> int | None:
    async with db.read() as session:
        return await session.scalar(select(func.count()).select_from(model))


async def test_saving_a_plan_takes_the_chain_before_the_patients_row(pg: Database) -> None:
    """A plan saved from the console adds a row keyed to the patient (a key share on their
    row) and audits, beside a patient's writer that locks their row."""
    patient, _ = await _patient(pg)
    steps, errors = read_plan({"step1": "Not sleeping", "step5": "988"}, country_code="1")
    assert steps is not None and patient.id is not None, errors
    await _beside_a_chain_holder(
        pg,
        lambda session: lock_patient(session, patient_id=patient.id or 0),
        lambda session: save_plan(session, patient=patient, steps=steps, actor="cli", now=NOW),
    )
    assert await _count(pg, SafetyPlan) == 1


async def test_a_typed_message_takes_the_chain_before_the_patients_row(pg: Database) -> None:
    """A patient's message is kept (a row keyed to them) and audited, beside a writer that
    locks their row (a stop, an erasure, the dispatcher raising a case)."""
    patient, _ = await _patient(pg)
    await _beside_a_chain_holder(
        pg,
        lambda session: lock_patient(session, patient_id=patient.id or 0),
        lambda session: record_free_text(
            session, patient=patient, clinic=CLINIC, text="hello", now=NOW, update_id=None
        ),
    )
    assert await _count(pg, Answer) == 1


async def test_a_clinicians_message_takes_the_chain_before_the_cases_row(pg: Database) -> None:
    """A clinician's message to the patient is kept (a row keyed to the case and the patient)
    and audited, beside a writer that locks the case (the pager, an acknowledgement)."""
    patient, lee = await _patient(pg)
    async with pg.transaction() as session:
        raised = await raise_case(
            session,
            patient=patient,
            level=Level.HIGH,
            findings=[Finding(Level.HIGH, "crisis words")],
            trigger=CaseTrigger.CHECKIN,
            now=NOW,
        )
        assert raised is not None and raised.case.id is not None
    case = raised.case
    writable = Writable(case=case, patient=patient, clinician=lee)
    await _beside_a_chain_holder(
        pg,
        lambda session: get_case(session, case_id=case.id or 0, lock=True),
        lambda session: record_written(
            session,
            writable=writable,
            text="Calling you now",
            delivery=Delivery(Outcome.SENT, message_id=9),
            now=NOW,
        ),
    )
    assert await _count(pg, CaseMessage) == 1


async def test_starting_a_caring_track_takes_the_chain_before_the_patients_row(
    pg: Database,
) -> None:
    """A track started for a patient (rows keyed to them) and audited, beside a writer that
    locks their row (their /stop)."""
    patient, _ = await _patient(pg)
    await _beside_a_chain_holder(
        pg,
        lambda session: lock_patient(session, patient_id=patient.id or 0),
        lambda session: caring.start_track(
            session, patient=patient, clinic=CLINIC, reason="case_resolved", now=NOW, actor="cli"
        ),
    )
    assert await _count(pg, CaringTrack) == 1
    assert await _count(pg, CaringMessage) == len(CLINIC.caring.offsets())


async def test_stopping_a_caring_track_takes_the_chain_before_its_messages(pg: Database) -> None:
    """The console stops a track (its pending messages dropped) and audits, beside the record
    of a caring send, which holds the chain and then updates those messages."""
    patient, _ = await _patient(pg)
    async with pg.transaction() as session:
        await caring.start_track(
            session, patient=patient, clinic=CLINIC, reason="case_resolved", now=NOW, actor="cli"
        )

    async def recorded(session: AsyncSession) -> None:
        await session.execute(update(CaringMessage).values(error="sent beside the stop"))

    await _beside_a_chain_holder(
        pg,
        recorded,
        lambda session: caring.stop_track(session, patient=patient, now=NOW, actor="cli"),
    )
    async with pg.read() as session:
        statuses = set((await session.scalars(select(CaringTrack.status))).all())
    assert statuses == {CaringStatus.STOPPED}


async def test_inviting_a_patient_again_takes_the_chain_before_their_row(pg: Database) -> None:
    """A patient who has not joined is invited again, by a new enrolment or a reissue (a new
    invite keyed to them, the old ones expired) and audited, beside a writer that locks their
    row (an erasure)."""
    enroll = functools.partial(
        enroll_patient,
        clinic=CLINIC,
        ref="P-7",
        timezone="UTC",
        baseline_mood=None,
        emergency_contact=None,
        now=NOW,
        actor="cli",
    )
    async with pg.transaction() as session:
        await sync_clinics(session, clinics=[ClinicRow("north", "North", "UTC", "x")], now=NOW)
        patient, _ = await enroll(session)
    for again in (
        lambda session: reissue_patient_invite(
            session, clinic=CLINIC, patient=patient, now=NOW, actor="cli"
        ),
        enroll,
    ):
        await _beside_a_chain_holder(
            pg, lambda session: lock_patient(session, patient_id=patient.id or 0), again
        )
    assert await _count(pg, Invite) == 3

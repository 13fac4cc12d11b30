"""Writers that add a row keyed to a patient or a case, beside a writer that holds the audit
chain and then locks that row (PostgreSQL's lock order: the chain before any row)."""

from __future__ import annotations

import functools

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.context import AlreadyProcessed, UpdateInProcess, mark_processed
from bot.domain.delivery import Delivery, Outcome
from bot.domain.safety_plan import read_plan
from bot.services.clinic.erasure import LegalBasis, erase_patient
from bot.services.enrollment import enroll_patient, reissue_patient_invite
from bot.services.intake import park_update
from bot.services.messages import Writable, record_free_text, record_written
from bot.services.reaching import caring
from bot.services.safety.plans import save_plan
from storage.cases import get_case
from storage.clinics import ClinicRow, sync_clinics
from storage.engine import Database
from storage.models import Answer, CaseMessage, InboundUpdate, Invite, Patient, SafetyPlan
from storage.models.care import CaringMessage, CaringTrack
from storage.patients import lock_patient
from storage.states import CLI, CaringStatus
from tests.auxil.lock_order import (
    CLINIC,
    NOW,
    Write,
    beside_a_chain_holder,
    count,
    patient_and_clinician,
    raise_high,
)


async def test_saving_a_plan_takes_the_chain_before_the_patients_row(pg: Database) -> None:
    """A plan saved from the console adds a row keyed to the patient (a key share on their
    row) and audits, beside a patient's writer that locks their row."""
    patient, _ = await patient_and_clinician(pg)
    steps, errors = read_plan({"step1": "Not sleeping", "step5": "988"}, country_code="1")
    assert steps is not None and patient.id is not None, errors
    await beside_a_chain_holder(
        pg,
        lambda session: lock_patient(session, patient_id=patient.id or 0),
        lambda session: save_plan(session, patient=patient, steps=steps, actor="cli", now=NOW),
    )
    assert await count(pg, SafetyPlan) == 1


async def test_a_typed_message_takes_the_chain_before_the_patients_row(pg: Database) -> None:
    """A patient's message is kept (a row keyed to them) and audited, beside a writer that
    locks their row (a stop, an erasure, the dispatcher raising a case)."""
    patient, _ = await patient_and_clinician(pg)
    await beside_a_chain_holder(
        pg,
        lambda session: lock_patient(session, patient_id=patient.id or 0),
        lambda session: record_free_text(
            session, patient=patient, clinic=CLINIC, text="hello", now=NOW, update_id=None
        ),
    )
    assert await count(pg, Answer) == 1


async def test_a_clinicians_message_takes_the_chain_before_the_cases_row(pg: Database) -> None:
    """A clinician's message to the patient is kept (a row keyed to the case and the patient)
    and audited, beside a writer that locks the case (the pager, an acknowledgement)."""
    patient, lee = await patient_and_clinician(pg)
    async with pg.transaction() as session:
        raised = await raise_high(session, patient)
        assert raised is not None and raised.case.id is not None
    case = raised.case
    writable = Writable(case=case, patient=patient, clinician=lee)
    await beside_a_chain_holder(
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
    assert await count(pg, CaseMessage) == 1


async def test_starting_a_caring_track_takes_the_chain_before_the_patients_row(
    pg: Database,
) -> None:
    """A track started for a patient (rows keyed to them) and audited, beside a writer that
    locks their row (their /stop)."""
    patient, _ = await patient_and_clinician(pg)
    await beside_a_chain_holder(
        pg,
        lambda session: lock_patient(session, patient_id=patient.id or 0),
        lambda session: caring.start_track(
            session, patient=patient, clinic=CLINIC, reason="case_resolved", now=NOW, actor="cli"
        ),
    )
    assert await count(pg, CaringTrack) == 1
    assert await count(pg, CaringMessage) == len(CLINIC.caring.offsets())


async def test_stopping_a_caring_track_takes_the_chain_before_its_messages(pg: Database) -> None:
    """The console stops a track (its pending messages dropped) and audits, beside the record
    of a caring send, which holds the chain and then updates those messages."""
    patient, _ = await patient_and_clinician(pg)
    async with pg.transaction() as session:
        await caring.start_track(
            session, patient=patient, clinic=CLINIC, reason="case_resolved", now=NOW, actor="cli"
        )

    async def recorded(session: AsyncSession) -> None:
        await session.execute(update(CaringMessage).values(error="sent beside the stop"))

    await beside_a_chain_holder(
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
        await beside_a_chain_holder(
            pg, lambda session: lock_patient(session, patient_id=patient.id or 0), again
        )
    assert await count(pg, Invite) == 3


async def _update_pending_in_their_chat(db: Database, patient: Patient) -> None:
    """The patient's chat linked, and an update of theirs stored and not yet processed."""
    async with db.transaction() as session:
        await session.execute(update(Patient).values(chat_id=501))
        session.add(
            InboundUpdate(update_id=1, chat_id=501, seen_at=NOW, stored_at=NOW, next_attempt_at=NOW)
        )


def _erasing(patient: Patient) -> Write:
    """The clinic erases the patient: the chain, their row locked, their chat's updates deleted."""
    return lambda session: erase_patient(
        session, clinic=CLINIC, ref=patient.ref, basis=LegalBasis.REQUEST, actor=CLI, now=NOW
    )


async def test_an_updates_effects_take_the_chain_before_its_row(pg: Database) -> None:
    """An update's effects (marked processed, then the patient's message kept) beside an
    erasure of that patient. The erasure goes first; the update finds itself gone and keeps
    nothing of an erased patient."""
    patient, _ = await patient_and_clinician(pg)
    await _update_pending_in_their_chat(pg, patient)
    marked = []

    async def effects(session: AsyncSession) -> None:
        try:
            await mark_processed(session, UpdateInProcess(1, written_at=NOW), now=NOW)
        except AlreadyProcessed:
            marked.append(False)
            return
        marked.append(True)
        await record_free_text(
            session, patient=patient, clinic=CLINIC, text="hello", now=NOW, update_id=1
        )

    await beside_a_chain_holder(pg, _erasing(patient), effects)
    assert marked == [False]
    assert await count(pg, Answer) == 0
    assert await count(pg, InboundUpdate) == 0


async def test_parking_an_update_takes_the_chain_before_its_row(pg: Database) -> None:
    """An update that failed every try is parked (its row, a case for the clinic), beside an
    erasure of its patient: the erasure goes first and there is nothing left to park."""
    patient, _ = await patient_and_clinician(pg)
    await _update_pending_in_their_chat(pg, patient)
    parked = []

    async def park(session: AsyncSession) -> None:
        parked.append(
            await park_update(session, update_id=1, chat_id=501, error="ValueError: x", now=NOW)
        )

    await beside_a_chain_holder(pg, _erasing(patient), park)
    assert parked == [None]
    assert await count(pg, InboundUpdate) == 0

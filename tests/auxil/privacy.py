"""A seeded clinic of two patients whose every kind of stored word is known (`WORDS`): the
erasure and encryption-at-rest tests (issue 31) search for those words everywhere."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clinic_config import ClinicConfig
from bot.domain import safety_plan as plan_rules
from bot.domain.levels import Level
from bot.domain.triage import Finding
from bot.services.case_taking import CaseAction, TakeOutcome, Taker, take
from bot.services.cases import raise_case
from bot.services.clinic.erasure import (
    LegalBasis,
    erase,
)
from bot.services.reaching.outreach import log_outreach
from bot.services.safety.plans import save_plan
from storage.clinics import ClinicRow, sync_clinics
from storage.engine import Database
from storage.models import (
    Answer,
    Case,
    CaseMessage,
    Checkin,
    Clinician,
    InboundUpdate,
    Invite,
    Outreach,
    Patient,
    SafetyPlan,
    SafetyPlanEvent,
)
from storage.states import (
    CLI,
    CaseTrigger,
    CheckinKind,
    CheckinStatus,
    InboxStatus,
    InviteKind,
    MessageDirection,
    MessageStatus,
    PatientStatus,
    PlanEventKind,
)

T = TypeVar("T")
NOW = datetime(2026, 6, 3, 15, 0, tzinfo=UTC)
NORTH = ClinicConfig(id="north", name="North", timezone="UTC", contact_phone="555 0100")
SOUTH = ClinicConfig(id="south", name="South", timezone="UTC", contact_phone="555 0200")
# What the erased patient (P-1) wrote or gave; P-2 gives the same kinds with other words.
WORDS = {
    "P-1": (
        "Marisol Ibanez",
        "+1 555 0199 7788",
        "Rosa Quintero",
        "+1 555 0142 3344",
        "counting the pills in the drawer",
        "the bridge again tonight",
        "spoke with Marisol and her sister",
        "left a voicemail for Marisol",
        "walk the greyhound at dusk",
    ),
    "P-2": (
        "Tobias Wren",
        "+1 555 0111 2233",
        "Edith Wren",
        "+1 555 0166 4455",
        "heavy fog in my head",
        "cannot face the morning",
        "spoke with Tobias and his aunt",
        "left a voicemail for Tobias",
        "play the cello slowly",
    ),
}


def clinic_of(clinic_id: str) -> ClinicConfig:
    return NORTH if clinic_id == "north" else SOUTH


def _plan(words: tuple[str, ...]) -> dict[str, str]:
    return {
        "step1": words[4],
        "step2": words[8],
        "step3": "the library",
        "step4": f"{words[2]} {words[3]}",
        "step5": "Dr Lee +1 555 0100 0000",
        "step6": words[5],
    }


async def _patient(db: Database, ref: str, chat: int, lee: Clinician) -> Patient:
    """A patient with every kind of word and contact, a resolved high case (so a caring track),
    a planned check-in, a stored update and an unused invite."""
    name, phone, contact, contact_phone, note, message, resolution, outreach, _ = WORDS[ref]
    async with db.transaction() as session:
        patient = Patient(
            clinic_id="north",
            ref=ref,
            timezone="UTC",
            status=PatientStatus.ACTIVE,
            chat_id=chat,
            telegram_user_id=chat,
            display_name=name,
            phone=phone,
            phone_e164=phone.replace(" ", ""),
            emergency_name=contact,
            emergency_relation="sister",
            emergency_phone=contact_phone,
            emergency_phone_e164=contact_phone.replace(" ", ""),
            emergency_contact=f"{contact} {contact_phone}",
            created_at=NOW - timedelta(days=30),
        )
        session.add(patient)
        await session.flush()
        assert patient.id is not None
        done = Checkin(
            patient_id=patient.id,
            kind=CheckinKind.ADHOC,
            nominal_at=NOW - timedelta(days=2),
            due_at=NOW - timedelta(days=2),
            sent_at=NOW - timedelta(days=2),
            closed_at=NOW - timedelta(days=2),
            status=CheckinStatus.COMPLETED,
            risk_level=Level.HIGH,
            created_at=NOW - timedelta(days=2),
        )
        planned = Checkin(
            patient_id=patient.id,
            kind=CheckinKind.DAILY,
            day=9,
            nominal_at=NOW + timedelta(days=1),
            due_at=NOW + timedelta(days=1),
            created_at=NOW,
        )
        session.add_all([done, planned])
        await session.flush()
        for item, value in (("mood", "3"), ("s1", "yes"), ("note", note), ("message", message)):
            session.add(
                Answer(
                    patient_id=patient.id,
                    checkin_id=done.id if item != "message" else None,
                    item_id=item,
                    value=value,
                    instrument_id="x",
                    instrument_version="1",
                    answered_at=NOW - timedelta(days=2),
                )
            )
        session.add(
            InboundUpdate(
                update_id=chat * 10,
                chat_id=chat,
                payload=json.dumps({"message": {"text": message, "chat": {"id": chat}}}),
                status=InboxStatus.PARKED,
                seen_at=NOW,
                stored_at=NOW,
                next_attempt_at=NOW,
            )
        )
        session.add(
            Invite(
                clinic_id="north",
                kind=InviteKind.PATIENT,
                token_hash=f"{chat:064d}",
                patient_id=patient.id,
                created_at=NOW,
                expires_at=NOW + timedelta(days=7),
            )
        )
    async with db.transaction() as session:
        raised = await raise_case(
            session,
            patient=patient,
            level=Level.HIGH,
            findings=[Finding(Level.HIGH, "C-SSRS item 4 yes: some intention of acting")],
            trigger=CaseTrigger.CHECKIN,
            now=NOW - timedelta(days=2),
            quote=message,
        )
        assert raised is not None and raised.case.id is not None
        case_id = raised.case.id
        session.add_all(
            [
                CaseMessage(
                    case_id=case_id,
                    clinic_id="north",
                    patient_id=patient.id,
                    direction=direction,
                    clinician_id=lee.id if direction is MessageDirection.TO_PATIENT else None,
                    text=said,
                    status=status,
                    at=NOW - timedelta(days=2),
                )
                for direction, said, status in (
                    (MessageDirection.FROM_PATIENT, note, MessageStatus.RECEIVED),
                    (MessageDirection.TO_PATIENT, f"{name}, are you safe?", MessageStatus.SENT),
                )
            ]
        )
        await log_outreach(
            session,
            case_id=case_id,
            by=[lee],
            method="phone",
            outcome="no_answer",
            at=None,
            note=outreach,
            clinic_of=clinic_of,
            now=NOW - timedelta(days=2),
        )
        steps, _ = plan_rules.read_plan(_plan(WORDS[ref]), country_code=None)
        assert steps is not None
        plan = await save_plan(session, patient=patient, steps=steps, actor=CLI, now=NOW)
        session.add(
            SafetyPlanEvent(
                patient_id=patient.id or 0,
                clinic_id="north",
                plan_id=plan.id or 0,
                kind=PlanEventKind.CALL,
                step=4,
                detail=contact,
                at=NOW,
            )
        )
    async with db.transaction() as session:
        taken = await take(
            session,
            case_id=case_id,
            by=Taker.clinician(lee),
            action=CaseAction.RESOLVE,
            now=NOW - timedelta(days=1),
            clinic_of=clinic_of,
            note=resolution,
            not_reached="seen in clinic",
        )
        assert taken.outcome is TakeOutcome.DONE
    return patient


async def seed_two_patients(db: Database) -> tuple[Patient, Patient]:
    async with db.transaction() as session:
        await sync_clinics(
            session,
            clinics=[
                ClinicRow("north", "North", "UTC", "x"),
                ClinicRow("south", "South", "UTC", "x"),
            ],
            now=NOW,
        )
        lee = Clinician(
            clinic_id="north", name="Dr Lee", telegram_user_id=601, chat_id=601, created_at=NOW
        )
        session.add(lee)
        await session.flush()
    return await _patient(db, "P-1", 501, lee), await _patient(db, "P-2", 502, lee)


async def everything_of(db: Database, patient_id: int) -> str:
    """Every stored value of the patient's rows, as one text to search."""
    found: list[str] = []
    async with db.transaction() as session:
        found.append(repr((await session.get(Patient, patient_id)).model_dump()))  # type: ignore[union-attr]
        for model in (Answer, Case, CaseMessage, Outreach, SafetyPlan, SafetyPlanEvent, Invite):
            rows = await session.scalars(select(model).where(model.patient_id == patient_id))  # type: ignore[attr-defined]
            found.extend(repr(row.model_dump()) for row in rows)
        updates = await session.scalars(select(InboundUpdate))
        found.extend(repr(row.model_dump()) for row in updates)
    return "\n".join(found)


async def one_of(session: AsyncSession, model: type[T], patient_id: int) -> T:
    rows = await session.scalars(select(model).where(model.patient_id == patient_id))  # type: ignore[attr-defined]
    return rows.one()


async def erase_ref(db: Database, ref: str, clinic: ClinicConfig = NORTH) -> object:
    return await erase(db, clinic=clinic, ref=ref, basis=LegalBasis.REQUEST, actor=CLI, now=NOW)

"""Erasing a patient's words and contacts from the live database, keeping the structured
records the clinic must keep (answers' values other than free text, levels, cases and their
times, pages, outreach methods and outcomes) under the pseudonymous reference.

What is erased, per table (the inventory in README "Privacy"):
- patient: display name, phone, emergency contact (free text and structured), chat and
  Telegram user ids;
- answer: the free-text items' values (`note`, `message`) become "";
- escalation (case): the patient's quoted words and the resolution note;
- case_message: every message's text (the patient's and the clinicians' to them) becomes "";
- outreach: the attempt's note;
- safety_plan: every version's steps become six empty steps (inactive); safety_plan_event:
  the contact's name a Call tap copied;
- inbound_update: every stored update of their chat (raw Telegram JSON) is deleted;
- invite: their unused invites are deleted (the link no longer works).
The caller holds the patient's lock (`storage.patients.lock_patient`)."""

from __future__ import annotations

import json

from sqlalchemy import delete, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from storage.crypto.sealed import Public
from storage.models import (
    Answer,
    Case,
    CaseMessage,
    InboundUpdate,
    Invite,
    Outreach,
    Patient,
    SafetyPlan,
    SafetyPlanEvent,
)
from storage.models.core import FREE_TEXT_ITEMS

EMPTY_PLAN = Public(json.dumps([[] for _ in range(6)]))  # nobody's words


async def _count(session: AsyncSession, statement: object) -> int:
    result = await session.execute(statement)  # type: ignore[call-overload]
    return int(result.rowcount or 0)


async def erase_words_and_contacts(session: AsyncSession, *, patient: Patient) -> dict[str, int]:
    """Erase (see the module) and return how many rows of each kind were changed."""
    pid = patient.id
    assert pid is not None
    chat_id = patient.chat_id
    counts = {
        "answers": await _count(
            session,
            update(Answer)
            .where(col(Answer.patient_id) == pid, col(Answer.item_id).in_(FREE_TEXT_ITEMS))
            .values(value=""),
        ),
        "cases": await _count(
            session,
            update(Case)
            .where(col(Case.patient_id) == pid)
            .values(quote=None, resolution_note=None),
        ),
        "messages": await _count(
            session,
            update(CaseMessage).where(col(CaseMessage.patient_id) == pid).values(text=""),
        ),
        "outreach": await _count(
            session, update(Outreach).where(col(Outreach.patient_id) == pid).values(note=None)
        ),
        "safety_plans": await _count(
            session,
            update(SafetyPlan)
            .where(col(SafetyPlan.patient_id) == pid)
            .values(steps=EMPTY_PLAN, active=False),
        ),
        "safety_plan_events": await _count(
            session,
            update(SafetyPlanEvent)
            .where(col(SafetyPlanEvent.patient_id) == pid)
            .values(detail=None),
        ),
        "invites": await _count(
            session,
            delete(Invite).where(col(Invite.patient_id) == pid, col(Invite.used_at).is_(None)),
        ),
        "updates": 0,
    }
    if chat_id is not None:
        counts["updates"] = await _count(
            session, delete(InboundUpdate).where(col(InboundUpdate.chat_id) == chat_id)
        )
    patient.display_name = patient.emergency_contact = None
    patient.phone = patient.phone_e164 = None
    patient.emergency_name = patient.emergency_relation = None
    patient.emergency_phone = patient.emergency_phone_e164 = None
    patient.chat_id = patient.telegram_user_id = None
    session.add(patient)
    await session.flush()
    return counts

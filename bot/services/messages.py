"""Messages a patient types outside any question: every word kept, crisis words raised (§5)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from bot.clinic_config import ClinicConfig
from bot.domain import instruments
from bot.domain.crisis_terms import CrisisMatcher
from bot.domain.levels import Level
from bot.domain.triage import Finding
from bot.services.cases import RaisedCase, raise_case
from storage import audit
from storage.checkins import add_answer, last_message_at
from storage.models import Answer, Patient
from storage.states import CaseTrigger, patient_actor

FREE_TEXT_ITEM = "message"  # a message typed outside any check-in
BURST_GAP = timedelta(minutes=5)  # messages closer than this are one burst, answered once


_MATCHERS: dict[tuple[str, ...], CrisisMatcher] = {}


def crisis_words(clinic: ClinicConfig, text: str) -> list[str]:
    """The clinic's crisis terms found in a message (CLINICAL.md §5); a miss proves nothing."""
    key = tuple(clinic.crisis.terms)
    if key not in _MATCHERS:
        _MATCHERS[key] = CrisisMatcher(key)
    return _MATCHERS[key].find(text)


async def scan_for_crisis_words(
    session: AsyncSession,
    *,
    patient: Patient,
    clinic: ClinicConfig,
    text: str,
    now: datetime,
    checkin_id: int | None,
) -> tuple[list[str], RaisedCase | None]:
    """Crisis words raise at least moderate and ask a human to read the message (§5)."""
    words = crisis_words(clinic, text)
    if not words:
        return [], None
    finding = Finding(
        Level.MODERATE,
        f"crisis words in a message: {', '.join(words)} — please read the patient's words",
    )
    raised = await raise_case(
        session,
        patient=patient,
        level=Level.MODERATE,
        findings=[finding],
        trigger=CaseTrigger.MESSAGE,
        now=now,
        checkin_id=checkin_id,
        quote=text,
        fast_path=True,  # the handler pages it at once (bot.messaging.conversation.urgent)
    )
    return words, raised


@dataclass(frozen=True)
class Message:
    """A kept free-text message and what it raised."""

    answer: Answer
    words: tuple[str, ...]
    raised: RaisedCase | None
    in_burst: bool = False  # written within BURST_GAP of the patient's previous message


async def record_free_text(
    session: AsyncSession,
    *,
    patient: Patient,
    clinic: ClinicConfig,
    text: str,
    now: datetime,
    update_id: int | None,
    scan: bool = True,
) -> Message:
    """Keep a message typed outside any question; every word a patient sends is kept."""
    assert patient.id is not None
    previous = await last_message_at(session, patient_id=patient.id, item_id=FREE_TEXT_ITEM)
    answer = await add_answer(
        session,
        answer=Answer(
            patient_id=patient.id,
            checkin_id=None,
            item_id=FREE_TEXT_ITEM,
            value=text,
            instrument_id=instruments.checkin_items().id,
            instrument_version=instruments.checkin_items().version,
            answered_at=now,
            update_id=update_id,
        ),
    )
    await audit.append(
        session,
        at=now,
        actor=patient_actor(patient.id),
        event="message.received",
        clinic_id=patient.clinic_id,
        patient_id=patient.id,
        detail={"answer_id": answer.id, "length": len(text)},
    )
    words: list[str] = []
    raised = None
    if scan:
        words, raised = await scan_for_crisis_words(
            session, patient=patient, clinic=clinic, text=text, now=now, checkin_id=None
        )
    in_burst = previous is not None and now - previous <= BURST_GAP
    return Message(answer=answer, words=tuple(words), raised=raised, in_burst=in_burst)

"""Messages a patient types outside any question: every word kept, crisis words raised (§5);
and a case's thread (§10): a clinician writes to the patient through the bot, the patient's
messages join the thread while the case is open, and the thread closes with the case. Knows
nothing of Telegram or HTTP: what was delivered comes in as a `Delivery`. The words are kept
(`answer`, `case_message`); the audit gets lengths, never the words."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from bot.clinic_config import ClinicConfig
from bot.domain import instruments
from bot.domain.crisis_terms import CrisisMatcher
from bot.domain.delivery import Delivery, Outcome
from bot.domain.levels import Level
from bot.domain.triage import Finding
from bot.i18n import C_, current_language
from bot.services.cases import RaisedCase, raise_case
from bot.services.reaching import caring
from storage import audit
from storage.cases import (
    add_message,
    current_for_patient,
    get_case,
    patient_was_messaged,
    thread_of,
    writers_of,
)
from storage.checkins import add_answer, last_message_at
from storage.models import Answer, Case, CaseMessage, Clinician, Patient
from storage.patients import get_patient
from storage.states import (
    SERVICE,
    CaseStatus,
    CaseTrigger,
    MessageDirection,
    MessageStatus,
    clinician_actor,
    patient_actor,
)
from storage.views.reports import clinicians_by_ids

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
    """Keep a message typed outside any question; every word a patient sends is kept (the
    audit chain first: its row keyed to the patient must not wait for the chain)."""
    assert patient.id is not None
    await audit.hold_chain(session)
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
            language=current_language(),  # the language the patient was being spoken to in
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
        if raised is None and await caring.is_caring_reply(session, patient_id=patient.id, now=now):
            await _queue_caring_reply(session, patient=patient, text=text, now=now)
    in_burst = previous is not None and now - previous <= BURST_GAP
    return Message(answer=answer, words=tuple(words), raised=raised, in_burst=in_burst)


async def _queue_caring_reply(
    session: AsyncSession, *, patient: Patient, text: str, now: datetime
) -> None:
    """A reply to a caring message, crisis words aside, reaches the care team's queue as low
    (CLINICAL.md §12); paged by the ladder's queue rung on the next tick, never the fast path."""
    finding = Finding(Level.LOW, "reply to a caring message")
    await raise_case(
        session,
        patient=patient,
        level=Level.LOW,
        findings=[finding],
        trigger=CaseTrigger.MESSAGE,
        now=now,
        quote=text,
    )


# A case's thread (CLINICAL.md §10)

MAX_THREAD_TEXT = 3500  # Telegram takes 4,096 characters, the name and clinic go in front
MAX_ERROR = 300  # the column's size


@dataclass(frozen=True)
class Writable:
    """A case the clinician may write in: theirs (its clinic's), open, its patient in Telegram."""

    case: Case
    patient: Patient
    clinician: Clinician  # the writer's registration in the case's clinic


@dataclass(frozen=True)
class NotWritable:
    """Why not, one line safe to show the clinician; `found`: the case is theirs to see."""

    message: str
    found: bool


def _refusal(case_id: int) -> NotWritable:
    return NotWritable(C_("No case #{id} in your clinic.").format(id=case_id), found=False)


async def may_write(
    session: AsyncSession, *, case_id: int, by: tuple[Clinician, ...]
) -> Writable | NotWritable:
    """Whether one of `by` (a clinician's registrations) may write to the case's patient now;
    another clinic's case is answered as if it did not exist."""
    case = await get_case(session, case_id=case_id)
    mine = [c for c in by if case is not None and c.clinic_id == case.clinic_id and c.active]
    if case is None or not mine:
        return _refusal(case_id)
    patient = await get_patient(session, patient_id=case.patient_id)
    if patient is None or patient.clinic_id != case.clinic_id:
        return _refusal(case_id)
    if case.status == CaseStatus.RESOLVED:
        return NotWritable(
            C_("Case #{id} is resolved: its thread is closed.").format(id=case.id), found=True
        )
    if patient.chat_id is None:
        return NotWritable(
            C_("The patient of case #{id} has no Telegram chat with us yet: call instead.").format(
                id=case.id
            ),
            found=True,
        )
    return Writable(case=case, patient=patient, clinician=mine[0])


def check_text(text: str) -> str | None:
    """Why a message cannot be sent as written; None when it can."""
    if not text.strip():
        return C_("A message needs some text. Nothing was sent.")
    if len(text) > MAX_THREAD_TEXT:
        return C_("A message is at most {max} characters. Nothing was sent.").format(
            max=MAX_THREAD_TEXT
        )
    return None


async def record_written(
    session: AsyncSession, *, writable: Writable, text: str, delivery: Delivery, now: datetime
) -> CaseMessage:
    """Keep a clinician's message with what Telegram did with it, and audit it (the audit
    chain first: its row keyed to the case and patient must not wait for the chain)."""
    case, clinician = writable.case, writable.clinician
    assert case.id is not None and clinician.id is not None and writable.patient.id is not None
    await audit.hold_chain(session)
    sent = delivery.outcome is Outcome.SENT
    error = None if sent else (delivery.error or delivery.outcome.value)[:MAX_ERROR]
    message = await add_message(
        session,
        message=CaseMessage(
            case_id=case.id,
            clinic_id=case.clinic_id,
            patient_id=writable.patient.id,
            direction=MessageDirection.TO_PATIENT,
            clinician_id=clinician.id,
            text=text,
            status=MessageStatus.SENT if sent else MessageStatus.FAILED,
            error=error,
            telegram_message_id=delivery.message_id if sent else None,
            at=now,
        ),
    )
    await audit.append(
        session,
        at=now,
        actor=clinician_actor(clinician.id),
        event="case_message.sent" if sent else "case_message.not_delivered",
        clinic_id=case.clinic_id,
        patient_id=writable.patient.id,
        case_id=case.id,
        detail={
            "message_id": message.id,
            "length": len(text),
            **({} if sent else {"outcome": delivery.outcome.value}),
        },
    )
    return message


@dataclass(frozen=True)
class Attached:
    """A patient's message joined to their open case's thread, and who wrote to them there."""

    case_id: int
    message: CaseMessage
    writers: tuple[Clinician, ...]  # the clinicians to send it to (in Telegram)


async def attach_patient_message(
    session: AsyncSession, *, patient: Patient, text: str, now: datetime
) -> Attached | None:
    """While the patient has an unresolved case, their message joins its thread (after triage:
    a case their words just raised counts); None when no case is open."""
    assert patient.id is not None
    case = await current_for_patient(session, patient_id=patient.id)
    if case is None or case.id is None:
        return None
    message = await add_message(
        session,
        message=CaseMessage(
            case_id=case.id,
            clinic_id=case.clinic_id,
            patient_id=patient.id,
            direction=MessageDirection.FROM_PATIENT,
            text=text,
            status=MessageStatus.RECEIVED,
            at=now,
        ),
    )
    await audit.append(
        session,
        at=now,
        actor=patient_actor(patient.id),
        event="case_message.received",
        clinic_id=case.clinic_id,
        patient_id=patient.id,
        case_id=case.id,
        detail={"message_id": message.id, "length": len(text)},
    )
    writers = await writers_of(session, case_id=case.id)
    return Attached(case_id=case.id, message=message, writers=tuple(writers))


@dataclass(frozen=True)
class ThreadClosed:
    """A resolved case whose patient was written to: tell them the thread is closed."""

    case_id: int
    clinic_id: str
    chat_id: int


async def close_thread(session: AsyncSession, *, case: Case, now: datetime) -> ThreadClosed | None:
    """On resolve: when a clinician's message reached the patient in this case, the patient is
    told (once, as the case resolves once) that messages are read in clinic hours again; a
    patient nobody wrote to was never told anyone reads the thread, so nothing is said."""
    assert case.id is not None
    if case.status != CaseStatus.RESOLVED:
        return None
    if not await patient_was_messaged(session, case_id=case.id):
        return None
    patient = await get_patient(session, patient_id=case.patient_id)
    if patient is None or patient.chat_id is None:
        return None
    await audit.append(
        session,
        at=now,
        actor=clinician_actor(case.resolved_by) if case.resolved_by else SERVICE,
        event="case_message.thread_closed",
        clinic_id=case.clinic_id,
        patient_id=case.patient_id,
        case_id=case.id,
        detail={},
    )
    return ThreadClosed(case_id=case.id, clinic_id=case.clinic_id, chat_id=patient.chat_id)


@dataclass(frozen=True)
class ThreadLine:
    """One message as the console shows it."""

    id: int
    at: datetime
    from_patient: bool
    writer: str | None  # the clinician's name, for their messages
    text: str
    delivered: bool  # a clinician's message reached the chat; always True for the patient's
    error: str | None


@dataclass(frozen=True)
class Thread:
    case_id: int
    lines: tuple[ThreadLine, ...]  # oldest first
    open: bool  # the case is unresolved: the thread takes messages
    reachable: bool  # the patient has a Telegram chat


async def case_thread(session: AsyncSession, *, clinic_id: str, case_id: int) -> Thread | None:
    """The thread of a case of this clinic; None for any other clinic's (or no) case."""
    case = await get_case(session, case_id=case_id)
    if case is None or case.clinic_id != clinic_id or case.id is None:
        return None
    patient = await get_patient(session, patient_id=case.patient_id)
    messages = await thread_of(session, case_id=case.id)
    ids = sorted({m.clinician_id for m in messages if m.clinician_id is not None})
    names = {c.id: c.name for c in await clinicians_by_ids(session, ids=ids)}
    lines = tuple(
        ThreadLine(
            id=m.id or 0,
            at=m.at,
            from_patient=m.direction == MessageDirection.FROM_PATIENT,
            writer=names.get(m.clinician_id) if m.clinician_id is not None else None,
            text=m.text,
            delivered=m.status != MessageStatus.FAILED,
            error=m.error,
        )
        for m in messages
    )
    return Thread(
        case_id=case.id,
        lines=lines,
        open=case.status != CaseStatus.RESOLVED,
        reachable=patient is not None and patient.chat_id is not None,
    )

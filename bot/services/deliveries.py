"""What a delivery did, recorded: a check-in's first question, a later question, a reminder,
the crisis card, the daily digest (no Telegram here: the send's result arrives as a
`Delivery`). Each function runs in the caller's transaction; the audit events' names and
details are part of the audit chain and stay as they are."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from bot.clinic_config import ClinicConfig
from bot.domain import checkin_flow
from bot.domain.delivery import Delivery, Outcome
from bot.domain.levels import Level
from bot.domain.triage import Finding
from bot.services import checkin_states
from bot.services.cases import raise_case
from bot.services.patients import mark_unreachable
from storage import audit
from storage.checkins import (
    checkins_by_ids,
    get_checkin,
    open_checkins_of,
    release,
    set_message_id,
)
from storage.models import Checkin, Patient
from storage.states import BOT, DISPATCHER, PAGER, CaseTrigger, CheckinStatus

ClinicOf = Callable[[str], ClinicConfig]  # a clinic's settings by its id (AppContext.clinic)
RETRY_SOON = timedelta(seconds=5)  # when Telegram asked for a retry without saying when


@dataclass(frozen=True)
class FirstQuestion:
    """One claimed check-in's first question, sent: to whom, and what the send did."""

    checkin_id: int
    patient: Patient
    delivery: Delivery


def _detail(item_id: str, delivery: Delivery) -> dict[str, str]:
    return {"item": item_id, "error": delivery.error} if delivery.error else {"item": item_id}


async def record_question(
    session: AsyncSession,
    *,
    patient: Patient,
    checkin_id: int,
    item_id: str,
    delivery: Delivery,
    now: datetime,
) -> None:
    """A question of an open check-in was sent: it is now the check-in's current message."""
    # The chain first, then the check-in's row: the order every writer keeps (a tap on this
    # check-in holds the chain, then locks the row; the other order deadlocks on PostgreSQL).
    await audit.append(
        session,
        at=now,
        actor=BOT,
        event=f"prompt.{delivery.outcome}",
        clinic_id=patient.clinic_id,
        patient_id=patient.id,
        checkin_id=checkin_id,
        detail=_detail(item_id, delivery),
    )
    if delivery.message_id is not None:
        await set_message_id(session, checkin_id=checkin_id, message_id=delivery.message_id)


async def record_crisis_card(
    session: AsyncSession,
    *,
    patient: Patient,
    checkin_id: int | None,
    outcome: Outcome,
    trigger: str,
    now: datetime,
) -> None:
    """The crisis card's send (CLINICAL.md §7); undelivered, the check-in shows it again."""
    if outcome is not Outcome.SENT and checkin_id is not None:
        await checkin_states.crisis_card_undelivered(session, checkin_id=checkin_id)
    await audit.append(
        session,
        at=now,
        actor=BOT,
        event=f"crisis_card.{outcome}",
        clinic_id=patient.clinic_id,
        patient_id=patient.id,
        checkin_id=checkin_id,
        detail={"trigger": trigger},
    )


async def record_missed_unsent(
    session: AsyncSession,
    *,
    checkin: Checkin,
    patient: Patient,
    clinic: ClinicConfig,
    now: datetime,
) -> None:
    """Never delivered in its window: for the patient's safety it counts as missed."""
    checkin.last_error = checkin.last_error or "answer window closed before sending"
    await checkin_states.close_checkin(
        session,
        checkin=checkin,
        patient=patient,
        clinic=clinic,
        now=now,
        actor=DISPATCHER,
        status=CheckinStatus.MISSED,
    )
    await audit.append(
        session,
        at=now,
        actor=DISPATCHER,
        event="checkin.missed_unsent",
        clinic_id=patient.clinic_id,
        patient_id=patient.id,
        checkin_id=checkin.id,
        detail={"due_at": checkin.due_at},
    )


async def record_first_questions(
    session: AsyncSession, *, sent: Sequence[FirstQuestion], clinic_of: ClinicOf, now: datetime
) -> None:
    """A batch of first questions' outcomes, each check-in's state and lease, one audit batch."""
    rows = await checkins_by_ids(session, ids=[s.checkin_id for s in sent])
    reached = [s.patient.id or 0 for s in sent if s.delivery.outcome is Outcome.SENT]
    older = await open_checkins_of(session, patient_ids=reached)
    entries: list[audit.Entry] = []
    for one in sent:
        row = rows[one.checkin_id]
        await _record_first(session, row, one, clinic_of(one.patient.clinic_id), now, older)
        if one.delivery.outcome is Outcome.NOT_SENT:
            continue
        entries.append(
            audit.Entry(
                at=now,
                actor=DISPATCHER,
                event=f"prompt.{one.delivery.outcome}",
                clinic_id=one.patient.clinic_id,
                patient_id=one.patient.id,
                checkin_id=row.id,
                detail=_detail(checkin_flow.MOOD, one.delivery),
            )
        )
    await audit.append_many(session, entries)


async def _record_first(
    session: AsyncSession,
    row: Checkin,
    sent: FirstQuestion,
    clinic: ClinicConfig,
    now: datetime,
    older: list[Checkin],
) -> None:
    """One check-in's send outcome, in the batch's recording transaction."""
    patient, delivery = sent.patient, sent.delivery
    if delivery.outcome is Outcome.NOT_SENT:
        await release(session, checkin=row)
        return
    row.attempts += 1
    if row.status != CheckinStatus.SCHEDULED:
        # Moved on while the batch was out: the patient answered first (the tap proved the
        # question arrived, whatever this call said) or the check-in was cancelled.
        if row.message_id is None and delivery.message_id is not None:
            row.message_id = delivery.message_id
        if delivery.outcome is Outcome.SENT and CheckinStatus(row.status).is_open:
            await _close_older(session, row, patient, clinic, now, older)
        await release(session, checkin=row)
        return
    if delivery.outcome is Outcome.SENT:
        await _close_older(session, row, patient, clinic, now, older)
        checkin_states.mark_sent(
            row, patient=patient, clinic=clinic, now=now, message_id=delivery.message_id
        )
        await release(session, checkin=row)
    elif delivery.outcome is Outcome.RETRY:
        row.last_error = delivery.error
        await release(session, checkin=row, retry_at=now + (delivery.retry_after or RETRY_SOON))
    else:
        checkin_states.fail(row, now=now, error=delivery.error)
        await release(session, checkin=row)
        if delivery.outcome is Outcome.UNREACHABLE:
            assert patient.id is not None
            await mark_unreachable(
                session, patient_id=patient.id, clinic=clinic, now=now, error=delivery.error
            )
        else:  # refused for good: the patient was not contacted, so a human looks
            reason = f"check-in #{row.id} could not be delivered: {delivery.error}"
            await raise_case(
                session,
                patient=patient,
                level=Level.LOW,
                trigger=CaseTrigger.NON_RESPONSE,
                now=now,
                checkin_id=row.id,
                findings=[Finding(Level.LOW, reason)],
            )


async def _close_older(
    session: AsyncSession,
    row: Checkin,
    patient: Patient,
    clinic: ClinicConfig,
    now: datetime,
    older: list[Checkin],
) -> None:
    """One conversation at a time: a check-in that reached the patient closes older ones."""
    for previous in older:
        same_patient = previous.patient_id == patient.id and previous.id != row.id
        if same_patient and CheckinStatus(previous.status).is_open:
            await checkin_states.close_checkin(
                session, checkin=previous, patient=patient, clinic=clinic, now=now, actor=DISPATCHER
            )


async def hand_back(session: AsyncSession, *, checkin_id: int) -> None:
    """A claimed check-in not sent (shutting down): free for the next claim, here or elsewhere."""
    row = await get_checkin(session, checkin_id=checkin_id)
    if row is not None:
        await release(session, checkin=row)


async def record_reminder(
    session: AsyncSession,
    *,
    checkin_id: int,
    patient: Patient,
    clinic: ClinicConfig,
    delivery: Delivery,
    now: datetime,
) -> None:
    """A reminder's send: one reminder only, sent or refused for good; a retry waits."""
    row = await get_checkin(session, checkin_id=checkin_id)
    assert row is not None
    row.lease_owner = None
    if delivery.outcome is Outcome.RETRY:
        row.lease_until = now + (delivery.retry_after or RETRY_SOON)
        return
    row.lease_until = None
    row.reminded_at = now
    if delivery.message_id is not None:
        row.message_id = delivery.message_id
    await audit.append(
        session,
        at=now,
        actor=DISPATCHER,
        event=f"reminder.{delivery.outcome}",
        clinic_id=patient.clinic_id,
        patient_id=patient.id,
        checkin_id=checkin_id,
        detail={"error": delivery.error} if delivery.error else {},
    )
    if delivery.outcome is Outcome.UNREACHABLE:
        assert patient.id is not None
        await mark_unreachable(
            session, patient_id=patient.id, clinic=clinic, now=now, error=delivery.error
        )


async def record_digest(
    session: AsyncSession,
    *,
    clinic_id: str,
    cases: int,
    recipients: int,
    delivered: int,
    now: datetime,
) -> None:
    """A clinic's daily digest went out: to how many, about how many open cases."""
    await audit.append(
        session,
        at=now,
        actor=PAGER,
        event="digest.sent",
        clinic_id=clinic_id,
        detail={"cases": cases, "recipients": recipients, "delivered": delivered},
    )


async def record_patient_notice(
    session: AsyncSession,
    *,
    patient: Patient,
    case_id: int,
    outcome: Outcome,
    paged: bool,
    now: datetime,
    corrected: bool = False,
) -> None:
    """The patient was told what happens next (`paged`: that someone was paged), or not;
    `corrected`: told that a page got through after all, once they had read it may not."""
    await audit.append(
        session,
        at=now,
        actor=PAGER,
        event=f"patient_notice.{outcome}",
        clinic_id=patient.clinic_id,
        patient_id=patient.id,
        case_id=case_id,
        detail={"paged": paged, **({"corrected": True} if corrected else {})},
    )


async def owes_paged_correction(session: AsyncSession, *, patient_id: int, case_id: int) -> bool:
    """The patient read "nobody may see this soon" for this case and has not been told since
    that someone was paged (nor was a correction tried: it is said once)."""
    owed = False
    notices = await audit.case_events(
        session, patient_id=patient_id, case_id=case_id, prefix="patient_notice."
    )
    for event in notices:
        detail = json.loads(event.detail or "{}")
        if detail.get("corrected") or (
            detail.get("paged") and event.event == f"patient_notice.{Outcome.SENT}"
        ):
            owed = False
        elif event.event == f"patient_notice.{Outcome.SENT}":
            owed = True
    return owed

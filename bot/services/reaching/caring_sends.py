"""Caring messages out: what a claimed batch sends now, and every outcome recorded.

A claimed message outside its patient's send window or inside quiet hours (held by an open
case, or the dispatcher was down) is moved to its minute in the next window. Two due together
for one patient (a long pause) become one: the latest is sent, the older dropped as overtaken.
`caring.sent` is audited with the track and number, never the text.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from bot.clinic_config import ClinicConfig
from bot.domain import caring
from bot.domain.delivery import Delivery, Outcome
from bot.i18n import use_language
from bot.i18n.resolve import patient_language
from bot.services.patients import mark_unreachable
from bot.services.reaching.caring import finish_if_done
from storage import audit
from storage.models import Patient
from storage.models.care import CaringMessage
from storage.patients import patients_by_ids
from storage.states import DISPATCHER, CaringStatus, PatientStatus

ClinicOf = Callable[[str], ClinicConfig]


@dataclass(frozen=True)
class CaringSend:
    """A claimed caring message to send now: the row, its patient, the text as it will read."""

    message: CaringMessage
    patient: Patient
    text: str


def _drop(message: CaringMessage, error: str) -> None:
    message.status, message.error = CaringStatus.DROPPED, error
    message.lease_owner = message.lease_until = None


async def to_send(
    session: AsyncSession, *, claimed: Sequence[CaringMessage], clinic_of: ClinicOf, now: datetime
) -> list[CaringSend]:
    """The claimed messages that go out now (one per patient); the rest moved or dropped."""
    patients = await patients_by_ids(session, ids=[m.patient_id for m in claimed])
    latest: dict[int, CaringMessage] = {}
    for message in claimed:
        patient = patients[message.patient_id]
        clinic = clinic_of(patient.clinic_id)
        zone, window = ZoneInfo(patient.timezone), clinic.caring.window()
        if patient.status != PatientStatus.ACTIVE or patient.chat_id is None:
            message.lease_owner = message.lease_until = None  # the claim re-checks later
            continue
        if not caring.sendable_now(now, zone, window, clinic.quiet()):
            message.due_at = caring.next_slot(
                after=now,
                track_id=message.track_id,
                number=message.number,
                zone=zone,
                window=window,
                quiet=clinic.quiet(),
            )
            message.lease_owner = message.lease_until = None
            continue
        other = latest.get(message.patient_id)
        if other is not None:
            older, message = sorted((other, message), key=lambda m: (m.track_id, m.number))
            _drop(older, f"overtaken by message {message.number}")
        latest[message.patient_id] = message
    return [_in_their_language(m, patients[m.patient_id], clinic_of) for m in latest.values()]


def _in_their_language(message: CaringMessage, patient: Patient, clinic_of: ClinicOf) -> CaringSend:
    """The message's text in the patient's language (issue 29)."""
    clinic = clinic_of(message.clinic_id)
    with use_language(patient_language(patient, clinic.language)):
        return CaringSend(message, patient, clinic.caring.text_of(message.number))


async def record(
    session: AsyncSession,
    *,
    sent: Sequence[tuple[CaringSend, Delivery]],
    clinic_of: ClinicOf,
    now: datetime,
) -> None:
    """Every outcome of a batch, in one transaction; the leases handed back.

    The audit chain comes first (one lock order for every writer): a message's UPDATE, or
    an unreachable patient's, would otherwise lock its row before the audit, while a /stop
    or an erasure holds the chain and then locks the same rows."""
    if sent:
        await audit.hold_chain(session)
    for item, delivery in sent:
        message = await session.merge(item.message)
        message.lease_owner = None
        if delivery.outcome is Outcome.SENT:
            message.status, message.sent_at, message.text = CaringStatus.SENT, now, item.text
            message.telegram_message_id, message.lease_until = delivery.message_id, None
            await audit.append(
                session,
                at=now,
                actor=DISPATCHER,
                event="caring.sent",
                clinic_id=message.clinic_id,
                patient_id=message.patient_id,
                detail={"track": message.track_id, "number": message.number},
            )
            await finish_if_done(session, track_id=message.track_id, now=now)
        elif delivery.outcome is Outcome.UNREACHABLE:
            message.lease_until = None
            await mark_unreachable(  # stops the track too, dropping this message
                session,
                patient_id=message.patient_id,
                clinic=clinic_of(message.clinic_id),
                now=now,
                error=delivery.error,
            )
        elif delivery.outcome is Outcome.FAILED:
            _drop(message, (delivery.error or "refused")[:300])
            await finish_if_done(session, track_id=message.track_id, now=now)
        elif delivery.outcome is Outcome.RETRY and delivery.retry_after is not None:
            message.lease_until = now + delivery.retry_after  # others keep off it until then
        else:
            message.lease_until = None

"""The clinic's side of an update that cannot be processed: it is set aside, and the clinic told."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain.levels import Level
from bot.domain.triage import Finding
from bot.services.cases import RaisedCase, raise_case
from storage import audit, inbox
from storage.models import Patient
from storage.people import patient_by_chat
from storage.states import BOT, Actor, CaseTrigger, PatientStatus


@dataclass(frozen=True)
class Parked:
    """An update set aside, whose patient it came from (if a patient), and the case it raised."""

    update_id: int
    patient: Patient | None
    raised: RaisedCase | None


async def park_update(
    session: AsyncSession, *, update_id: int, chat_id: int, error: str, now: datetime
) -> Parked | None:
    """Park an update that failed every try; a patient's clinic gets a low case to look at it.

    None when it was no longer pending (processed or parked meanwhile).
    """
    await audit.hold_chain(session)  # before the update's row, as every writer (an erasure)
    if not await inbox.park(session, update_id=update_id, error=error, now=now):
        return None
    patient = await patient_by_chat(session, chat_id=chat_id) if chat_id else None
    await audit.append(
        session,
        at=now,
        actor=BOT,
        event="update.parked",
        clinic_id=patient.clinic_id if patient else None,
        patient_id=patient.id if patient else None,
        detail={"update_id": update_id, "error": error.split(":")[0]},
    )
    raised = None
    if patient is not None and patient.status is not PatientStatus.INVITED:
        finding = Finding(
            Level.LOW,
            f"a message from the patient could not be processed and was set aside (update "
            f"{update_id}): please read it with `aftercare intake show` and contact the patient",
        )
        raised = await raise_case(
            session,
            patient=patient,
            level=Level.LOW,
            findings=[finding],
            trigger=CaseTrigger.UNPROCESSED,
            now=now,
        )
    return Parked(update_id=update_id, patient=patient, raised=raised)


async def requeue_update(
    session: AsyncSession, *, update_id: int, actor: Actor, now: datetime
) -> bool:
    """Put a parked update back in line (its fault mended); False if none is parked so."""
    if not await inbox.requeue(session, update_id=update_id, now=now):
        return False
    await audit.append(
        session, at=now, actor=actor, event="update.requeued", detail={"update_id": update_id}
    )
    return True

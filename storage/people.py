"""Looking up who a Telegram user is: a patient, a clinician, or nobody."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from storage.models import Clinician, Patient


async def patient_by_chat(session: AsyncSession, *, chat_id: int) -> Patient | None:
    result = await session.scalars(select(Patient).where(col(Patient.chat_id) == chat_id))
    return result.first()


async def clinicians_by_user(session: AsyncSession, *, telegram_user_id: int) -> list[Clinician]:
    """Every active clinician registration of this Telegram account (one per clinic)."""
    result = await session.scalars(
        select(Clinician)
        .where(col(Clinician.telegram_user_id) == telegram_user_id, col(Clinician.active).is_(True))
        .order_by(col(Clinician.id))
    )
    return list(result.all())

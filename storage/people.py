"""Looking up who a Telegram user is: a patient, a clinician, or nobody."""

from __future__ import annotations

from sqlalchemy import BigInteger, bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from storage.models import Clinician, Patient

# Built once, bound on each call: every update a person sends looks them up (issue 32).
_PATIENT_BY_CHAT = select(Patient).where(
    col(Patient.chat_id) == bindparam("people_chat", type_=BigInteger)
)
_CLINICIANS_BY_USER = (
    select(Clinician)
    .where(
        col(Clinician.telegram_user_id) == bindparam("people_user", type_=BigInteger),
        col(Clinician.active).is_(True),
    )
    .order_by(col(Clinician.id))
)


async def patient_by_chat(session: AsyncSession, *, chat_id: int) -> Patient | None:
    result = await session.scalars(_PATIENT_BY_CHAT, {"people_chat": chat_id})
    return result.first()


async def clinicians_by_user(session: AsyncSession, *, telegram_user_id: int) -> list[Clinician]:
    """Every active clinician registration of this Telegram account (one per clinic)."""
    result = await session.scalars(_CLINICIANS_BY_USER, {"people_user": telegram_user_id})
    return list(result.all())

"""Read-only queries behind the mood chart (bot/services/mood_chart.py)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from storage.models import Answer, Checkin, Infusion
from storage.states import InfusionStatus, Level


@dataclass(frozen=True)
class CheckinAnswer:
    """One answer of a check-in, with the check-in's level."""

    checkin_id: int
    risk_level: Level
    item_id: str
    value: str
    answered_at: datetime


async def checkin_answers(
    session: AsyncSession, *, patient_id: int, since: datetime, until: datetime
) -> list[CheckinAnswer]:
    """Every answer to the patient's check-ins due in [since, until], check-in by check-in.

    One SELECT over answer joined to check-in; late answers kept beside a closed check-in
    (no `checkin_id`) are not a check-in's and are left out.
    """
    rows = await session.execute(
        select(
            col(Answer.checkin_id),
            col(Checkin.risk_level),
            col(Answer.item_id),
            col(Answer.value),
            col(Answer.answered_at),
        )
        .join(Checkin, col(Checkin.id) == col(Answer.checkin_id))
        .where(
            col(Checkin.patient_id) == patient_id,  # the join implies the answers' patient
            col(Checkin.due_at) >= since,
            col(Checkin.due_at) <= until,
        )
        .order_by(col(Checkin.due_at), col(Checkin.id), col(Answer.id))
    )
    return [
        CheckinAnswer(checkin_id, Level(level), item_id, value, answered_at)
        for checkin_id, level, item_id, value, answered_at in rows.tuples()
        if checkin_id is not None  # always, by the join; says so to the type checker
    ]


async def infusion_ends(
    session: AsyncSession, *, patient_id: int, since: datetime, until: datetime
) -> list[datetime]:
    """When the patient's active (not cancelled) infusions ended within [since, until]."""
    rows = await session.scalars(
        select(col(Infusion.ended_at))
        .where(
            col(Infusion.patient_id) == patient_id,
            col(Infusion.status) == InfusionStatus.ACTIVE,
            col(Infusion.ended_at) >= since,
            col(Infusion.ended_at) <= until,
        )
        .order_by(col(Infusion.ended_at))
    )
    return list(rows.all())

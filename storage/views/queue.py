"""Reads behind the console's case queue: the check-ins behind many cases at once."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import BindParameter, bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from storage.models import Answer, Case, Checkin, Infusion


async def case_in_clinic(session: AsyncSession, *, clinic_id: str, case_id: int) -> Case | None:
    """One case, only if it belongs to this clinic."""
    return (
        await session.scalars(
            select(Case).where(col(Case.id) == case_id, col(Case.clinic_id) == clinic_id)
        )
    ).first()


_IDS: BindParameter[list[int]] = bindparam("queue_ids", expanding=True)
_INFUSION_IDS: BindParameter[list[int]] = bindparam("queue_infusion_ids", expanding=True)
# Built once (statement building was a tenth of the queue's own time; issue 32).
_CHECKINS = select(Checkin).where(col(Checkin.id).in_(_IDS))
_ANSWERS = (
    select(col(Answer.checkin_id), col(Answer.item_id), col(Answer.value))
    .where(col(Answer.checkin_id).in_(_IDS))
    .order_by(col(Answer.answered_at), col(Answer.id))
)
_INFUSIONS = select(Infusion).where(col(Infusion.id).in_(_INFUSION_IDS))


async def checkins_with_answers(
    session: AsyncSession, *, checkin_ids: Sequence[int]
) -> tuple[dict[int, Checkin], dict[int, dict[str, str]], dict[int, Infusion]]:
    """These check-ins, their answers in the order given, and their infusions (three queries,
    however many check-ins)."""
    ids = sorted(set(checkin_ids))
    if not ids:
        return {}, {}, {}
    found = await session.scalars(_CHECKINS, {"queue_ids": ids})
    checkins = {c.id: c for c in found.all() if c.id is not None}
    answers: dict[int, dict[str, str]] = {i: {} for i in checkins}
    rows = await session.execute(_ANSWERS, {"queue_ids": ids})
    for checkin_id, item, value in rows.tuples():
        if checkin_id is not None:
            answers.setdefault(checkin_id, {})[item] = value
    infusion_ids = sorted({c.infusion_id for c in checkins.values() if c.infusion_id is not None})
    infusions = {}
    if infusion_ids:
        kept = await session.scalars(_INFUSIONS, {"queue_infusion_ids": infusion_ids})
        infusions = {i.id: i for i in kept.all() if i.id is not None}
    return checkins, answers, infusions

"""Reads behind the console's case queue: the check-ins behind many cases at once."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
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


async def checkins_with_answers(
    session: AsyncSession, *, checkin_ids: Sequence[int]
) -> tuple[dict[int, Checkin], dict[int, dict[str, str]], dict[int, Infusion]]:
    """These check-ins, their answers in the order given, and their infusions (three queries,
    however many check-ins)."""
    ids = sorted(set(checkin_ids))
    if not ids:
        return {}, {}, {}
    checkins = {
        c.id: c
        for c in (await session.scalars(select(Checkin).where(col(Checkin.id).in_(ids)))).all()
        if c.id is not None
    }
    answers: dict[int, dict[str, str]] = {i: {} for i in checkins}
    rows = await session.execute(
        select(col(Answer.checkin_id), col(Answer.item_id), col(Answer.value))
        .where(col(Answer.checkin_id).in_(ids))
        .order_by(col(Answer.answered_at), col(Answer.id))
    )
    for checkin_id, item, value in rows.tuples():
        if checkin_id is not None:
            answers.setdefault(checkin_id, {})[item] = value
    infusion_ids = {c.infusion_id for c in checkins.values() if c.infusion_id is not None}
    infusions = {}
    if infusion_ids:
        infusions = {
            i.id: i
            for i in (
                await session.scalars(select(Infusion).where(col(Infusion.id).in_(infusion_ids)))
            ).all()
            if i.id is not None
        }
    return checkins, answers, infusions

"""Queries on infusions."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from storage.models import Infusion
from storage.states import InfusionStatus


async def add_infusion(session: AsyncSession, *, infusion: Infusion) -> Infusion:
    session.add(infusion)
    await session.flush()
    return infusion


async def get_infusion(session: AsyncSession, *, infusion_id: int) -> Infusion | None:
    return await session.get(Infusion, infusion_id, populate_existing=True)


async def active_infusions_of(session: AsyncSession, *, patient_id: int) -> list[Infusion]:
    rows = await session.scalars(
        select(Infusion)
        .where(
            col(Infusion.patient_id) == patient_id, col(Infusion.status) == InfusionStatus.ACTIVE
        )
        .order_by(col(Infusion.ended_at))
    )
    return list(rows.all())


async def active_infusions_of_patients(
    session: AsyncSession, *, patient_ids: Sequence[int]
) -> dict[int, list[Infusion]]:
    """The active infusions of these patients, each patient's oldest first."""
    found: dict[int, list[Infusion]] = {pid: [] for pid in patient_ids}
    for start in range(0, len(patient_ids), 5000):
        rows = await session.scalars(
            select(Infusion)
            .where(
                col(Infusion.patient_id).in_(patient_ids[start : start + 5000]),
                col(Infusion.status) == InfusionStatus.ACTIVE,
            )
            .order_by(col(Infusion.patient_id), col(Infusion.ended_at))
        )
        for row in rows.all():
            found[row.patient_id].append(row)
    return found


async def infusions_by_ids(session: AsyncSession, *, ids: Sequence[int]) -> dict[int, Infusion]:
    if not ids:
        return {}
    rows = await session.scalars(select(Infusion).where(col(Infusion.id).in_(set(ids))))
    return {i.id: i for i in rows.all() if i.id is not None}

"""Clinicians by id: the names on case cards, pages and their news."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from storage.models import Clinician


async def clinicians_by_ids(session: AsyncSession, *, ids: list[int]) -> list[Clinician]:
    if not ids:
        return []
    rows = await session.scalars(select(Clinician).where(col(Clinician.id).in_(ids)))
    return list(rows.all())

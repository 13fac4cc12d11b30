"""Every query on installed instrument files (one row per instrument, version and language)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from storage.models import InstrumentFile


async def instrument_file(
    session: AsyncSession, *, instrument_id: str, version: str, language: str
) -> InstrumentFile | None:
    """The installed file of this instrument version in this language, if any."""
    return (
        await session.scalars(
            select(InstrumentFile).where(
                col(InstrumentFile.instrument_id) == instrument_id,
                col(InstrumentFile.version) == version,
                col(InstrumentFile.language) == language,
            )
        )
    ).first()


async def add_instrument_file(session: AsyncSession, *, row: InstrumentFile) -> InstrumentFile:
    session.add(row)
    await session.flush()
    return row


async def instrument_files(session: AsyncSession) -> list[InstrumentFile]:
    """Every installed file, by instrument, version and language."""
    rows = await session.scalars(
        select(InstrumentFile).order_by(
            col(InstrumentFile.instrument_id),
            col(InstrumentFile.version),
            col(InstrumentFile.language),
        )
    )
    return list(rows.all())


async def instrument_file_keys(session: AsyncSession) -> frozenset[tuple[int, str]]:
    """What is installed, as (id, sha256) pairs: the settings poll's cheap look for a change
    (no file contents read)."""
    rows = await session.execute(select(col(InstrumentFile.id), col(InstrumentFile.sha256)))
    return frozenset((int(i), str(sha)) for i, sha in rows.all())

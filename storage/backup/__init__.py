"""Consistent copies of a live database: SQLite's online backup API (`storage.backup.sqlite`)
or `pg_dump` (`storage.backup.postgres`).

A copy is written next to its destination under a temporary name, synced, then renamed,
so an interrupted backup never leaves a half-written file at the destination.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url

from storage import audit
from storage.engine import Database
from storage.migrate import current_revision


class BackupError(Exception):
    """The copy could not be made; the message is one line for the operator."""


@dataclass(frozen=True)
class BackupInfo:
    """What a backup holds: where it is, its size, its schema revision and its audit head."""

    path: Path
    size: int
    revision: str | None
    head: audit.Head | None


def is_sqlite(url: str) -> bool:
    """Whether `url` names a SQLite database (else PostgreSQL)."""
    return make_url(url).get_backend_name() == "sqlite"


def sync_and_rename(partial: Path, dest: Path) -> int:
    """Sync `partial`, rename it to `dest`, sync the directory; returns the size written."""
    with partial.open("rb") as written:
        os.fsync(written.fileno())
        size = os.fstat(written.fileno()).st_size
    os.replace(partial, dest)
    directory = os.open(dest.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
    return size


def partial_path(dest: Path) -> Path:
    """Where a copy is written until it is complete: hidden, beside `dest`."""
    return dest.with_name(f".{dest.name}.partial-{os.getpid()}")


async def read_state(db: Database) -> tuple[str | None, audit.Head | None]:
    """A database's schema revision and audit head (None, None when it has no schema)."""
    revision = await current_revision(db)
    if revision is None:
        return None, None
    async with db.transaction() as session:
        return revision, await audit.head(session)

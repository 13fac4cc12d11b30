"""Publishing the audit chain's head, so an operator can keep it where the database cannot.

Deleting the newest audit rows leaves a shorter chain that still verifies. A head recorded
elsewhere (this log line shipped off the host, the metrics, or AFTERCARE_AUDIT_HEAD_FILE on
another disk) makes that visible: `aftercare audit verify --head HASH` fails when the head is
no longer in the chain.

The file gets one line per publication: `<UTC ISO time> <id> <hash>`; an empty chain is
published as id 0 with the genesis hash.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from bot.settings import Settings
from storage import audit
from storage.engine import Database

log = logging.getLogger(__name__)

_LINE = re.compile(r"(?P<at>\S+) (?P<id>\d+) (?P<hash>[0-9a-f]{64})")


class HeadFileError(Exception):
    """The head file cannot be read, or its last line is not `<time> <id> <hash>`."""


@dataclass(frozen=True)
class PublishedHead:
    """One published head: when, the newest row's id (0: empty chain) and its hash."""

    at: datetime
    id: int
    hash: str

    def line(self) -> str:
        return f"{self.at.astimezone(UTC).isoformat()} {self.id} {self.hash}"


async def publish_head(
    db: Database, settings: Settings, *, now: datetime | None = None
) -> PublishedHead:
    """Read the head, log `audit.head id=N hash=H`, and append it to the head file if set.

    Database errors propagate (call it where they are already handled); a head file that
    cannot be written is logged as an error and otherwise ignored, so the bot keeps running.
    """
    async with db.transaction() as session:
        current = await audit.head(session)
    published = PublishedHead(
        at=now or datetime.now(UTC),
        id=current.id if current else 0,
        hash=current.hash if current else audit.GENESIS,
    )
    log.info("audit.head id=%d hash=%s", published.id, published.hash)
    if settings.audit_head_file is not None:
        try:
            await asyncio.to_thread(append_line, settings.audit_head_file, published.line())
        except OSError as exc:
            log.error("audit.head_file_failed path=%s error=%s", settings.audit_head_file, exc)
    return published


def append_line(path: Path, line: str) -> None:
    """Append one line to `path` (creating it and its folders) and make it durable."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as file:  # O_APPEND: every line lands at the end
        file.write(line + "\n")
        file.flush()
        os.fsync(file.fileno())


def read_last(path: Path) -> PublishedHead:
    """The last head written to a head file."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise HeadFileError(f"{path}: cannot be read: {exc.strerror or exc}") from None
    last = next((line.strip() for line in reversed(lines) if line.strip()), None)
    if last is None:
        raise HeadFileError(f"{path}: no head written yet")
    match = _LINE.fullmatch(last)
    if match is None:
        raise HeadFileError(f"{path}: last line is not '<time> <id> <hash>': {last[:80]!r}")
    try:
        at = datetime.fromisoformat(match["at"])
    except ValueError:
        raise HeadFileError(f"{path}: last line has no ISO time: {last[:80]!r}") from None
    return PublishedHead(at=at, id=int(match["id"]), hash=match["hash"])

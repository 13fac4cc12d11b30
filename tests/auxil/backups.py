"""Backup tests: writers that keep committing while a copy is taken, restoring a copy, and
reading what it holds."""

from __future__ import annotations

import asyncio
import shutil
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import text

from storage import audit
from storage.backup.postgres import libpq_url
from storage.clinics import ClinicRow, sync_clinics
from storage.crypto.keyring import open_database
from storage.engine import Database
from storage.migrate import upgrade
from storage.models import Patient
from storage.states import Actor, ActorKind

CLI = Actor.of(ActorKind.CLI)

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
WRITER_EVENT = "backup.test"


async def migrated(url: str) -> Database:
    """The database at `url`, migrated, with the clinic `north`."""
    db = open_database(url)
    await upgrade(db)
    async with db.transaction() as session:
        await sync_clinics(session, clinics=[ClinicRow("north", "North", "UTC", "x")], now=NOW)
    return db


async def fill(db: Database, count: int) -> None:
    """`count` audit rows in one transaction."""
    entries = [
        audit.Entry(at=NOW, actor=CLI, event="seed", clinic_id="north", detail={"i": i})
        for i in range(count)
    ]
    async with db.transaction() as session:
        await audit.append_many(session, entries)


@dataclass(frozen=True)
class Committed:
    """What the writers had committed at one moment."""

    audit_ids: frozenset[int]
    patient_ids: frozenset[int]


@dataclass
class Writers:
    """Writers committing side by side until stopped, each transaction a patient and three
    audit rows (appended one by one, as the bot does); each commit is recorded once durable."""

    db: Database
    audit_ids: list[int] = field(default_factory=list)
    patient_ids: list[int] = field(default_factory=list)
    _stop: asyncio.Event = field(default_factory=asyncio.Event)
    _changed: asyncio.Event = field(default_factory=asyncio.Event)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def start(self, count: int = 2) -> None:
        self._tasks = [asyncio.create_task(self._write(f"w{n}")) for n in range(count)]

    async def stop(self) -> None:
        self._stop.set()
        await asyncio.gather(*self._tasks)

    def committed(self) -> Committed:
        return Committed(frozenset(self.audit_ids), frozenset(self.patient_ids))

    async def reach(self, commits: int) -> None:
        """Wait until the writers have committed `commits` transactions in all."""
        while len(self.patient_ids) < commits:
            self._changed.clear()
            await self._changed.wait()

    async def _write(self, name: str) -> None:
        k = 0
        while not self._stop.is_set():
            k += 1
            async with self.db.transaction() as session:
                patient = Patient(
                    clinic_id="north", ref=f"{name}-{k}", timezone="UTC", created_at=NOW
                )
                session.add(patient)
                await session.flush()
                for i in range(3):
                    await audit.append(
                        session,
                        at=NOW,
                        actor=CLI,
                        event=WRITER_EVENT,
                        clinic_id="north",
                        patient_id=patient.id,
                        detail={"k": k, "i": i},
                    )
                top = await audit.head(session)
            assert patient.id is not None and top is not None
            self.patient_ids.append(patient.id)
            self.audit_ids.extend(range(top.id - 2, top.id + 1))
            self._changed.set()
            await asyncio.sleep(0.001)


async def restore(backend: str, copy: Path, url: str) -> None:
    """SQLite: put the copy where `url`'s file is. PostgreSQL: pg_restore into `url` (empty)."""
    if backend == "sqlite":
        await asyncio.to_thread(shutil.copyfile, copy, url.removeprefix("sqlite+aiosqlite:///"))
        return
    target = libpq_url(url).render_as_string(hide_password=False)
    process = await asyncio.create_subprocess_exec(
        "pg_restore", "--no-owner", "--exit-on-error", "--dbname", target, str(copy),
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, err = await process.communicate()
    assert process.returncode == 0, err.decode()


@dataclass(frozen=True)
class CopyRows:
    """What a restored copy holds: audit ids, writer patients, and their audit rows."""

    audit_ids: frozenset[int]
    patient_ids: frozenset[int]
    rows_per_patient: dict[int, int]

    def holds(self, committed: Committed) -> bool:
        return committed.audit_ids <= self.audit_ids and committed.patient_ids <= self.patient_ids

    def whole_transactions(self) -> bool:
        """Every writer transaction in the copy is there whole: its patient and three rows."""
        return set(self.rows_per_patient) == set(self.patient_ids) and set(
            self.rows_per_patient.values()
        ) <= {3}


async def read_rows(url: str) -> CopyRows:
    db = open_database(url)
    try:
        async with db.transaction() as session:
            ids = (await session.scalars(text("SELECT id FROM audit_event"))).all()
            patients = (await session.scalars(text("SELECT id FROM patient"))).all()
            owners = (
                await session.scalars(
                    text("SELECT patient_id FROM audit_event WHERE event = :e"),
                    {"e": WRITER_EVENT},
                )
            ).all()
    finally:
        await db.dispose()
    per_patient: dict[int, int] = {}
    for owner in owners:
        per_patient[owner] = per_patient.get(owner, 0) + 1
    return CopyRows(frozenset(ids), frozenset(patients), per_patient)

"""The append-only audit log: each row carries the SHA-256 of the row before it."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from storage.engine import Database
from storage.leases import is_postgres
from storage.models import AuditEvent
from storage.states import Actor

GENESIS = "0" * 64
_PG_AUDIT_LOCK = 72_001  # advisory lock id serialising appends across instances


_HASHED = (
    "id",
    "at",
    "actor",
    "event",
    "clinic_id",
    "patient_id",
    "checkin_id",
    "case_id",
    "detail",
    "prev_hash",
)


def _hash(values: Mapping[str, Any]) -> str:
    body = json.dumps(
        [values[k].isoformat() if k == "at" else values[k] for k in _HASHED],
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(body.encode()).hexdigest()


def row_hash(event: AuditEvent) -> str:
    """The hash over a row's content and its predecessor's hash."""
    return _hash({key: getattr(event, key) for key in _HASHED})


@dataclass(frozen=True)
class Entry:
    """One event to append; `append_many` chains a batch of them with one lock and one read."""

    at: datetime
    actor: Actor
    event: str
    clinic_id: str | None = None
    patient_id: int | None = None
    checkin_id: int | None = None
    case_id: int | None = None
    detail: Mapping[str, Any] | None = None


_LAST = (
    select(col(AuditEvent.id), col(AuditEvent.hash)).order_by(col(AuditEvent.id).desc()).limit(1)
)
# The chain's end as this session's transaction left it: (transaction, next id, last hash). A
# transaction holds the chain (SQLite: the write lock; PostgreSQL: the advisory lock) from its
# first append to its end, so its later appends need not read the end again; the marker is the
# transaction object itself, so a new transaction (or a rolled-back one's successor) reads it.
_TAIL = "aftercare.audit_tail"
_HELD = "aftercare.audit_held"  # the transaction that took the chain's lock (PostgreSQL)


async def hold_chain(session: AsyncSession) -> None:
    """Take the audit chain's lock now (PostgreSQL; held to the transaction's end). A
    transaction that will lock a case row and then append takes it first, so every writer
    takes the chain before a case row and two writers never wait on each other in a cycle
    (the pager locking a case then auditing, a /stop auditing then updating that case)."""
    if not is_postgres(session):
        return
    transaction = session.sync_session.get_transaction()
    if transaction is not None and session.info.get(_HELD) is transaction:
        return  # taken earlier in this transaction (a lock_patient, then its append): still held
    await session.execute(text(f"SELECT pg_advisory_xact_lock({_PG_AUDIT_LOCK})"))
    session.info[_HELD] = transaction


async def append_many(session: AsyncSession, entries: Sequence[Entry]) -> None:
    """Append events in the caller's transaction, in order, chained to the last one.

    One Core executemany INSERT, not ORM objects: the dispatcher appends a row per check-in
    sent, and the ORM's unit of work made that a sixth of a batch's time.
    """
    if not entries:
        return
    transaction = session.sync_session.get_transaction()
    tail = session.info.get(_TAIL)
    if tail is not None and transaction is not None and tail[0] is transaction:
        next_id, prev_hash = tail[1], tail[2]  # this transaction appended last: chain lock held
    else:
        await hold_chain(session)
        last = (await session.execute(_LAST)).first()
        next_id, prev_hash = ((last[0] + 1), last[1]) if last else (1, GENESIS)
    rows: list[dict[str, Any]] = []
    for entry in entries:
        row: dict[str, Any] = {
            "id": next_id,
            "at": entry.at.astimezone(UTC),
            "actor": entry.actor,
            "event": entry.event,
            "clinic_id": entry.clinic_id,
            "patient_id": entry.patient_id,
            "checkin_id": entry.checkin_id,
            "case_id": entry.case_id,
            "detail": json.dumps(
                dict(entry.detail or {}), sort_keys=True, default=str, ensure_ascii=False
            ),
            "prev_hash": prev_hash,
        }
        row["hash"] = _hash(row)
        rows.append(row)
        next_id, prev_hash = next_id + 1, row["hash"]
    await session.execute(insert(AuditEvent), rows)
    session.info[_TAIL] = (transaction, next_id, prev_hash)


async def append(
    session: AsyncSession,
    *,
    at: datetime,
    actor: Actor,
    event: str,
    clinic_id: str | None = None,
    patient_id: int | None = None,
    checkin_id: int | None = None,
    case_id: int | None = None,
    detail: Mapping[str, Any] | None = None,
) -> None:
    """Append one event in the caller's transaction, chained to the last one."""
    entry = Entry(at, actor, event, clinic_id, patient_id, checkin_id, case_id, detail)
    await append_many(session, [entry])


VERIFY_BATCH = 5_000


@dataclass(frozen=True)
class VerifyResult:
    """The outcome of walking the chain; `checked` counts rows read, the bad one included."""

    ok: bool
    checked: int
    first_bad_id: int | None = None
    problem: str | None = None


class _ChainWalk:
    """The chain's state between batches: the last good row's id and hash."""

    def __init__(self) -> None:
        self.last_id = 0
        self.last_hash = GENESIS
        self.checked = 0

    def check(self, row: AuditEvent) -> VerifyResult | None:
        """None if `row` continues the chain; else the failure, naming the first bad row id."""
        row_id = row.id or 0
        self.checked += 1
        expected = self.last_id + 1
        if row_id != expected:
            missing = (
                f"row {expected} is missing"
                if row_id == expected + 1
                else f"rows {expected}-{row_id - 1} are missing"
            )
            return self._fail(expected, f"{missing} (deleted?)")
        if row.prev_hash != self.last_hash:
            before = f"row {self.last_id}'s hash" if self.last_id else "the genesis hash"
            return self._fail(
                row_id,
                f"row {row_id} prev_hash does not match {before} "
                "(this row's link was altered, or the row before it was rewritten)",
            )
        if row.hash != row_hash(row):
            return self._fail(row_id, f"row {row_id} was altered (its hash does not match)")
        self.last_id = row_id
        self.last_hash = row.hash
        return None

    def _fail(self, bad_id: int, problem: str) -> VerifyResult:
        return VerifyResult(ok=False, checked=self.checked, first_bad_id=bad_id, problem=problem)

    def done(self) -> VerifyResult:
        return VerifyResult(ok=True, checked=self.checked)


_COLUMNS = (
    col(AuditEvent.id),
    col(AuditEvent.at),
    col(AuditEvent.actor),
    col(AuditEvent.event),
    col(AuditEvent.clinic_id),
    col(AuditEvent.patient_id),
    col(AuditEvent.checkin_id),
    col(AuditEvent.case_id),
    col(AuditEvent.detail),
    col(AuditEvent.prev_hash),
    col(AuditEvent.hash),
)


async def _batch(session: AsyncSession, *, after_id: int, size: int) -> list[AuditEvent]:
    """Up to `size` rows with id > `after_id`, as detached objects (nothing kept in the session)."""
    result = await session.execute(
        select(*_COLUMNS)
        .where(col(AuditEvent.id) > after_id)
        .order_by(col(AuditEvent.id))
        .limit(size)
    )
    return [AuditEvent(**dict(r._mapping)) for r in result.all()]


async def _walk_batch(
    walk: _ChainWalk, session: AsyncSession, *, after_id: int, size: int
) -> tuple[VerifyResult | None, int | None]:
    """Check one batch: (failure or None, the last id read or None when there were no rows)."""
    rows = await _batch(session, after_id=after_id, size=size)
    for row in rows:
        failure = walk.check(row)
        if failure is not None:
            return failure, row.id
    return None, (rows[-1].id if rows else None)


async def verify(session: AsyncSession, *, batch_size: int = VERIFY_BATCH) -> VerifyResult:
    """Walk the whole log by id, `batch_size` rows a query, and report the first break.

    Checked for every row: ids run 1, 2, 3, ... with no gap (a gap is a deleted row);
    `prev_hash` equals the previous row's `hash` (GENESIS for row 1); and `hash` equals
    `row_hash(row)` (a mismatch is an edited row).

    Limitations: the chain alone cannot reveal that the *last* rows were deleted (the log
    is then a shorter, still valid chain), nor a log rewritten wholesale with every hash
    recomputed. Catching those needs the last hash kept somewhere the database's writers
    cannot change (`head`, published by `bot.ops.audit_head`) and checked with `locate`.

    Runs in the caller's transaction. On SQLite every transaction holds the write lock,
    so for a large log on a live database prefer `verify_database`, which reads each
    batch in its own short transaction.
    """
    walk = _ChainWalk()
    after = 0
    while True:
        failure, last = await _walk_batch(walk, session, after_id=after, size=batch_size)
        if failure is not None:
            return failure
        if last is None:
            return walk.done()
        after = last


async def verify_database(db: Database, *, batch_size: int = VERIFY_BATCH) -> VerifyResult:
    """`verify`, one short transaction per batch so writers are never blocked for long.

    Rows are only ever appended, so rows already checked cannot legitimately change
    between batches; rows appended meanwhile are checked when the walk reaches them.
    Same checks and limitations as `verify`.
    """
    walk = _ChainWalk()
    after = 0
    while True:
        async with db.transaction() as session:
            failure, last = await _walk_batch(walk, session, after_id=after, size=batch_size)
        if failure is not None:
            return failure
        if last is None:
            return walk.done()
        after = last


@dataclass(frozen=True)
class Head:
    """The newest row of the chain: its id and hash."""

    id: int
    hash: str


async def head(session: AsyncSession) -> Head | None:
    """The newest audit row's id and hash; None while the chain is empty."""
    row = (
        await session.execute(
            select(col(AuditEvent.id), col(AuditEvent.hash))
            .order_by(col(AuditEvent.id).desc())
            .limit(1)
        )
    ).first()
    return Head(id=row[0], hash=row[1]) if row else None


@dataclass(frozen=True)
class HeadPosition:
    """Where a head recorded earlier sits in today's chain, and how many rows followed it."""

    id: int
    rows_after: int


async def locate(session: AsyncSession, hash_: str) -> HeadPosition | None:
    """The row whose hash is `hash_` (row 0 for GENESIS, the empty chain); None if absent.

    A head recorded earlier that is no longer in the chain means rows at or before it
    were deleted, or rewritten with their hashes recomputed.
    """
    if hash_ == GENESIS:
        found: int | None = 0
    else:
        found = await session.scalar(
            select(col(AuditEvent.id)).where(col(AuditEvent.hash) == hash_).limit(1)
        )
    if found is None:
        return None
    after = await session.scalar(
        select(func.count()).select_from(AuditEvent).where(col(AuditEvent.id) > found)
    )
    return HeadPosition(id=found, rows_after=int(after or 0))


async def events(
    session: AsyncSession,
    *,
    patient_id: int | None = None,
    clinic_id: str | None = None,
    limit: int | None = None,
) -> list[AuditEvent]:
    """Events in id order, optionally for one patient and/or clinic; the first `limit` of them."""
    query = select(AuditEvent).order_by(col(AuditEvent.id))
    if patient_id is not None:
        query = query.where(col(AuditEvent.patient_id) == patient_id)
    if clinic_id is not None:
        query = query.where(col(AuditEvent.clinic_id) == clinic_id)
    if limit is not None:
        query = query.limit(limit)
    return list((await session.scalars(query)).all())


async def case_events(
    session: AsyncSession, *, patient_id: int, case_id: int, prefix: str
) -> list[AuditEvent]:
    """One case's events whose name starts with `prefix`, in id order (found by the patient,
    which is indexed)."""
    query = (
        select(AuditEvent)
        .where(
            col(AuditEvent.patient_id) == patient_id,
            col(AuditEvent.case_id) == case_id,
            col(AuditEvent.event).startswith(prefix),
        )
        .order_by(col(AuditEvent.id))
    )
    return list((await session.scalars(query)).all())


async def hash_of(session: AsyncSession, row_id: int) -> str | None:
    """The stored hash of row `row_id` (say the last row a verification checked)."""
    found = await session.scalar(select(col(AuditEvent.hash)).where(col(AuditEvent.id) == row_id))
    return None if found is None else str(found)

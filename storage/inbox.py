"""The inbox: every query on received Telegram updates (`InboundUpdate`).

An update is stored here before Telegram is told it arrived; it is then claimed, one chat at a
time in update order, processed, and marked done in the transaction of its effects.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    BindParameter,
    Integer,
    bindparam,
    delete,
    exists,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased
from sqlmodel import col

from storage.crypto.keyring import INBOX_OWNER
from storage.crypto.sealed import owned, with_live_keys
from storage.leases import is_postgres
from storage.models import InboundUpdate, Patient, WebhookReceipt
from storage.states import InboxStatus
from storage.types import UTCDateTime

MAX_ERROR_CHARS = 500


@dataclass(frozen=True)
class Arrival:
    """One update as the intake received it."""

    update_id: int
    chat_id: int
    payload: str
    seen_at: datetime
    held: bool = False


async def store(
    session: AsyncSession,
    arrivals: Sequence[Arrival],
    *,
    now: datetime,
    owners: Mapping[int, int] | None = None,
) -> None:
    """Hold a batch of updates; one already held (a redelivery) is left as it is. `owners`:
    the patient of each chat that is a patient's, when the caller has just looked them up in
    this transaction (else they are looked up here)."""
    if not arrivals:
        return
    insert = pg_insert if is_postgres(session) else sqlite_insert
    statement = insert(InboundUpdate).on_conflict_do_nothing(index_elements=["update_id"])
    if owners is None:
        owners = await _owners_of(session, {a.chat_id for a in arrivals})
    owners = await with_live_keys(session, dict(owners))
    await session.execute(
        statement,
        [
            {
                "update_id": a.update_id,
                "chat_id": a.chat_id,
                # Sealed under the chat's patient (erasing them shreds it), else the inbox's.
                "payload": owned(owners.get(a.chat_id, INBOX_OWNER), a.payload),
                "status": InboxStatus.PENDING,
                "seen_at": a.seen_at,
                "stored_at": now,
                "held": a.held,
                "attempts": 0,
                "next_attempt_at": now,
            }
            for a in arrivals
        ],
    )


_OWNERS = select(col(Patient.chat_id), col(Patient.id)).where(
    col(Patient.chat_id).in_(bindparam("owner_chats", expanding=True, type_=BigInteger))
)


async def _owners_of(session: AsyncSession, chat_ids: set[int]) -> dict[int, int]:
    """The patient of each chat that is a patient's."""
    rows = await session.execute(_OWNERS, {"owner_chats": sorted(chat_ids)})
    return {chat: pid for chat, pid in rows.tuples() if chat is not None and pid is not None}


# The claim's two statements are built once per process, their values bound on each call (as
# `storage.leases` does): a statement this size costs about a millisecond to build and key.
_NOW: BindParameter[datetime] = bindparam("inbox_now", type_=UTCDateTime())
_OWNER: BindParameter[str] = bindparam("inbox_owner")
_UNTIL: BindParameter[datetime] = bindparam("inbox_until", type_=UTCDateTime())
_LIMIT: BindParameter[int] = bindparam("inbox_limit", type_=Integer)
_RUN: BindParameter[int] = bindparam("inbox_run", type_=Integer)
_CHATS: BindParameter[int] = bindparam("inbox_chats", expanding=True, type_=BigInteger)
_ID: BindParameter[int] = bindparam("inbox_id", type_=BigInteger)
_STATEMENTS: dict[bool, tuple[Any, Any]] = {}


def _claimable() -> tuple[Any, ...]:
    """What makes an update claimable: pending, its try due, not leased, and its chat's
    oldest pending update (a chat's updates are processed in update order)."""
    me, older = InboundUpdate, aliased(InboundUpdate)
    return (
        col(me.status) == InboxStatus.PENDING,
        col(me.next_attempt_at) <= _NOW,
        or_(col(me.lease_until).is_(None), col(me.lease_until) < _NOW),
        ~exists().where(
            col(older.chat_id) == col(me.chat_id),
            col(older.status) == InboxStatus.PENDING,
            col(older.update_id) < col(me.update_id),
        ),
    )


def _claim_statements(postgres: bool) -> tuple[Any, Any]:
    """(lease the oldest pending update of up to LIMIT chats, RETURNING their chats;
    lease the first RUN pending updates of CHATS, RETURNING the rows)."""
    built = _STATEMENTS.get(postgres)
    if built is not None:
        return built
    me = InboundUpdate
    heads = select(col(me.update_id)).where(*_claimable()).order_by(col(me.update_id)).limit(_LIMIT)
    if postgres:
        heads = heads.with_for_update(skip_locked=True)
    lease_heads = (
        update(me)
        .where(col(me.update_id).in_(heads.scalar_subquery()))
        .values(lease_owner=_OWNER, lease_until=_UNTIL)
        .returning(col(me.chat_id))
    )
    ranked = (
        select(
            col(me.update_id),
            func.row_number()
            .over(partition_by=col(me.chat_id), order_by=col(me.update_id))
            .label("place"),
        )
        .where(col(me.chat_id).in_(_CHATS), col(me.status) == InboxStatus.PENDING)
        .subquery()
    )
    lease_runs = (
        update(me)
        .where(
            col(me.update_id).in_(
                select(ranked.c.update_id).where(ranked.c.place <= _RUN).scalar_subquery()
            )
        )
        .values(lease_owner=_OWNER, lease_until=_UNTIL)
        .returning(me)
        .execution_options(synchronize_session=False, populate_existing=True)
    )
    _STATEMENTS[postgres] = (lease_heads, lease_runs)
    return lease_heads, lease_runs


async def claim(
    session: AsyncSession,
    *,
    now: datetime,
    owner: str,
    lease_until: datetime,
    limit: int,
    run: int = 1,
) -> dict[int, list[InboundUpdate]]:
    """Lease the pending updates of up to `limit` chats: each chat's oldest, and after it up to
    `run` - 1 more of that chat, in update order.

    Only a chat's oldest pending update is ever claimable, and its followers only with it, so
    a chat's updates are processed one after the other in update order, by whichever instance
    holds the chat. Returns each claimed chat's leased updates, oldest first.
    """
    lease_heads, lease_runs = _claim_statements(is_postgres(session))
    values = {"inbox_now": now, "inbox_owner": owner, "inbox_until": lease_until}
    claimed = await session.scalars(lease_heads, {**values, "inbox_limit": limit})
    chats = sorted(set(claimed.all()))
    if not chats:
        return {}
    rows = await session.scalars(lease_runs, {**values, "inbox_chats": chats, "inbox_run": run})
    runs: dict[int, list[InboundUpdate]] = {chat: [] for chat in chats}
    for row in sorted(rows.all(), key=lambda row: row.update_id):
        runs[row.chat_id].append(row)
    return runs


# One update leased by its key, on the same terms as a claimed chat's oldest (built once).
_CLAIM_ONE = (
    update(InboundUpdate)
    .where(col(InboundUpdate.update_id) == _ID, *_claimable())
    .values(lease_owner=_OWNER, lease_until=_UNTIL)
    .returning(InboundUpdate)
    .execution_options(synchronize_session=False, populate_existing=True)
)


async def claim_one(
    session: AsyncSession, *, update_id: int, now: datetime, owner: str, lease_until: datetime
) -> InboundUpdate | None:
    """Lease one update if `claim` could lease it as its chat's oldest (one keyed statement,
    for an update just stored); None when it is not its chat's next, already leased or not
    pending."""
    values = {"inbox_id": update_id, "inbox_now": now, "inbox_owner": owner}
    rows = await session.scalars(_CLAIM_ONE, {**values, "inbox_until": lease_until})
    return rows.first()


_NO_LEASE = {"lease_owner": None, "lease_until": None}


def _one(update_id: int, status: InboxStatus) -> Any:
    """UPDATE of one update, if it is still in `status` (a second try then changes nothing)."""
    return update(InboundUpdate).where(
        col(InboundUpdate.update_id) == update_id, col(InboundUpdate.status) == status
    )


async def _moved(
    session: AsyncSession, statement: Any, values: dict[str, Any] | None = None
) -> bool:
    result = await session.execute(statement, values)
    return bool(result.rowcount)  # type: ignore[attr-defined]


# Built once, bound on each call: every update processed runs it (issue 32's profile).
_MARK_DONE = (
    update(InboundUpdate)
    .where(
        col(InboundUpdate.update_id) == bindparam("done_id", type_=BigInteger),
        col(InboundUpdate.status) == InboxStatus.PENDING,
    )
    .values(
        status=InboxStatus.DONE,
        processed_at=bindparam("done_at", type_=UTCDateTime()),
        payload=None,
        **_NO_LEASE,
    )
)


async def mark_done(session: AsyncSession, *, update_id: int, now: datetime) -> bool:
    """Record that an update was processed (its payload is no longer kept).

    False when it was not pending: processed or parked already, so its effects must not be
    applied again. Call it in the transaction of the update's effects (after the audit
    chain's lock: `bot.context.mark_processed`).
    """
    return await _moved(session, _MARK_DONE, {"done_id": update_id, "done_at": now})


async def record_failure(
    session: AsyncSession, *, update_id: int, error: str, retry_at: datetime
) -> int:
    """One more failed try: kept pending, not tried again before `retry_at`. The try count."""
    attempts = await session.scalar(
        _one(update_id, InboxStatus.PENDING)
        .values(
            attempts=col(InboundUpdate.attempts) + 1,
            error=error[:MAX_ERROR_CHARS],
            next_attempt_at=retry_at,
            **_NO_LEASE,
        )
        .returning(col(InboundUpdate.attempts))
    )
    return int(attempts or 0)


async def park(session: AsyncSession, *, update_id: int, error: str, now: datetime) -> bool:
    """Set a failing update aside for a person; the chat's later updates go on."""
    parked = {"status": InboxStatus.PARKED, "error": error[:MAX_ERROR_CHARS], "processed_at": now}
    return await _moved(session, _one(update_id, InboxStatus.PENDING).values(**parked, **_NO_LEASE))


async def requeue(session: AsyncSession, *, update_id: int, now: datetime) -> bool:
    """Try a parked update again (after the fault was mended)."""
    again = {"status": InboxStatus.PENDING, "attempts": 0, "next_attempt_at": now}
    return await _moved(
        session, _one(update_id, InboxStatus.PARKED).values(**again, processed_at=None)
    )


async def release(
    session: AsyncSession, *, owner: str | None, update_ids: Sequence[int] | None = None
) -> int:
    """Hand back the updates an instance holds (`owner` None: every holder's; `update_ids`:
    only those)."""
    query = update(InboundUpdate).where(
        col(InboundUpdate.status) == InboxStatus.PENDING,
        col(InboundUpdate.lease_owner).is_not(None),
    )
    if owner is not None:
        query = query.where(col(InboundUpdate.lease_owner) == owner)
    if update_ids is not None:
        query = query.where(col(InboundUpdate.update_id).in_(list(update_ids)))
    result = await session.execute(query.values(lease_owner=None, lease_until=None))
    return int(result.rowcount)  # type: ignore[attr-defined]


async def parked(session: AsyncSession) -> list[InboundUpdate]:
    """Every parked update, oldest first."""
    query = (
        select(InboundUpdate)
        .where(col(InboundUpdate.status) == InboxStatus.PARKED)
        .order_by(col(InboundUpdate.update_id))
    )
    return list((await session.scalars(query)).all())


async def counts(session: AsyncSession) -> dict[InboxStatus, int]:
    """How many updates are pending and parked (done rows are not counted)."""
    rows = await session.execute(
        select(col(InboundUpdate.status), func.count())
        .where(col(InboundUpdate.status) != InboxStatus.DONE)
        .group_by(col(InboundUpdate.status))
    )
    found = {InboxStatus(status): int(n) for status, n in rows.tuples()}
    return {status: found.get(status, 0) for status in (InboxStatus.PENDING, InboxStatus.PARKED)}


async def chats_waiting(session: AsyncSession, *, chat_ids: Sequence[int]) -> set[int]:
    """Those of the chats with an update still waiting to be processed."""
    if not chat_ids:
        return set()
    rows = await session.scalars(
        select(col(InboundUpdate.chat_id))
        .where(
            col(InboundUpdate.status) == InboxStatus.PENDING,
            col(InboundUpdate.chat_id).in_(list(chat_ids)),
        )
        .distinct()
    )
    return set(rows.all())


async def forget_before(session: AsyncSession, *, before: datetime) -> int:
    """Drop processed rows older than `before` (Telegram never redelivers after 24 h)."""
    result = await session.execute(
        delete(InboundUpdate).where(
            col(InboundUpdate.status) == InboxStatus.DONE,
            col(InboundUpdate.processed_at) < before,
        )
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


async def record_webhook(
    session: AsyncSession, *, webhook_id: str, event_type: str, now: datetime
) -> bool:
    """Note a paging service's webhook event as handled in this transaction, under the key
    its signature covers (PagerDuty's `event:<event.id>`); False when it already was (a
    redelivery or a replay: it must change nothing)."""
    insert = pg_insert if is_postgres(session) else sqlite_insert
    statement = (
        insert(WebhookReceipt)
        .values(webhook_id=webhook_id, event_type=event_type[:64], received_at=now)
        .on_conflict_do_nothing(index_elements=["webhook_id"])
        .returning(col(WebhookReceipt.webhook_id))
    )
    return (await session.execute(statement)).first() is not None

"""The inbox's queries on both backends: held once, one chat at a time in order, settled once."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from storage import inbox
from storage.engine import Database
from storage.inbox import Arrival
from storage.models import InboundUpdate
from storage.states import InboxStatus

NOW = datetime(2026, 12, 2, 15, 0, tzinfo=UTC)
LEASE = NOW + timedelta(seconds=60)


def arrival(update_id: int, chat_id: int, *, held: bool = False) -> Arrival:
    return Arrival(update_id, chat_id, f'{{"update_id": {update_id}}}', seen_at=NOW, held=held)


async def stored(db: Database, *arrivals: Arrival) -> None:
    async with db.transaction() as session:
        await inbox.store(session, arrivals, now=NOW)


async def claim_runs(
    db: Database, *, owner: str = "a", limit: int = 10, **kw: object
) -> dict[int, list[int]]:
    async with db.transaction() as session:
        runs = await inbox.claim(
            session,
            now=NOW,
            owner=owner,
            lease_until=LEASE,
            limit=limit,
            **kw,  # type: ignore[arg-type]
        )
    return {chat: [row.update_id for row in rows] for chat, rows in runs.items()}


async def claim(db: Database, *, owner: str = "a", limit: int = 10, **kw: object) -> list[int]:
    """The updates claimed, one per chat (runs of one)."""
    runs = await claim_runs(db, owner=owner, limit=limit, **kw)
    return sorted(update_id for rows in runs.values() for update_id in rows)


async def done(db: Database, update_id: int) -> bool:
    async with db.transaction() as session:
        return await inbox.mark_done(session, update_id=update_id, now=NOW)


async def test_a_redelivered_update_is_held_once_and_keeps_its_first_copy(db: Database) -> None:
    await stored(db, arrival(1, 100, held=True))
    await stored(
        db, Arrival(1, 100, '{"update_id": 1, "again": true}', seen_at=NOW), arrival(2, 100)
    )
    async with db.transaction() as session:
        rows = (
            await session.scalars(select(InboundUpdate).order_by(InboundUpdate.update_id))
        ).all()
    assert [(r.update_id, r.payload, r.held) for r in rows] == [
        (1, '{"update_id": 1}', True),
        (2, '{"update_id": 2}', False),
    ]


async def test_only_each_chats_oldest_pending_update_can_be_claimed(db: Database) -> None:
    await stored(db, arrival(1, 100), arrival(2, 200), arrival(3, 100), arrival(4, 300))
    assert await claim(db) == [1, 2, 4]  # chat 100's second update waits for its first
    assert await claim(db, owner="b") == []  # every chat's head is leased
    assert await done(db, 1)
    assert await claim(db, owner="b") == [3]


async def test_done_is_recorded_once_and_drops_the_payload(db: Database) -> None:
    await stored(db, arrival(7, 100))
    assert await done(db, 7) is True
    assert await done(db, 7) is False  # a second try must change nothing
    async with db.transaction() as session:
        row = await session.get(InboundUpdate, 7)
    assert row is not None and row.status is InboxStatus.DONE and row.payload is None
    assert row.processed_at == NOW and row.lease_owner is None


async def test_a_failed_try_waits_its_turn_and_holds_the_chat(db: Database) -> None:
    await stored(db, arrival(1, 100), arrival(2, 100))
    assert await claim(db) == [1]
    async with db.transaction() as session:
        tries = await inbox.record_failure(
            session, update_id=1, error="ValueError: bad", retry_at=NOW + timedelta(seconds=5)
        )
    assert tries == 1
    assert await claim(db) == []  # not before its retry time, and the chat's next waits too
    async with db.transaction() as session:
        later = await inbox.claim(
            session, now=NOW + timedelta(seconds=6), owner="a", lease_until=LEASE, limit=10
        )
    assert {chat: [r.update_id for r in rows] for chat, rows in later.items()} == {100: [1]}


async def test_parked_updates_let_the_chat_go_on_and_can_be_requeued(db: Database) -> None:
    await stored(db, arrival(1, 100), arrival(2, 100))
    assert await claim(db) == [1]
    async with db.transaction() as session:
        assert await inbox.park(session, update_id=1, error="KeyError: x" * 100, now=NOW)
        assert not await inbox.park(session, update_id=1, error="again", now=NOW)
    assert await claim(db) == [2]
    assert await done(db, 2)
    async with db.transaction() as session:
        parked = await inbox.parked(session)
        counts = await inbox.counts(session)
    assert [p.update_id for p in parked] == [1]
    assert len(parked[0].error or "") == inbox.MAX_ERROR_CHARS
    assert counts == {InboxStatus.PENDING: 0, InboxStatus.PARKED: 1}
    async with db.transaction() as session:
        assert await inbox.requeue(session, update_id=1, now=NOW)
        assert not await inbox.requeue(session, update_id=2, now=NOW)  # done stays done
    assert await claim(db) == [1]


async def test_release_hands_back_an_owners_leases_or_named_ones(db: Database) -> None:
    await stored(db, arrival(1, 100), arrival(2, 200), arrival(3, 300))
    assert await claim(db, owner="a", limit=2) == [1, 2]
    assert await claim(db, owner="b") == [3]
    async with db.transaction() as session:
        assert await inbox.release(session, owner="a", update_ids=[2]) == 1
    assert await claim(db, owner="c") == [2]
    async with db.transaction() as session:
        assert await inbox.release(session, owner=None) == 3
    assert await claim(db, owner="c") == [1, 2, 3]


async def test_waiting_chats_and_forgetting_processed_rows(db: Database) -> None:
    await stored(db, arrival(1, 100), arrival(2, 200))
    assert await done(db, 1)
    async with db.transaction() as session:
        assert await inbox.chats_waiting(session, chat_ids=[100, 200, 300]) == {200}
        assert await inbox.forget_before(session, before=NOW + timedelta(seconds=1)) == 1
        left = (await session.scalars(select(InboundUpdate.update_id))).all()
    assert list(left) == [2]  # pending rows are never forgotten


async def test_two_instances_claiming_at_once_never_share_a_chat(db: Database) -> None:
    await stored(db, *[arrival(i, 100 + i % 5) for i in range(1, 41)])
    seen: list[int] = []
    for _ in range(10):
        a, b = await asyncio.gather(claim(db, owner="a"), claim(db, owner="b"))
        batch = a + b
        assert len(batch) == len(set(batch))
        chats = [100 + i % 5 for i in batch]
        assert len(chats) == len(set(chats)), "one chat was claimed twice"
        for update_id in batch:
            assert await done(db, update_id)
        seen += sorted(batch)
    assert sorted(seen) == list(range(1, 41))
    for chat in range(100, 105):  # each chat's updates were claimed in their order
        mine = [i for i in seen if 100 + i % 5 == chat]
        assert mine == sorted(mine)


async def test_a_run_leases_a_chats_next_updates_with_its_oldest(db: Database) -> None:
    await stored(db, *[arrival(i, 100) for i in (1, 3, 4, 5)], arrival(2, 200), arrival(6, 300))
    assert await claim_runs(db, limit=2, run=3) == {100: [1, 3, 4], 200: [2]}
    assert await claim_runs(db, owner="b", run=3) == {300: [6]}  # chat 100 is held whole
    assert await done(db, 1)
    assert await claim_runs(db, owner="b", run=3) == {}  # its next (3) is still leased to "a"
    async with db.transaction() as session:
        await inbox.release(session, owner="a", update_ids=[3, 4])
    assert await claim_runs(db, owner="b", run=3) == {100: [3, 4, 5]}


async def claim_one(db: Database, update_id: int, *, owner: str = "a", at: datetime = NOW) -> bool:
    async with db.transaction() as session:
        row = await inbox.claim_one(
            session, update_id=update_id, now=at, owner=owner, lease_until=LEASE
        )
    assert row is None or (row.update_id == update_id and row.lease_owner == owner)
    return row is not None


async def test_one_update_is_leased_by_its_key_on_the_general_claims_terms(db: Database) -> None:
    await stored(db, arrival(1, 100), arrival(2, 100), arrival(3, 200))
    assert not await claim_one(db, 2)  # behind chat 100's older update
    assert await claim_one(db, 1)
    assert not await claim_one(db, 1, owner="b")  # leased
    assert await claim(db, owner="b") == [3]  # chat 100 is held by "a"
    assert await done(db, 1)
    assert not await claim_one(db, 1)  # done: never again
    async with db.transaction() as session:
        await inbox.record_failure(
            session, update_id=2, error="x", retry_at=NOW + timedelta(days=1)
        )
    assert not await claim_one(db, 2)  # not before its retry time
    assert await claim_one(db, 2, at=NOW + timedelta(days=2))
    assert not await claim_one(db, 99)  # never stored


async def test_a_key_claim_and_a_general_claim_at_once_never_share_a_chat(db: Database) -> None:
    for round_ in range(10):
        base = round_ * 10
        await stored(db, *[arrival(base + i, 100 + i % 3) for i in range(1, 7)])
        by_key, general = await asyncio.gather(
            claim_one(db, base + 1, owner="a"), claim(db, owner="b")
        )
        held = ([base + 1] if by_key else []) + general
        assert len({100 + i % 3 for i in held}) == len(held), "one chat was claimed twice"
        assert by_key != (base + 1 in general)  # exactly one of them holds it
        async with db.transaction() as session:  # settle the round
            for update_id in range(base + 1, base + 7):
                await inbox.mark_done(session, update_id=update_id, now=NOW)

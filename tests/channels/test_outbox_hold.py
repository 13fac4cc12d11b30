"""A rung's outbox triggers are claimed in the rung's own transaction and posted as soon as it
commits (no transaction in between), and an outbox post builds no TLS settings of its own.

Real database (SQLite, and PostgreSQL when configured), real HTTP to a local receiver.
"""

from __future__ import annotations

import ssl
from datetime import timedelta
from typing import Any

import pytest

from bot.channels import outbox as outbox_module
from bot.channels.base import Outgoing, RungPage
from bot.channels.outbox import PageEvents, post_json
from bot.channels.pagerduty.channel import PagerDutyChannel
from bot.messaging.delivery import Outcome
from storage.cases import get_case
from storage.engine import Database
from tests.auxil.harness import LOCAL_OUTBOUND
from tests.auxil.receiver import Receiver
from tests.channels.test_outbox import (
    EVENTS,
    Outbox,
    _case,
    _events,
    _followups,
    _outbox,
    _trigger,
)

LEASE = timedelta(seconds=60)


async def _prepare(
    o: Outbox, channel: PagerDutyChannel, case_id: int
) -> tuple[RungPage, list[Outgoing]]:
    """The pager's side: the rung's trigger queued in one transaction (the claim's)."""
    async with o.ctx.db.transaction() as session:
        case = await get_case(session, case_id=case_id)
        assert case is not None
        page = RungPage(
            case=case,
            clinic=o.clinic,
            reference="P-1",
            text="the page",
            summary=f"HIGH priority — case #{case_id}",
            recipients=(),
            nobody_on_call=True,
        )
        outs = await channel.prepare(session, page, now=o.clock.now())
    return page, outs


async def test_a_rungs_trigger_is_claimed_in_the_rungs_transaction(db: Database) -> None:
    async with Receiver() as receiver:
        o = await _outbox(db, receiver)
        case = await _case(o)
        assert case.id is not None
        channel = PagerDutyChannel(o.worker())
        page, outs = await _prepare(o, channel, case.id)
        (event,) = await _events(o)
        # committed already leased to this instance: no other instance's round can take it
        assert (event.lease_owner, event.lease_until) == ("one", o.clock.now() + LEASE)
        other = PageEvents(o.other_instance("two"), lease=LEASE)
        assert await other.run_due() == 0
        assert receiver.requests == []
        assert [d.outcome for d in await channel.send(page, outs)] == [Outcome.SENT]
        assert await other.run_due() == 0  # sent: nothing left for anyone
    assert [r.path for r in receiver.requests] == [EVENTS]  # once
    (event,) = await _events(o)
    assert (event.status, event.attempts, event.lease_owner) == ("sent", 1, None)


async def test_a_trigger_behind_a_pending_event_of_its_target_is_left_to_the_rounds(
    db: Database,
) -> None:
    async with Receiver([202, 503]) as receiver:
        o = await _outbox(db, receiver)
        worker = o.worker()
        case = await _case(o)
        assert case.id is not None
        assert await _trigger(o, case, routing_key="HIGH-KEY") is not None
        assert await worker.run_due() == 1  # the trigger: sent
        assert await _followups(o, case, "acknowledge") == 1
        assert await worker.run_due() == 1  # the acknowledge: 503, pending for a retry
        o.clock.advance(timedelta(seconds=1))
        async with o.ctx.db.transaction() as session:  # re-raised: its ladder starts again
            row = await get_case(session, case_id=case.id)
            assert row is not None
            row.ladder_started_at = o.clock.now()
        channel = PagerDutyChannel(worker)
        page, outs = await _prepare(o, channel, case.id)
        assert [out.held for out in outs] == [None]  # behind the acknowledge: not held
        (delivery,) = await channel.send(page, outs)
        assert delivery.outcome is Outcome.NOT_SENT  # the dispatcher's rounds send it in order
        assert len(receiver.requests) == 2
        o.clock.advance(timedelta(seconds=2))
        assert await worker.run_due() == 1  # the acknowledge first...
        assert await worker.run_due() == 1  # ...then the new trigger
    actions = [r.json()["event_action"] for r in receiver.requests]
    assert actions == ["trigger", "acknowledge", "acknowledge", "trigger"]


async def test_a_post_builds_no_tls_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    outbox_module._tls()  # built once, at start-up (PageEvents does it)
    built: list[Any] = []
    real = ssl.create_default_context

    def counting(*args: Any, **kwargs: Any) -> ssl.SSLContext:
        built.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(ssl, "create_default_context", counting)
    async with Receiver() as receiver:
        for _ in range(2):
            url = f"{receiver.url}{EVENTS}"
            delivery = await post_json(url, b"{}", headers={}, outbound=LOCAL_OUTBOUND)
            assert delivery.outcome is Outcome.SENT
    assert len(receiver.requests) == 2
    assert built == []  # each post reuses the one built at start-up (~20 ms of CPU each)

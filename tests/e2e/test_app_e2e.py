"""The running bot against the sandbox Bot API: /help, duplicates, strangers, restarts."""

from __future__ import annotations

import asyncio
import logging

import pytest
from sqlalchemy import func, select

from bot.intake import inbox as intake_inbox
from sandbox import BotApiSandbox
from storage.models import InboundUpdate, Patient
from storage.states import InboxStatus
from tests.auxil.databases import IsolatedDatabase
from tests.auxil.harness import TOKEN, running_bot

STRANGER = 5001


async def test_help_answers_with_the_crisis_card(
    sandbox: BotApiSandbox, test_db: IsolatedDatabase
) -> None:
    async with running_bot(sandbox, test_db):
        sandbox.send_text(STRANGER, "/help")
        reply = await sandbox.wait_for_message(STRANGER, "988")
        assert "not an emergency service" in reply["text"]
        assert "not watched around the clock" in reply["text"]
        sandbox.send_text(STRANGER, "/crisis")
        await sandbox.wait_for_message(STRANGER, "741741", after=reply["message_id"])
        commands = sandbox.calls_to("setMyCommands")[-1].params["commands"]
        assert {c["command"] for c in commands} >= {"help", "crisis", "checkin", "stop"}


async def test_an_update_stored_while_its_chat_is_busy_follows_when_that_run_ends(
    sandbox: BotApiSandbox, test_db: IsolatedDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A second message stored while its chat's first is being processed cannot be claimed
    then (a chat's updates go one at a time, in order). It is taken on as soon as the first's
    run ends, not at the worker's next idle look (a minute here, so only that wake brings it
    within the test's time)."""
    monkeypatch.setattr(intake_inbox, "IDLE_LOOK_SECONDS", 60.0)
    async with running_bot(sandbox, test_db) as bot:
        sandbox.delay_next("sendMessage", 0.5, chat_id=STRANGER)  # the first's reply is slow
        first = sandbox.send_text(STRANGER, "/help")
        for _ in range(250):  # until it is stored (and claimed with it), then the second
            async with bot.ctx.db.read() as session:
                if await session.get(InboundUpdate, first) is not None:
                    break
            await asyncio.sleep(0.02)
        sandbox.send_text(STRANGER, "/crisis")
        reply = await sandbox.wait_for_message(STRANGER, "988")
        await sandbox.wait_for_message(STRANGER, "741741", after=reply["message_id"], timeout=10)


async def test_a_redelivered_update_is_answered_once(
    sandbox: BotApiSandbox, test_db: IsolatedDatabase
) -> None:
    async with running_bot(sandbox, test_db) as bot:
        update_id = sandbox.send_text(STRANGER, "/help")
        first = await sandbox.wait_for_message(STRANGER, "988")
        sandbox.redeliver(update_id)
        sandbox.send_text(STRANGER, "/crisis")  # a later update proves the duplicate was consumed
        await sandbox.wait_for_message(STRANGER, "988", after=first["message_id"])
        texts = [m["text"] for m in sandbox.chat(STRANGER)]
        assert len(texts) == 2
        async with bot.ctx.db.transaction() as session:
            ids = (
                await session.scalars(
                    select(InboundUpdate.update_id).where(InboundUpdate.status == InboxStatus.DONE)
                )
            ).all()
        assert update_id in ids


async def test_a_stranger_gets_the_join_explanation_and_leaves_no_row(
    sandbox: BotApiSandbox, test_db: IsolatedDatabase
) -> None:
    async with running_bot(sandbox, test_db) as bot:
        sandbox.send_text(STRANGER, "hello, I want to die")
        reply = await sandbox.wait_for_message(STRANGER, "invite")
        assert "not an emergency service" in reply["text"] and "/crisis" in reply["text"]
        first = sandbox.chat(STRANGER)[0]
        assert "988" in first["text"] and first["message_id"] < reply["message_id"]
        sandbox.send_text(STRANGER, "/checkin")
        await sandbox.wait_for_message(STRANGER, "invite", after=reply["message_id"])
        async with bot.ctx.db.transaction() as session:
            assert await session.scalar(select(func.count()).select_from(Patient)) == 0


async def test_group_messages_are_ignored(
    sandbox: BotApiSandbox, test_db: IsolatedDatabase
) -> None:
    async with running_bot(sandbox, test_db):
        sandbox.add_user(STRANGER)
        sandbox.enqueue_update(
            {
                "message": {
                    "message_id": 1,
                    "date": 0,
                    "text": "/help",
                    "chat": {"id": -100123, "type": "supergroup", "title": "G"},
                    "from": {"id": STRANGER, "is_bot": False, "first_name": "S"},
                    "entities": [{"type": "bot_command", "offset": 0, "length": 5}],
                }
            }
        )
        sandbox.send_text(STRANGER, "/help")
        await sandbox.wait_for_message(STRANGER, "988")
        assert not [
            c for c in sandbox.calls_to("sendMessage") if c.params.get("chat_id") == -100123
        ]


async def test_a_failing_update_is_logged_and_the_bot_keeps_serving(
    sandbox: BotApiSandbox, test_db: IsolatedDatabase, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    async with running_bot(sandbox, test_db):
        sandbox.fail_next("sendMessage", status=400, description="Bad Request: something odd")
        sandbox.send_text(STRANGER, "/help")
        await sandbox.wait_for_call("sendMessage", lambda c: c.status == 400)
        told = await sandbox.wait_for_message(STRANGER, "something went wrong")
        assert "988" in told["text"]  # the apology carries the crisis card the reply would have
        sandbox.send_text(STRANGER, "/crisis")
        await sandbox.wait_for_message(STRANGER, "741741", after=told["message_id"])
    assert "intake.reply_failed" in caplog.text and "error=BadRequest" in caplog.text
    assert TOKEN not in caplog.text


async def test_a_restart_keeps_every_row(sandbox: BotApiSandbox, test_db: IsolatedDatabase) -> None:
    async with running_bot(sandbox, test_db):
        sandbox.send_text(STRANGER, "/help")
        await sandbox.wait_for_message(STRANGER, "988")
    async with running_bot(sandbox, test_db) as bot:
        async with bot.ctx.db.transaction() as session:
            count = await session.scalar(select(func.count()).select_from(InboundUpdate))
        assert count == 1
        sandbox.send_text(STRANGER, "/crisis")
        await sandbox.wait_for_message(STRANGER, "741741", after=1)

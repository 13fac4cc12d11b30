"""/infusion refused end to end: an unknown reference and a time that is not one get their
answer, sent only after the update's transaction has committed (no Telegram call inside it:
on SQLite that transaction is the one writer, and a slow Bot API would hold every other)."""

from __future__ import annotations

import asyncio
import time

import pytest
from sqlalchemy import select
from sqlmodel import col

from bot.services.enrollment import create_clinician_invite, enroll_patient
from sandbox import BotApiSandbox
from storage.models import InboundUpdate, Infusion
from storage.states import InboxStatus
from tests.auxil.databases import IsolatedDatabase
from tests.auxil.harness import RunningBot, running_bot

pytestmark = pytest.mark.slow

ADA = 7601
SLOW_REPLY = 1.0  # seconds the Bot API takes to accept each refusal


async def _join(bot: RunningBot) -> None:
    ctx = bot.ctx
    async with ctx.db.transaction() as session:
        token = await create_clinician_invite(
            session,
            clinic=ctx.clinics.clinics[0],
            name="Dr Ada",
            is_admin=False,
            now=ctx.clock.now(),
            actor="cli",
        )
    bot.sandbox.add_user(ADA, "Ada")
    bot.sandbox.send_text(ADA, f"/start {token}")
    await bot.sandbox.wait_for_message(ADA, "registered as a clinician")


async def _processed(bot: RunningBot, update_id: int) -> bool:
    async with bot.ctx.db.read() as session:
        status = await session.scalar(
            select(col(InboundUpdate.status)).where(col(InboundUpdate.update_id) == update_id)
        )
    return status == InboxStatus.DONE


async def _refused(bot: RunningBot, text: str, expect: str) -> str:
    """Send `text`; the update must be committed as processed while its (slow) refusal is
    still on its way to the Bot API. The refusal's text."""
    sandbox = bot.sandbox
    last = sandbox.last_message(ADA)
    after = int(last["message_id"]) if last else 0
    sandbox.delay_next("sendMessage", SLOW_REPLY, chat_id=ADA)
    update_id = sandbox.send_text(ADA, text)
    deadline = time.monotonic() + 10
    while not await _processed(bot, update_id):
        assert sandbox.last_message(ADA) == last, "the refusal was sent before the commit"
        assert time.monotonic() < deadline, "the update was never marked processed"
        await asyncio.sleep(0.02)
    assert sandbox.last_message(ADA) == last, "the commit waited for the refusal"
    reply = await sandbox.wait_for_message(ADA, expect, after=after, timeout=8)
    return str(reply["text"])


async def test_infusion_refusals_are_sent_after_the_commit(
    sandbox: BotApiSandbox, test_db: IsolatedDatabase
) -> None:
    async with running_bot(sandbox, test_db) as bot:
        await _join(bot)
        clinic = bot.ctx.clinics.clinics[0]
        unknown = await _refused(bot, "/infusion P-0000", "No patient")
        assert unknown == f"No patient P-0000 in {clinic.name}."
        async with bot.ctx.db.transaction() as session:
            await enroll_patient(
                session,
                clinic=clinic,
                ref="P-7601",
                timezone="UTC",
                baseline_mood=None,
                emergency_contact=None,
                now=bot.ctx.clock.now(),
                actor="cli",
            )
        not_a_time = await _refused(bot, "/infusion P-7601 25:99", "Not recorded")
        assert not_a_time == "Not recorded: '25:99' is not a time like 14:30"
        async with bot.ctx.db.read() as session:
            assert (await session.scalars(select(Infusion))).all() == []

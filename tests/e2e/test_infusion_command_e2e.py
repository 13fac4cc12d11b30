"""/infusion refused end to end: an unknown reference and a time that is not one get their
answer, sent only after the update's transaction has committed (no Telegram call inside it:
on SQLite that transaction is the one writer, and a slow Bot API would hold every other).
The refusal is held at the Bot API while the test looks: no timing in it."""

from __future__ import annotations

import asyncio

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
    """Send `text`; its refusal is held at the Bot API when it arrives, and by then the update
    must be committed as processed. The refusal's text."""
    sandbox = bot.sandbox
    last = sandbox.last_message(ADA)
    after = int(last["message_id"]) if last else 0
    hold = sandbox.hold_next("sendMessage", chat_id=ADA)
    update_id = sandbox.send_text(ADA, text)
    await asyncio.wait_for(hold.arrived.wait(), 10)
    processed = await _processed(bot, update_id)
    hold.release()
    assert processed, "the refusal was sent before the update's transaction committed"
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

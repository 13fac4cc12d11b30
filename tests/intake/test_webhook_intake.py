"""Webhook mode: 200 only for an update that is stored; 503 while it cannot be, then once."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import select

from sandbox import BotApiSandbox
from storage.models import Answer
from tests.auxil.harness import make_clinics, rehearsal_clinic, webhook_bot
from tests.auxil.journey import enrolled_patient
from tests.auxil.outage import breakable_database

PAT = 8501
WORDS = "feeling low today, nothing helps"


async def test_a_failure_to_store_answers_503_and_the_redelivery_is_processed_once(
    sandbox: BotApiSandbox, backend: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with (
        breakable_database(backend, tmp_path, monkeypatch) as breakable,
        webhook_bot(sandbox, breakable.database, clinics=make_clinics(rehearsal_clinic())) as (
            bot,
            _url,
        ),
    ):
        await enrolled_patient(bot, PAT, "P-85", infusion=False)
        async with breakable.outage():
            update_id = sandbox.send_text(PAT, WORDS)
            await sandbox.wait_for_message(PAT, "cannot record messages right now")
            for _ in range(200):  # Telegram tries again and again while it is refused
                failed = [
                    a
                    for a in sandbox.state.webhook_attempts
                    if a.update_id == update_id and a.error
                ]
                if len(failed) >= 2:
                    break
                await asyncio.sleep(0.05)
            assert len(failed) >= 2
            assert all("503" in (a.error or "") for a in failed), failed
        await sandbox.wait_for_message(PAT, "your message is saved", timeout=15)
        attempts = [a for a in sandbox.state.webhook_attempts if a.update_id == update_id]
        assert attempts[-1].error is None  # accepted once it was stored
        # Telegram sends it once more (it never heard the 200): answered, changes nothing.
        sandbox.redeliver(update_id)
        for _ in range(200):
            attempts = [a for a in sandbox.state.webhook_attempts if a.update_id == update_id]
            if len([a for a in attempts if a.error is None]) == 2:
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.5)  # time enough for a second reply, if one were coming
        async with bot.ctx.db.transaction() as session:
            answers = (await session.scalars(select(Answer))).all()  # sealed: no SQL match
            kept = [a for a in answers if a.value == WORDS]
        assert [a.update_id for a in kept] == [update_id]
        replies = [m.get("text", "") for m in sandbox.chat(PAT)]
        assert sum("cannot record messages right now" in r for r in replies) == 1  # once
        assert sum("your message is saved" in r for r in replies) == 1

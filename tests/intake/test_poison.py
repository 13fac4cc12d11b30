"""A poison update: tried a bounded number of times, parked, the clinic told; the chat goes on."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from sqlalchemy import select

import handlers.checkin
from sandbox import BotApiSandbox
from storage import inbox
from storage.models import Answer, AuditEvent, Case, InboundUpdate
from storage.states import CaseTrigger, InboxStatus, Level
from tests.auxil.databases import IsolatedDatabase
from tests.auxil.harness import make_clinics, rehearsal_clinic, running_bot
from tests.auxil.journey import enrolled_patient

PAT = 8601
POISON = "this message trips a fault"


async def test_a_poison_update_is_parked_and_the_chats_next_message_is_processed(
    sandbox: BotApiSandbox,
    test_db: IsolatedDatabase,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    original = handlers.checkin.record_free_text
    tries: list[str] = []

    async def faulty(*args: Any, **kwargs: Any) -> Any:  # a bug that one message always trips
        if kwargs["text"] == POISON:
            tries.append(kwargs["text"])
            raise ValueError("a fault of this update's own")
        return await original(*args, **kwargs)

    monkeypatch.setattr(handlers.checkin, "record_free_text", faulty)
    caplog.set_level(logging.INFO)
    async with running_bot(
        sandbox,
        test_db,
        clinics=make_clinics(rehearsal_clinic()),
        intake_max_attempts=3,
        intake_retry_seconds=0.1,
    ) as bot:
        await enrolled_patient(bot, PAT, "P-86", infusion=False)
        poison = sandbox.send_text(PAT, POISON)
        after = sandbox.send_text(PAT, "and this one is fine")
        told = await sandbox.wait_for_message(PAT, "could not be processed", timeout=15)
        assert "North Clinic has been told" in told["text"] and "988" in told["text"]
        saved = await sandbox.wait_for_message(PAT, "your message is saved", timeout=10)
        assert told["message_id"] < saved["message_id"]  # in order: parked, then the next
        ctx = bot.ctx
        async with ctx.db.transaction() as session:
            parked = await inbox.parked(session)
            next_row = await session.get(InboundUpdate, after)
            kept = (await session.scalars(select(Answer.value))).all()
            cases = (await session.scalars(select(Case))).all()
            audit = (
                await session.scalars(select(AuditEvent).where(AuditEvent.event == "update.parked"))
            ).all()
        assert len(tries) == 3  # the bounded number of tries, no more
        assert [p.update_id for p in parked] == [poison]
        assert parked[0].status is InboxStatus.PARKED and parked[0].attempts == 2
        assert (parked[0].error or "").startswith("ValueError: a fault of this update's own")
        assert parked[0].payload is not None and POISON in parked[0].payload  # kept to be read
        assert next_row is not None and next_row.status is InboxStatus.DONE
        assert list(kept) == ["and this one is fine"]
        (case,) = cases
        assert case.level is Level.LOW and case.trigger is CaseTrigger.UNPROCESSED
        assert f"update {poison}" in case.reason and "aftercare intake show" in case.reason
        assert len(audit) == 1 and audit[0].case_id is None and audit[0].patient_id is not None
        assert ctx.metrics.updates_parked._value.get() == 1
        assert ctx.metrics.updates_retried._value.get() == 2
    assert f"intake.parked update_id={poison}" in caplog.text
    assert POISON not in caplog.text  # the patient's words never reach the log

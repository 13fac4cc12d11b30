"""A database outage while patients write: answered from memory at once, nothing lost, paged after.

PostgreSQL goes away behind a TCP proxy the test controls (the shared server is never touched);
SQLite is held locked by another writer past the bot's busy timeout. Either way the bot stores
nothing and confirms nothing meanwhile, says so on /healthz, and afterwards records every
answer once and pages on-call for the crisis message, saying it was delayed by an outage.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import event, func, select, text
from sqlalchemy.exc import OperationalError

from bot.messaging import texts
from bot.services.oncall import add_shift
from sandbox import BotApiSandbox
from storage.engine import Database
from storage.models import Answer, Case, InboundUpdate
from storage.states import CaseTrigger, InboxStatus
from tests.auxil.databases import IsolatedDatabase
from tests.auxil.harness import (
    RunningBot,
    free_port,
    make_clinics,
    rehearsal_clinic,
    running_bot,
)
from tests.auxil.journey import answer, enrolled_patient, join_clinician
from tests.auxil.outage import breakable_database

ADA, PAT = 7301, 8301
OUTAGE_SECONDS = 12.0
CRISIS = "I took all my pills an hour ago and I want to die"
NOTES = [f"note {i} written while the database was away" for i in range(1, 6)]
CLINIC = rehearsal_clinic(
    extra="""
[clinics.escalation]
moderate = [{ after = "PT0S", notify = ["primary"] }]
"""
)


async def _on_call(bot: RunningBot) -> None:
    await join_clinician(bot, ADA, "Dr Ada")
    ctx = bot.ctx
    now = ctx.clock.now()
    async with ctx.db.transaction() as session:
        await add_shift(
            session,
            clinic=ctx.clinics.clinics[0],
            clinician_name="Dr Ada",
            starts_at=now - timedelta(minutes=1),
            ends_at=now + timedelta(hours=1),
            now=now,
            actor="cli",
            role="primary",
        )


async def _health(port: int) -> tuple[int, dict[str, Any]]:
    async with httpx.AsyncClient(timeout=10, trust_env=False) as http:
        response = await http.get(f"http://127.0.0.1:{port}/healthz")
    return response.status_code, response.json()


async def _until(probe: Callable[[], Any], seconds: float, what: str) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if found := probe():
            return found
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


async def _stream_through_an_outage(
    sandbox: BotApiSandbox,
    bot: RunningBot,
    *,
    outage: Callable[[], AbstractAsyncContextManager[None]],
    health_port: int,
    problem: str,
) -> None:
    await _on_call(bot)
    await enrolled_patient(bot, PAT, "P-83")
    await answer(sandbox, PAT, "mood", "6", wait=8)
    question = await sandbox.wait_for_message(PAT, "wished you were dead")
    async with outage():
        started = time.monotonic()
        query = sandbox.tap(PAT, question["message_id"], button_text="No")
        notes = [sandbox.send_text(PAT, note) for note in NOTES]
        crisis = sandbox.send_text(PAT, CRISIS)
        # At once, from memory: the tap is told it is kept, the crisis message gets the card.
        held = await _until(lambda: sandbox.callback_answer(query), 10, "the tap's answer")
        assert held["text"] == texts.HELD_TAP
        card = await sandbox.wait_for_message(PAT, "988", timeout=10)
        kept = await sandbox.wait_for_message(PAT, "cannot record messages right now")
        assert "Nobody is reading this chat" in kept["text"] and "/crisis" in kept["text"]
        status, report = await _health(health_port)
        assert status == 503 and report["intake"] != "ok", report
        assert problem in report["intake"], report
        assert "intake" in report["failing"]
        assert len(sandbox.state.queue) >= len(NOTES) + 2  # nothing confirmed meanwhile
        await asyncio.sleep(max(0.0, OUTAGE_SECONDS - (time.monotonic() - started)))
    page = await sandbox.wait_for_message(ADA, "MODERATE priority", timeout=20)
    assert "pills" in page["text"] and "Delayed by a service outage" in page["text"], page["text"]
    # The crisis message's own answer: the card first, then what happens to the message.
    after_card = await sandbox.wait_for_message(PAT, None, after=card["message_id"])
    assert "cannot record messages right now" in after_card["text"]
    await sandbox.wait_for_message(PAT, "actually had any thoughts", timeout=10)  # s1 → s2
    ctx = bot.ctx

    async def stored() -> dict[str, Any]:
        async with ctx.db.transaction() as session:
            rows = (
                await session.scalars(select(Answer).where(Answer.patient_id.is_not(None)))
            ).all()
            waiting = await session.scalar(
                select(func.count())
                .select_from(InboundUpdate)
                .where(InboundUpdate.status != InboxStatus.DONE)
            )
            cases = (await session.scalars(select(Case))).all()
        return {"rows": rows, "waiting": waiting, "cases": cases}

    deadline = time.monotonic() + 15
    while True:
        found = await stored()
        texts_kept = [a.value for a in found["rows"] if a.item_id == "message"]
        if found["waiting"] == 0 and len(texts_kept) >= len(NOTES) + 1:
            break
        assert time.monotonic() < deadline, found
        await asyncio.sleep(0.1)
    assert sorted(texts_kept) == sorted([*NOTES, CRISIS])  # each once
    s1 = [a for a in found["rows"] if a.item_id == "s1"]
    assert [a.value for a in s1] == ["no"]
    by_update = [a.update_id for a in found["rows"] if a.update_id is not None]
    assert len(by_update) == len(set(by_update))
    assert {a.update_id for a in found["rows"] if a.item_id == "message"} == {*notes, crisis}
    (case,) = found["cases"]
    assert case.trigger is CaseTrigger.MESSAGE and "Delayed by a service outage" in case.reason
    for _ in range(100):  # healthy again once its own checks find the database
        status, report = await _health(health_port)
        if status == 200:
            break
        await asyncio.sleep(0.1)
    assert status == 200 and report["intake"] == "ok", report


async def test_a_database_outage_loses_nothing_and_pages_after(
    sandbox: BotApiSandbox, backend: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with breakable_database(backend, tmp_path, monkeypatch) as breakable:
        port = free_port()
        async with running_bot(
            sandbox, breakable.database, clinics=make_clinics(CLINIC), health_port=port
        ) as bot:
            await _stream_through_an_outage(
                sandbox, bot, outage=breakable.outage, health_port=port, problem=breakable.problem
            )


async def test_a_full_sqlite_disk_is_an_outage_too(
    sandbox: BotApiSandbox, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """SQLITE_FULL, as a full disk gives it (here: the file may not grow past its size now)."""
    cap: list[int] = []  # the most pages the file may have; none while empty
    words = "тревога и бессонница " * 190  # 3,990 characters, 7 KB: more than a page holds

    class CappedDatabase(IsolatedDatabase):
        def open(self) -> Database:
            db = super().open()

            @event.listens_for(db.engine.sync_engine, "begin")
            def _size_limit(connection: Any) -> None:
                connection.exec_driver_sql(f"PRAGMA max_page_count = {cap[0] if cap else 2**30}")

            return db

    database = CappedDatabase(f"sqlite+aiosqlite:///{tmp_path / 'aftercare.db'}")
    port = free_port()
    async with running_bot(
        sandbox, database, clinics=make_clinics(CLINIC), health_port=port
    ) as bot:
        await enrolled_patient(bot, PAT, "P-84", infusion=False)
        async with bot.ctx.db.transaction() as session:
            await session.execute(text("CREATE TABLE filler (x BLOB)"))
            cap.append(int(await session.scalar(text("PRAGMA page_count")) or 0))
        with contextlib.suppress(OperationalError):  # take up whatever room is left
            for _ in range(10_000):
                async with bot.ctx.db.transaction() as session:
                    await session.execute(text("INSERT INTO filler VALUES (randomblob(900))"))
        update_id = sandbox.send_text(PAT, words)
        await sandbox.wait_for_message(PAT, "cannot record messages right now", timeout=10)
        status, report = await _health(port)
        assert status == 503 and "database or disk is full" in report["intake"], report
        assert re.search(r"ERROR .* intake\.\S+ .*database or disk is full", caplog.text)
        async with bot.ctx.db.transaction() as session:  # reading still works
            row = await session.get(InboundUpdate, update_id)
        held_by_telegram = update_id in {q.update_id for q in sandbox.state.queue}
        assert held_by_telegram or (row is not None and row.status is InboxStatus.PENDING)
        cap.clear()  # space again
        await sandbox.wait_for_message(PAT, "your message is saved", timeout=15)
        async with bot.ctx.db.transaction() as session:
            kept = (await session.scalars(select(Answer.value))).all()
        assert list(kept) == [words]
        status, report = await _health(port)
        assert status == 200, report

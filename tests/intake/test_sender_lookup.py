"""Who sent an update, looked up where the intake stores it (issue 32): a lone update leased
at once as its chat's next is served with that lookup (no reader of its own before the
handlers); an update that follows another of its chat in a run is looked up afresh, after the
first's effects."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from sqlalchemy import func, select
from telegram import Update

import handlers.common
from bot.context import Identity, Received
from bot.intake import inbox as intake_inbox
from bot.intake.inbox import Claimed, _as_stored
from bot.intake.receive import _first_of_its_chat
from bot.messaging import texts
from sandbox import BotApiSandbox
from storage import inbox
from storage.inbox import Arrival
from storage.models import Checkin, InboundUpdate, Patient
from storage.states import InboxStatus, PatientStatus
from tests.auxil.databases import IsolatedDatabase
from tests.auxil.harness import running_bot
from tests.auxil.journey import enrolled_patient

PAT = 8411


def _counting_admit_lookups(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Every chat `handlers.common.admit` looks up itself (not given by the intake)."""
    looked_up: list[int] = []
    lookup = handlers.common.patient_by_chat

    async def counted(session: Any, *, chat_id: int) -> Any:
        looked_up.append(chat_id)
        return await lookup(session, chat_id=chat_id)

    monkeypatch.setattr(handlers.common, "patient_by_chat", counted)
    return looked_up


async def test_a_lone_update_leased_at_once_is_served_with_the_storing_lookup(
    sandbox: BotApiSandbox, test_db: IsolatedDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    looked_up = _counting_admit_lookups(monkeypatch)
    async with running_bot(sandbox, test_db) as bot:
        await enrolled_patient(bot, PAT, "P-41", infusion=False)
        sandbox.send_text(PAT, "/checkin")
        await sandbox.wait_for_message(PAT, "mood")  # served as the patient they are
        sandbox.send_text(PAT, "/stop")
        await sandbox.wait_for_message(PAT, "Do you want to stop")
    assert looked_up == []  # each was found in the transaction that stored and leased it


async def test_an_update_behind_another_of_its_chat_is_looked_up_after_the_first(
    sandbox: BotApiSandbox, test_db: IsolatedDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The patient confirms /stop, and that tap is held unprocessed (stored by an instance
    that stopped first). Their /checkin arrives here: the intake finds them active while
    storing it, but the run processes the tap first, so /checkin must see them stopped."""
    monkeypatch.setattr(intake_inbox, "IDLE_LOOK_SECONDS", 60.0)  # only the arrival claims
    looked_up = _counting_admit_lookups(monkeypatch)
    async with running_bot(sandbox, test_db) as bot:
        patient_id = await enrolled_patient(bot, PAT, "P-42", infusion=False)
        sandbox.send_text(PAT, "/stop")
        confirm = await sandbox.wait_for_message(PAT, "Do you want to stop")
        tap_id = sandbox.state.next_update_id
        sandbox.state.next_update_id += 1  # the /checkin comes after it
        query: dict[str, Any] = {
            "id": "4300000000000004242",
            "from": {"id": PAT, "is_bot": False, "first_name": "P-42"},
            "message": confirm,
            "chat_instance": "42",
            "data": "stop:yes",
        }
        sandbox.state.open_queries.add(query["id"])
        now = bot.ctx.clock.now()
        payload = json.dumps({"update_id": tap_id, "callback_query": query})
        async with bot.ctx.db.transaction() as session:
            await inbox.store(session, [Arrival(tap_id, PAT, payload, seen_at=now)], now=now)
        sandbox.send_text(PAT, "/checkin")
        clinic = bot.ctx.clinics.clinics[0]
        await sandbox.wait_for_message(PAT, texts.paused(clinic, PatientStatus.OPTED_OUT))
        async with bot.ctx.db.read() as session:
            patient = await session.get(Patient, patient_id)
            assert patient is not None and patient.status == PatientStatus.OPTED_OUT
            started = select(func.count()).select_from(Checkin)
            assert await session.scalar(started.where(Checkin.patient_id == patient_id)) == 0
            done = select(InboundUpdate.update_id).where(InboundUpdate.status == InboxStatus.DONE)
            assert tap_id in set((await session.scalars(done)).all())  # before the /checkin
    assert looked_up == [PAT, PAT]  # the tap (stored elsewhere), then the /checkin afresh


def _row(update_id: int, payload: str) -> InboundUpdate:
    return InboundUpdate(update_id=update_id, chat_id=PAT, payload=payload)


async def test_only_a_runs_first_update_keeps_the_intakes_lookup_and_spinner() -> None:
    sender, spinner = Identity(), asyncio.create_task(asyncio.sleep(0))
    first, second, other = (
        Received(f"p{n}", update=object(), sender=sender, spinner=spinner)  # type: ignore[arg-type]
        for n in (1, 2, 3)
    )
    rows = [_row(1, "p1"), _row(2, "p2"), _row(3, "redelivered")]
    known = _as_stored(rows, {1: first, 2: second, 3: other})
    assert known[1].sender is sender and known[1].spinner is spinner
    assert known[2].update is second.update
    assert known[2].sender is None and known[2].spinner is None
    assert 3 not in known  # the row holds another copy: read from the row, looked up afresh
    await spinner


def test_a_tap_is_answered_at_once_only_as_the_next_of_its_chat() -> None:
    """The intake's guess that a tap is the next answer holds only if nothing of its chat is
    processed before it: a tap behind another of its chat (a double tap held during an
    outage) keeps its spinner for the handler, which knows what the first one did."""
    chat = {"id": PAT, "type": "private"}
    tap = Update.de_json({"update_id": 2, "message": {"message_id": 1, "date": 0, "chat": chat}})
    assert tap is not None
    alone = Claimed({PAT: [_row(2, "p2")]}, [])
    behind = Claimed({PAT: [_row(1, "p1"), _row(2, "p2")]}, [])
    elsewhere = Claimed({PAT + 1: [_row(2, "p2")]}, [])
    assert _first_of_its_chat(alone, tap)
    assert not _first_of_its_chat(behind, tap)
    assert not _first_of_its_chat(elsewhere, tap)

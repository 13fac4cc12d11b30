"""`aftercare intake show` and `intake retry`: parked updates an operator reads and puts back."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path

from bot.cli.intake import what_it_was
from storage import inbox
from storage.crypto.keyring import open_database
from storage.inbox import Arrival
from storage.models import InboundUpdate, Patient
from storage.states import InboxStatus, PatientStatus
from tests.auxil.cli import MINIMAL_CLINIC, aftercare, cli_env

NOW = datetime(2026, 12, 2, 15, 0, tzinfo=UTC)


async def _park_one(url: str) -> None:
    db = open_database(url)
    try:
        async with db.transaction() as session:
            session.add(
                Patient(
                    clinic_id="north",
                    ref="P-7",
                    timezone="UTC",
                    chat_id=555,
                    status=PatientStatus.ACTIVE,
                    created_at=NOW,
                )
            )
            update = {"update_id": 41, "message": {"text": "the words that failed", "chat": {}}}
            await inbox.store(session, [Arrival(41, 555, json.dumps(update), NOW)], now=NOW)
            await inbox.park(session, update_id=41, error="ValueError: boom", now=NOW)
    finally:
        await db.dispose()


async def _status(url: str) -> InboxStatus:
    db = open_database(url)
    try:
        async with db.transaction() as session:
            row = await session.get(InboundUpdate, 41)
            assert row is not None
            return row.status
    finally:
        await db.dispose()


def test_show_lists_parked_updates_and_retry_puts_one_back(tmp_path: Path) -> None:
    (tmp_path / "clinic.toml").write_text(MINIMAL_CLINIC, encoding="utf-8")
    empty = aftercare(tmp_path, "intake", "show")
    assert empty.returncode == 0, empty.stderr
    assert empty.stdout.strip().endswith("0 parked, 0 waiting to be processed")
    url = cli_env(tmp_path)["AFTERCARE_DATABASE_URL"]
    asyncio.run(_park_one(url))
    shown = aftercare(tmp_path, "intake", "show")
    assert shown.returncode == 0, shown.stderr
    assert (
        "update 41  patient P-7 (north)  parked 2026-12-02 15:00 UTC after 1 tries" in shown.stdout
    )
    assert "error: ValueError: boom" in shown.stdout
    assert "message: the words that failed" in shown.stdout
    assert "1 parked, 0 waiting" in shown.stdout
    retried = aftercare(tmp_path, "intake", "retry", "41")
    assert retried.returncode == 0, retried.stderr
    assert "update 41 will be tried again" in retried.stdout
    assert asyncio.run(_status(url)) is InboxStatus.PENDING
    again = aftercare(tmp_path, "intake", "retry", "41")
    assert again.returncode == 1
    assert "no parked update 41" in again.stderr


def test_what_an_update_was_in_a_few_words() -> None:
    assert what_it_was('{"callback_query": {"data": "c:1:s1:no"}}') == "button: c:1:s1:no"
    assert what_it_was('{"edited_message": {"caption": "pic"}}') == "edited message: pic"
    assert what_it_was('{"update_id": 1, "my_chat_member": {}}') == "my_chat_member update"
    assert what_it_was("{not json") == "unreadable update"
    assert what_it_was(None) == "empty update"

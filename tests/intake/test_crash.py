"""SIGKILL at the worst moment: nothing a patient sent is lost, and nothing is stored twice.

`aftercare run` runs as a real process against the sandbox. Patients send a stream of taps and
messages; the process is killed the instant Telegram is told the updates arrived (the
getUpdates that confirms them, before the bot even hears the answer), and again while it is
working through them. After the last restart every update is stored exactly once, and the taps
were taken in their order (an out-of-order tap would be refused as not the current question).
"""

from __future__ import annotations

import asyncio
import signal
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import BinaryIO

from sqlalchemy import func, select

from bot.domain import checkin_flow
from bot.messaging import questions
from sandbox import BotApiSandbox
from storage.crypto.keyring import open_database
from storage.engine import Database
from storage.models import Answer, Checkin, InboundUpdate
from storage.states import CheckinStatus, InboxStatus
from tests.auxil.cli import cli_env
from tests.auxil.databases import IsolatedDatabase, standalone
from tests.auxil.harness import TOKEN, make_clinics, rehearsal_clinic, running_bot
from tests.auxil.journey import enrolled_patient

AFTERCARE = Path(sys.executable).parent / "aftercare"
CLINIC = rehearsal_clinic(offset="PT1S")
PATIENTS = [8401, 8402, 8403, 8404]
TAPS = [(checkin_flow.MOOD, "5"), ("s1", "no"), ("s2", "no"), ("s6", "no"), ("rf", "no")]
MESSAGES = 5


@asynccontextmanager
async def bot_process(
    sandbox: BotApiSandbox, url: str, workdir: Path, name: str
) -> AsyncIterator[asyncio.subprocess.Process]:
    """`aftercare run` in its own process, polling the sandbox; killed if still running."""
    env = cli_env(
        workdir,
        AFTERCARE_TELEGRAM_TOKEN=TOKEN,
        AFTERCARE_TELEGRAM_API_URL=sandbox.url,
        AFTERCARE_DATABASE_URL=url,
        AFTERCARE_DISPATCH_INTERVAL_SECONDS="0.5",
        AFTERCARE_INSTANCE_ID=name,
    )
    polls = len(sandbox.calls_to("deleteWebhook"))
    with _log_file(workdir / f"{name}.log") as log:
        proc = await asyncio.create_subprocess_exec(
            str(AFTERCARE), "run", cwd=workdir, env=env, stdout=log, stderr=log
        )
        try:
            await sandbox.wait_for_call(
                "deleteWebhook",
                lambda c: len(sandbox.calls_to("deleteWebhook")) > polls,
                timeout=30,
            )
            yield proc
        finally:
            if proc.returncode is None:
                proc.kill()
            await proc.wait()


def _log_file(path: Path) -> BinaryIO:
    return path.open("wb")


def _read(path: Path) -> str:
    return path.read_text(errors="replace")


def stream(sandbox: BotApiSandbox, questions_of: dict[int, tuple[int, int]]) -> list[int]:
    """Every patient answers the whole check-in and writes; the update ids, in order sent."""
    sent = []
    for chat, (checkin_id, message_id) in questions_of.items():
        for item, value in TAPS:
            data = f"{questions.PREFIX}:{checkin_id}:{item}:{value}"
            sandbox.tap(chat, message_id, data=data, forge=True)
            sent.append(sandbox.state.queue[-1].update_id)
        sent.append(sandbox.send_text(chat, f"the note of {chat}"))  # the note comes last
        sent += [sandbox.send_text(chat, f"message {i} of {chat}") for i in range(MESSAGES)]
    return sent


async def stored_answers(db: Database) -> list[Answer]:
    async with db.transaction() as session:
        return list((await session.scalars(select(Answer))).all())


async def wait_for_all(db: Database, expected: int, log: Path) -> list[Answer]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        answers = await stored_answers(db)
        async with db.transaction() as session:
            waiting = await session.scalar(
                select(func.count())
                .select_from(InboundUpdate)
                .where(InboundUpdate.status != InboxStatus.DONE)
            )
        if len(answers) >= expected and waiting == 0:
            return answers
        await asyncio.sleep(0.2)
    raise AssertionError(f"only {len(answers)} of {expected} stored; log:\n{_read(log)}")


async def test_sigkill_after_the_confirm_and_mid_stream_loses_nothing(
    sandbox: BotApiSandbox, backend: str, tmp_path: Path
) -> None:
    (tmp_path / "clinic.toml").write_text(CLINIC, encoding="utf-8")
    async with standalone(backend, tmp_path) as url:
        questions_of: dict[int, tuple[int, int]] = {}
        async with running_bot(sandbox, IsolatedDatabase(url), clinics=make_clinics(CLINIC)) as bot:
            for index, chat in enumerate(PATIENTS):
                await enrolled_patient(bot, chat, f"P-{index}")
            for chat in PATIENTS:
                question = await sandbox.wait_for_message(chat, "mood", timeout=10)
                checkin = questions.parse_tap(
                    question["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
                )
                assert checkin is not None
                questions_of[chat] = (checkin.checkin_id, question["message_id"])
        db = open_database(url)
        try:
            # 1. Killed the instant the stream is confirmed to Telegram: it is in the inbox only.
            async with bot_process(sandbox, url, tmp_path, "first") as first:
                sandbox.delay_next("sendMessage", 0.3, times=10_000)  # slow replies: work piles up
                sandbox.delay_next("answerCallbackQuery", 0.3, times=10_000)
                killed: list[list[int]] = []

                def kill_now(confirmed: list[int]) -> None:
                    if first.returncode is None and not killed:
                        first.send_signal(signal.SIGKILL)
                        killed.append(confirmed)

                sandbox.state.on_confirm = kill_now
                sent = stream(sandbox, questions_of)
                assert len(sent) >= 40
                await asyncio.wait_for(first.wait(), timeout=30)
                sandbox.state.on_confirm = None
            assert killed and set(sent) <= set(killed[0])  # Telegram will not deliver them again
            assert not {q.update_id for q in sandbox.state.queue} & set(sent)
            before = len(await stored_answers(db))
            assert before < len(sent), "the first process was killed too late to prove anything"
            # 2. Killed again while it works through them (replies still slow).
            async with bot_process(sandbox, url, tmp_path, "second") as second:
                for _ in range(600):  # until it has stored a few more
                    if len(await stored_answers(db)) >= before + 3:
                        break
                    await asyncio.sleep(0.05)
                second.send_signal(signal.SIGKILL)
                await second.wait()
            # 3. A clean run finishes the work.
            sandbox.state.delays.clear()
            async with bot_process(sandbox, url, tmp_path, "third") as third:
                answers = await wait_for_all(db, len(sent), tmp_path / "third.log")
                third.send_signal(signal.SIGTERM)
                assert await asyncio.wait_for(third.wait(), timeout=30) == 0
            assert sorted(a.update_id for a in answers) == sorted(sent)  # each exactly once
            async with db.transaction() as session:
                checkins = (await session.scalars(select(Checkin))).all()
            for chat, (checkin_id, _) in questions_of.items():
                mine = {a.item_id: a.value for a in answers if a.checkin_id == checkin_id}
                assert mine == {**dict(TAPS), "note": f"the note of {chat}"}, mine
                free = sorted(
                    a.value for a in answers if a.item_id == "message" and str(chat) in a.value
                )
                assert free == [f"message {i} of {chat}" for i in range(MESSAGES)]
            assert {c.status for c in checkins} == {CheckinStatus.COMPLETED}
        finally:
            await db.dispose()

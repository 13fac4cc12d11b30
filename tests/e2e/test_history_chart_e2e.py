"""/history REF end to end: the text first, then the mood chart as a photo with its summary; a
photo Telegram refuses costs only the photo."""

from __future__ import annotations

import asyncio
import io
import logging
from typing import Any

import pytest
from PIL import Image

from sandbox import BotApiSandbox
from tests.auxil.databases import IsolatedDatabase
from tests.auxil.harness import RunningBot, make_clinics, rehearsal_clinic, running_bot
from tests.auxil.journey import enrolled_patient, infusions_ended_at, join_clinician

pytestmark = pytest.mark.slow

ADA, PAT = 7601, 8601
REF = "P-7601"
CLINIC = rehearsal_clinic(offset="PT1H", red_flags=False)


async def _answered_checkin(bot: RunningBot) -> None:
    """The patient is enrolled, had an infusion, and answers a check-in: mood 3, all No."""
    patient_id = await enrolled_patient(bot, PAT, REF, infusion=False)
    await infusions_ended_at(bot, [patient_id], ended_at=bot.ctx.clock.now())
    sandbox, after = bot.sandbox, 0
    sandbox.send_text(PAT, "/checkin")
    for question, button in (
        ("How is your mood", "3"),
        ("wished you were dead", "No"),
        ("thoughts of killing yourself", "No"),
        ("prepared to do anything", "No"),
        ("Anything else", "Skip"),
    ):
        asked = await sandbox.wait_for_message(PAT, question, after=after)
        sandbox.tap(PAT, asked["message_id"], button_text=button)
        after = asked["message_id"]
    await sandbox.wait_for_message(PAT, "Thank you", after=after)


async def _warnings(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    """The handler's warnings, once it has logged (it may still be running when the call is)."""
    for _ in range(100):
        found = [r for r in caplog.records if r.name == "handlers.cases"]
        if found:
            return found
        await asyncio.sleep(0.02)
    return []


def _after(sandbox: BotApiSandbox, chat: int, after: int) -> list[dict[str, Any]]:
    return [m for m in sandbox.chat(chat) if m["message_id"] > after]


async def test_history_sends_the_text_then_the_mood_chart(
    sandbox: BotApiSandbox, test_db: IsolatedDatabase
) -> None:
    async with running_bot(sandbox, test_db, clinics=make_clinics(CLINIC)) as bot:
        await join_clinician(bot, ADA, "Dr Ada")
        await _answered_checkin(bot)
        before = sandbox.last_message(ADA)["message_id"]  # type: ignore[index]
        sandbox.send_text(ADA, f"/history {REF}")
        photo = await sandbox.wait_for_message(ADA, f"Mood of {REF}", after=before, timeout=8)
        text, shown = _after(sandbox, ADA, before)
        assert text["text"].startswith(f"{REF}: baseline unset; mood trend"), text["text"]
        assert "mood=3" in text["text"] and "photo" not in text
        assert shown["message_id"] == photo["message_id"] > text["message_id"]
        caption = photo["caption"]
        assert "1 check-in with a mood answer" in caption, caption
        assert "C-SSRS: 0 positive of 1 screener" in caption, caption
        assert "1 infusion:" in caption and len(caption) <= 1024, caption
        png = sandbox.file_content(photo["photo"][0]["file_id"])
        assert png is not None and png.startswith(b"\x89PNG")
        assert Image.open(io.BytesIO(png)).size == (720, 300)
        stored = sandbox.state.files[photo["photo"][0]["file_id"]]
        assert (stored.file_name, stored.mime_type) == (f"mood-{REF}.png", "image/png")


async def test_a_429_on_the_chart_waits_and_the_chart_still_arrives(
    sandbox: BotApiSandbox, test_db: IsolatedDatabase
) -> None:
    async with running_bot(sandbox, test_db, clinics=make_clinics(CLINIC)) as bot:
        await join_clinician(bot, ADA, "Dr Ada")
        await _answered_checkin(bot)
        before = sandbox.last_message(ADA)["message_id"]  # type: ignore[index]
        sandbox.fail_next("sendPhoto", status=429, retry_after=1)
        sandbox.send_text(ADA, f"/history {REF}")
        await sandbox.wait_for_message(ADA, f"Mood of {REF}", after=before, timeout=8)
        assert [c.status for c in sandbox.calls_to("sendPhoto")] == [429, 200]
        text, photo = _after(sandbox, ADA, before)  # the text, then the one chart: no apology
        assert text["text"].startswith(f"{REF}: baseline unset") and "photo" in photo


@pytest.mark.parametrize(
    ("status", "description"), [(400, "Bad Request: PHOTO_INVALID"), (502, "Bad Gateway")]
)
async def test_a_refused_photo_leaves_the_text_a_note_and_a_warning_without_patient_words(
    sandbox: BotApiSandbox,
    test_db: IsolatedDatabase,
    caplog: pytest.LogCaptureFixture,
    status: int,
    description: str,
) -> None:
    caplog.set_level(logging.WARNING, logger="handlers.cases")
    async with running_bot(sandbox, test_db, clinics=make_clinics(CLINIC)) as bot:
        await join_clinician(bot, ADA, "Dr Ada")
        await _answered_checkin(bot)
        before = sandbox.last_message(ADA)["message_id"]  # type: ignore[index]
        sandbox.fail_next("sendPhoto", status=status, description=description, chat_id=ADA)
        sandbox.send_text(ADA, f"/history {REF}")
        await sandbox.wait_for_message(ADA, "did not go through", after=before, timeout=8)
        text, note = _after(sandbox, ADA, before)  # a send is never repeated blind
        assert [c.status for c in sandbox.calls_to("sendPhoto")] == [status]
        assert text["text"].startswith(f"{REF}: baseline unset"), text["text"]
        assert note["text"] == (
            "The mood chart did not go through (Telegram did not confirm it). "
            f"If it is not above, send /history {REF} again."
        )
        warnings = await _warnings(caplog)
        assert [r.getMessage().split()[0] for r in warnings] == ["history.chart_not_sent"]
        assert REF not in warnings[0].getMessage() and "mood" not in warnings[0].getMessage()
        # The next /history delivers both again.
        sandbox.send_text(ADA, f"/history {REF}")
        await sandbox.wait_for_message(ADA, f"Mood of {REF}", after=note["message_id"])

"""The escalation ladder end to end with compressed timeouts, plus the blocked and nobody paths."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from bot.services.oncall import add_shift
from sandbox import BotApiSandbox
from storage.models import Case, Page
from tests.auxil.databases import IsolatedDatabase
from tests.auxil.harness import RunningBot, make_clinics, rehearsal_clinic, running_bot
from tests.auxil.journey import (
    answer,
    enrolled_patient,
    join_clinician,
    log_contact,
    report_intent,
)

ADA, BEN, CAL = 7101, 7102, 7103
PAT = 8101

LADDER = rehearsal_clinic(
    extra="""
[clinics.escalation]
high = [
  { after = "PT0S", notify = ["primary"] },
  { after = "PT2S", notify = ["primary", "backup"] },
  { after = "PT6S", notify = ["everyone"] },
]
"""
)


async def _staff(bot: RunningBot, *, roster: bool) -> None:
    for user, name in ((ADA, "Dr Ada"), (BEN, "Dr Ben"), (CAL, "Dr Cal")):
        await join_clinician(bot, user, name)
    if not roster:
        return
    ctx = bot.ctx
    now = ctx.clock.now()
    async with ctx.db.transaction() as session:
        for name, role in (("Dr Ada", "primary"), ("Dr Ben", "backup")):
            await add_shift(
                session,
                clinic=ctx.clinics.clinics[0],
                clinician_name=name,
                starts_at=now - timedelta(minutes=1),
                ends_at=now + timedelta(hours=1),
                now=now,
                actor="cli",
                role=role,
            )


def _pages(sandbox: BotApiSandbox, chat: int) -> list[dict[str, Any]]:
    return [m for m in sandbox.chat(chat) if "priority — case #" in (m.get("text") or "")]


async def test_page_backup_acknowledge_resolve(
    sandbox: BotApiSandbox, test_db: IsolatedDatabase
) -> None:
    async with running_bot(sandbox, test_db, clinics=make_clinics(LADDER)) as bot:
        await _staff(bot, roster=True)
        await enrolled_patient(bot, PAT, "P-77")
        await report_intent(sandbox, PAT)
        page = await sandbox.wait_for_message(ADA, "HIGH priority", timeout=5)
        assert "P-77" in page["text"] and "C-SSRS item 4 = Yes" in page["text"]
        assert "Mood: 3/10" in page["text"] and "infusion #" in page["text"]
        assert [b["text"] for b in page["reply_markup"]["inline_keyboard"][0]] == [
            "Acknowledge",
            "Resolve",
        ]
        notice = await sandbox.wait_for_message(PAT, "has been paged now")
        card_ids = [m["message_id"] for m in sandbox.chat(PAT) if "988" in (m.get("text") or "")]
        assert card_ids and min(card_ids) < notice["message_id"], "crisis card comes first"
        assert not _pages(sandbox, BEN)

        # Nobody acknowledges: at +2 s the primary is paged again and the backup too.
        ben_page = await sandbox.wait_for_message(BEN, "HIGH priority", timeout=6)
        assert len(_pages(sandbox, ADA)) == 2 and "Re-page" in ben_page["text"]
        sandbox.tap(BEN, ben_page["message_id"], button_text="Acknowledge")
        await sandbox.wait_for_message(ADA, "acknowledged by Dr Ben")
        await sandbox.wait_for_message(BEN, "You acknowledged case")

        # Acknowledged: the +6 s "everyone" step never fires.
        await asyncio.sleep(6.5)
        assert not _pages(sandbox, CAL)

        # Ben calls the patient and logs it: a high case is resolved once she was reached.
        await log_contact(sandbox, BEN, ben_page["message_id"], method="Phone", outcome="Reached")
        sandbox.tap(BEN, ben_page["message_id"], button_text="Resolve")
        prompt = await sandbox.wait_for_message(BEN, "Resolution note for case")
        sandbox.enqueue_update(
            {
                "message": {
                    "message_id": 9999,
                    "date": 0,
                    "text": "Called her; safe with family; seen tomorrow",
                    "chat": {"id": BEN, "type": "private", "first_name": "Ben"},
                    "from": {"id": BEN, "is_bot": False, "first_name": "Ben"},
                    "reply_to_message": prompt,
                }
            }
        )
        await sandbox.wait_for_message(BEN, "resolved.")
        await sandbox.wait_for_message(ADA, "resolved by Dr Ben")
        async with bot.ctx.db.transaction() as session:
            case = (await session.scalars(select(Case))).one()
            pages = (await session.scalars(select(Page).order_by(Page.id))).all()
    assert (case.level, case.status) == ("high", "resolved")
    assert case.resolution_note == "Called her; safe with family; seen tomorrow"
    assert case.acknowledged_by is not None and case.next_step_at is None
    assert [(p.step, p.status) for p in pages] == [(0, "sent"), (1, "sent"), (1, "sent")]


async def test_nobody_on_call_pages_everyone_and_tells_the_patient_the_truth(
    sandbox: BotApiSandbox, test_db: IsolatedDatabase
) -> None:
    async with running_bot(sandbox, test_db, clinics=make_clinics(LADDER)) as bot:
        await _staff(bot, roster=False)
        await enrolled_patient(bot, PAT, "P-78")
        await report_intent(sandbox, PAT)
        for chat in (ADA, BEN, CAL):
            await sandbox.wait_for_message(chat, "HIGH priority", timeout=5)
        notice = await sandbox.wait_for_message(PAT, "nobody may see this soon")
        assert "988" in notice["text"]
        assert not any("has been paged" in (m.get("text") or "") for m in sandbox.chat(PAT))
    _ = bot


async def test_an_undeliverable_page_moves_on_at_once(
    sandbox: BotApiSandbox, test_db: IsolatedDatabase
) -> None:
    async with running_bot(sandbox, test_db, clinics=make_clinics(LADDER)) as bot:
        await _staff(bot, roster=True)
        sandbox.block(ADA)  # the primary blocked the bot: the page cannot be delivered
        await enrolled_patient(bot, PAT, "P-79")
        await report_intent(sandbox, PAT)
        loop = asyncio.get_running_loop()
        started = loop.time()
        await sandbox.wait_for_message(BEN, "HIGH priority", timeout=3)
        assert loop.time() - started < 2, "the backup must not wait for the 2 s rung"
        notice = await sandbox.wait_for_message(PAT, "nobody may see this soon")
        assert notice
    _ = bot


async def test_a_patient_who_blocks_the_bot_is_escalated_and_not_messaged_again(
    sandbox: BotApiSandbox, test_db: IsolatedDatabase
) -> None:
    async with running_bot(sandbox, test_db, clinics=make_clinics(LADDER)) as bot:
        await _staff(bot, roster=True)
        sandbox.add_user(PAT)
        sandbox.block(PAT)
        await enrolled_patient(bot, PAT, "P-80")
        page = await sandbox.wait_for_message(ADA, "HIGH priority", timeout=6)
        assert "unreachable" in page["text"]
        sends_before = len(
            [c for c in sandbox.calls_to("sendMessage") if c.params.get("chat_id") == PAT]
        )
        await asyncio.sleep(1.5)
        sends_after = len(
            [c for c in sandbox.calls_to("sendMessage") if c.params.get("chat_id") == PAT]
        )
        assert sends_after == sends_before
        async with bot.ctx.db.transaction() as session:
            case = (await session.scalars(select(Case))).one()
        assert (case.trigger, case.level) == ("non_response", "high")


async def test_crisis_words_in_an_edited_message_show_the_card_and_page(
    sandbox: BotApiSandbox, test_db: IsolatedDatabase
) -> None:
    async with running_bot(sandbox, test_db, clinics=make_clinics(LADDER)) as bot:
        await _staff(bot, roster=True)
        await enrolled_patient(bot, PAT, "P-81", infusion=False)
        sandbox.enqueue_update(
            {
                "edited_message": {
                    "message_id": 4242,
                    "date": 0,
                    "edit_date": 1,
                    "text": "actually I have the pills ready",
                    "chat": {"id": PAT, "type": "private", "first_name": "Pat"},
                    "from": {"id": PAT, "is_bot": False, "first_name": "Pat"},
                }
            }
        )
        card = await sandbox.wait_for_message(PAT, "988")
        page = await sandbox.wait_for_message(ADA, "MODERATE priority", timeout=5)
        assert "pills ready" in page["text"] and "crisis words" in page["text"]
        notice = await sandbox.wait_for_message(PAT, "has been paged now")
        assert card["message_id"] < notice["message_id"]


async def test_a_red_flag_at_four_hours_gets_emergency_advice_the_card_and_a_high_page(
    sandbox: BotApiSandbox, test_db: IsolatedDatabase
) -> None:
    async with running_bot(sandbox, test_db, clinics=make_clinics(LADDER)) as bot:
        await _staff(bot, roster=True)
        await enrolled_patient(bot, PAT, "P-82")
        await answer(sandbox, PAT, "mood", "6", wait=8)
        await answer(sandbox, PAT, "wished you were dead", "No")
        await answer(sandbox, PAT, "thoughts of killing yourself", "No")
        await answer(sandbox, PAT, "prepared to do anything", "No")
        await answer(sandbox, PAT, "chest pain", "Yes")
        advice = await sandbox.wait_for_message(PAT, "call 911 or go to the nearest emergency")
        card = await sandbox.wait_for_message(PAT, "988", after=advice["message_id"])
        page = await sandbox.wait_for_message(ADA, "HIGH priority", timeout=5)
        assert "red flag" in page["text"] and "RF=yes" in page["text"]
        note = await sandbox.wait_for_message(PAT, "Anything else")
        assert advice["message_id"] < card["message_id"] < note["message_id"]
    _ = bot


async def test_a_slow_crisis_card_does_not_hold_the_page_back(
    sandbox: BotApiSandbox, test_db: IsolatedDatabase
) -> None:
    """The card and the page go out together: a card Telegram answers slowly (here 3 s) does
    not delay the clinician's page by that long, and the card still reaches the patient.
    (The dispatcher's tick is slowed so that only the answer's own fast path can page.)"""
    clinics = make_clinics(LADDER)
    async with running_bot(sandbox, test_db, clinics=clinics, dispatch_interval_seconds=30) as bot:
        await _staff(bot, roster=True)
        await enrolled_patient(bot, PAT, "P-82", infusion=False)
        sandbox.delay_next("sendMessage", 3.0, chat_id=PAT)  # the card, the first reply
        sent = asyncio.get_running_loop().time()
        sandbox.send_text(PAT, "I have the pills ready")
        await sandbox.wait_for_message(ADA, "MODERATE priority", timeout=5)
        paged_after = asyncio.get_running_loop().time() - sent
        assert paged_after < 2.0, f"the page waited {paged_after:.1f}s for the crisis card"
        card = await sandbox.wait_for_message(PAT, "988", timeout=6)
        notice = await sandbox.wait_for_message(PAT, "has been paged now")
        assert card["message_id"] < notice["message_id"], "the notice waits for the card"


async def test_a_note_with_crisis_words_gets_the_card_and_page_before_note_saved(
    sandbox: BotApiSandbox, test_db: IsolatedDatabase
) -> None:
    """CLINICAL.md §5/§7: crisis words in the check-in's note show the crisis card before
    anything else (here: before "your note is saved"), and page the on-call clinician."""
    async with running_bot(sandbox, test_db, clinics=make_clinics(LADDER)) as bot:
        await _staff(bot, roster=True)
        await enrolled_patient(bot, PAT, "P-83")
        await answer(sandbox, PAT, "mood", "6", wait=8)
        await answer(sandbox, PAT, "wished you were dead", "No")
        await answer(sandbox, PAT, "thoughts of killing yourself", "No")
        await answer(sandbox, PAT, "prepared to do anything", "No")
        await answer(sandbox, PAT, "chest pain", "No")
        asked = await sandbox.wait_for_message(PAT, "Anything else")
        sandbox.send_text(PAT, "I have the pills ready")
        card = await sandbox.wait_for_message(PAT, "988", after=asked["message_id"])
        saved = await sandbox.wait_for_message(PAT, "your note is saved")
        assert card["message_id"] < saved["message_id"], "the crisis card comes first"
        page = await sandbox.wait_for_message(ADA, "MODERATE priority", timeout=5)
        assert "pills ready" in page["text"]
        notice = await sandbox.wait_for_message(PAT, "has been paged now")
        assert card["message_id"] < notice["message_id"]
    _ = bot

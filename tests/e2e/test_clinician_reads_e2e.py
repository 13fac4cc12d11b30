"""What a clinician and a joining patient read: page messages after ack and resolve, menus,
consent taps, crisis words in a message, a burst of messages, a failing handler."""

from __future__ import annotations

import asyncio
from typing import Any

from bot.messaging import texts
from bot.messaging.menus import CLINICIAN_COMMANDS, PATIENT_COMMANDS
from sandbox import BotApiSandbox
from tests.auxil.databases import IsolatedDatabase
from tests.auxil.harness import RunningBot, make_clinics, rehearsal_clinic, running_bot
from tests.auxil.journey import (
    TOKEN_IN_LINK,
    answer,
    enrolled_patient,
    join_clinician,
    log_contact,
)

ADA, BEN = 7401, 7402
PAT = 8401
CLINIC = rehearsal_clinic(red_flags=False)


def _pages(sandbox: BotApiSandbox, chat: int) -> list[dict[str, Any]]:
    return [m for m in sandbox.chat(chat) if "priority — case #" in (m.get("text") or "")]


def _buttons(message: dict[str, Any]) -> list[str]:
    rows = (message.get("reply_markup") or {}).get("inline_keyboard") or []
    return [b["text"] for row in rows for b in row]


async def _answered(sandbox: BotApiSandbox, query: str) -> str | None:
    await sandbox.wait_for_call(
        "answerCallbackQuery", lambda c: c.params.get("callback_query_id") == query
    )
    return (sandbox.callback_answer(query) or {}).get("text")


async def _high_case(bot: RunningBot) -> dict[str, Any]:
    """Ada and Ben join with nobody on call (both are paged); the patient reports intent."""
    await join_clinician(bot, ADA, "Dr Ada")
    await join_clinician(bot, BEN, "Dr Ben")
    await enrolled_patient(bot, PAT, "P-9")
    sandbox = bot.sandbox
    await answer(sandbox, PAT, "How is your mood", "4", wait=8)
    await answer(sandbox, PAT, "wished you were dead", "Yes")
    await answer(sandbox, PAT, "thoughts of killing yourself", "Yes")
    await answer(sandbox, PAT, "how you might do this", "No")
    await answer(sandbox, PAT, "intention of acting on them", "Yes")
    await sandbox.wait_for_message(BEN, "HIGH priority")
    page = await sandbox.wait_for_message(ADA, "HIGH priority")
    # The patient is told after the pages are recorded: from here on every listing shows them.
    await sandbox.wait_for_message(PAT, "Your answers have been")
    return page


async def test_every_page_of_a_case_shows_who_took_it_and_then_who_closed_it(
    sandbox: BotApiSandbox, test_db: IsolatedDatabase
) -> None:
    async with running_bot(sandbox, test_db, clinics=make_clinics(CLINIC)) as bot:
        page = await _high_case(bot)
        sandbox.tap(ADA, page["message_id"], button_text="Acknowledge")
        await sandbox.wait_for_message(ADA, "You acknowledged case")
        for chat in (ADA, BEN):
            (shown,) = _pages(sandbox, chat)
            assert "✓ Acknowledged by Dr Ada at " in shown["text"], shown["text"]
            assert _buttons(shown) == ["Resolve", "Log contact", "Message patient"]
            assert "Acknowledge within" not in shown["text"]
        # Ben's old Acknowledge tap (a stale copy): said plainly, no "Acknowledged" toast.
        ben_page = _pages(sandbox, BEN)[0]
        ack = f"esc:ack:{ben_page['text'].split('#')[1].split()[0]}:high"
        query = sandbox.tap(BEN, ben_page["message_id"], data=ack, forge=True)
        assert (await _answered(sandbox, query) or "").endswith("is already acknowledged.")
        await log_contact(sandbox, ADA, page["message_id"], method="Phone", outcome="Reached")
        sandbox.send_text(ADA, f"/resolve {ack.split(':')[2]} called the patient, safe")
        await sandbox.wait_for_message(ADA, "resolved.")
        for chat in (ADA, BEN):
            (shown,) = _pages(sandbox, chat)
            assert "✓ Resolved by Dr Ada at " in shown["text"]
            assert "called the patient, safe" in shown["text"]
            assert _buttons(shown) == []
        query = sandbox.tap(ADA, page["message_id"], data=ack, forge=True)
        assert await _answered(sandbox, query) == f"Case #{ack.split(':')[2]} is already resolved."


async def test_open_lists_the_patient_the_reasons_and_who_was_paged(
    sandbox: BotApiSandbox, test_db: IsolatedDatabase
) -> None:
    async with running_bot(sandbox, test_db, clinics=make_clinics(CLINIC)) as bot:
        page = await _high_case(bot)
        sandbox.send_text(ADA, "/open")
        listing = await sandbox.wait_for_message(ADA, "Open cases of", after=page["message_id"])
        text = listing["text"]
        assert "🔴 HIGH open" in text and "P-9" in text
        assert "C-SSRS item 1 = Yes" in text and "C-SSRS item 4 = Yes" in text  # not only the last
        assert "Dr Ada ✓" in text and "Dr Ben ✓" in text


async def test_clinicians_get_their_own_command_menu(
    sandbox: BotApiSandbox, test_db: IsolatedDatabase
) -> None:
    async with running_bot(sandbox, test_db, clinics=make_clinics(CLINIC)) as bot:
        await join_clinician(bot, ADA, "Dr Ada")
        scoped = sandbox.calls_to("setMyCommands")
        default = [c for c in scoped if "scope" not in c.params]
        mine = [
            c for c in scoped if '"chat_id": 7401' in str(c.params.get("scope")).replace("'", '"')
        ]
        assert [cmd["command"] for cmd in default[-1].params["commands"]] == [
            c.command for c in PATIENT_COMMANDS
        ]
        assert mine, [c.params for c in scoped]
        assert [cmd["command"] for cmd in mine[-1].params["commands"]] == [
            c.command for c in CLINICIAN_COMMANDS
        ]


async def test_consent_taps_twice_and_an_enrolled_patient_reopening_the_link(
    sandbox: BotApiSandbox, test_db: IsolatedDatabase
) -> None:
    async with running_bot(sandbox, test_db, clinics=make_clinics(CLINIC)) as bot:
        await join_clinician(bot, ADA, "Dr Ada")
        sandbox.send_text(ADA, "/enroll P-10 UTC")
        invite = await sandbox.wait_for_message(ADA, "invited")
        match = TOKEN_IN_LINK.search(invite["text"])
        assert match is not None
        token = match.group(1)
        sandbox.add_user(PAT, "Pat")
        sandbox.send_text(PAT, f"/start {token}")
        screen = await sandbox.wait_for_message(PAT, "Do you agree?")
        data = [
            b["callback_data"] for row in screen["reply_markup"]["inline_keyboard"] for b in row
        ]
        assert all(token not in d for d in data), "the button carries no secret"
        assert "about 1 second after each infusion" in screen["text"]  # the clinic's schedule
        # Someone else cannot use this screen's buttons from their own chat.
        sandbox.add_user(PAT + 1, "Other")
        sandbox.send_text(PAT + 1, "/help")
        theirs = await sandbox.wait_for_message(PAT + 1, "988")
        query = sandbox.tap(PAT + 1, theirs["message_id"], data=data[0], forge=True)
        assert await _answered(sandbox, query) == texts.INVITE_PROBLEMS["unknown"]
        assert sandbox.last_message(PAT + 1) == theirs, "nothing of theirs is rewritten"
        sandbox.tap(PAT, screen["message_id"], button_text="I agree")
        await sandbox.wait_for_message(PAT, "you're enrolled")
        agreed = next(m for m in sandbox.chat(PAT) if m["message_id"] == screen["message_id"])
        query = sandbox.tap(PAT, screen["message_id"], data=data[0], forge=True)
        assert await _answered(sandbox, query) == texts.INVITE_PROBLEMS["enrolled"]
        query = sandbox.tap(PAT, screen["message_id"], data=data[1], forge=True)  # "Not now"
        assert await _answered(sandbox, query) == texts.INVITE_PROBLEMS["enrolled"]
        again = next(m for m in sandbox.chat(PAT) if m["message_id"] == screen["message_id"])
        assert again["text"] == agreed["text"], "the consent message stays as it was"
        last = sandbox.last_message(PAT)
        sandbox.send_text(PAT, f"/start {token}")
        reply = await sandbox.wait_for_message(PAT, "already enrolled", after=last["message_id"])
        assert "already been used" not in reply["text"]


async def test_crisis_words_are_answered_as_a_message_and_a_burst_once(
    sandbox: BotApiSandbox, test_db: IsolatedDatabase
) -> None:
    async with running_bot(sandbox, test_db, clinics=make_clinics(CLINIC)) as bot:
        await join_clinician(bot, ADA, "Dr Ada")
        sandbox.send_text(ADA, "/oncall")
        await sandbox.wait_for_message(ADA, "primary on-call")
        await enrolled_patient(bot, PAT, "P-11", infusion=False)
        clinic = bot.ctx.clinics.clinics[0]
        last = sandbox.last_message(PAT)
        before = last["message_id"] if last else 0
        for words in ("hi", "just checking in", "nothing new"):
            sandbox.send_text(PAT, words)
        saved = texts.message_saved(clinic)
        await sandbox.wait_for_message(PAT, saved[:40], after=before)
        await asyncio.sleep(1.0)  # the other two are handled by then
        replies = [m for m in sandbox.chat(PAT) if m["message_id"] > before]
        assert [m["text"] for m in replies] == [saved], "a burst is answered once"
        sandbox.send_text(PAT, "I want to kill myself")
        notice = await sandbox.wait_for_message(PAT, "has been paged now")
        assert notice["text"].startswith("Your message has been sent")
        assert "Your answers" not in notice["text"]


async def test_a_failing_handler_still_answers_the_person(
    sandbox: BotApiSandbox, test_db: IsolatedDatabase
) -> None:
    async with running_bot(sandbox, test_db, clinics=make_clinics(CLINIC)) as bot:
        await join_clinician(bot, ADA, "Dr Ada")
        sandbox.send_text(ADA, "/enroll P-12 UTC")
        invite = await sandbox.wait_for_message(ADA, "invited")
        match = TOKEN_IN_LINK.search(invite["text"])
        assert match is not None
        sandbox.add_user(PAT, "Pat")
        sandbox.send_text(PAT, f"/start {match.group(1)}")
        screen = await sandbox.wait_for_message(PAT, "Do you agree?")
        # Telegram refuses the welcome after consent (an error no handler expects): it fails.
        sandbox.fail_next(
            "sendMessage", status=400, description="Bad Request: odd failure", chat_id=PAT
        )
        sandbox.tap(PAT, screen["message_id"], button_text="I agree")
        told = await sandbox.wait_for_message(
            PAT, "something went wrong", after=screen["message_id"]
        )
        # Consent carries no finding and there is no open case: no crisis card, only the way
        # to it; what was saved is said.
        assert texts.crisis_card(bot.ctx.clinics.clinics[0]) not in told["text"]
        assert told["text"].startswith("Your last message or answer is saved")
        assert "send /crisis" in told["text"]


async def test_a_case_reopened_after_it_was_taken_retires_its_older_pages(
    sandbox: BotApiSandbox, test_db: IsolatedDatabase
) -> None:
    async with running_bot(sandbox, test_db, clinics=make_clinics(CLINIC)) as bot:
        page = await _high_case(bot)
        sandbox.tap(ADA, page["message_id"], button_text="Acknowledge")
        await sandbox.wait_for_message(ADA, "You acknowledged case")
        sandbox.send_text(PAT, "I took all my pills and I want to die")
        newest = await sandbox.wait_for_message(ADA, "priority — case #", after=page["message_id"])
        assert _buttons(newest) == ["Acknowledge", "Resolve", "Message patient"]
        await sandbox.wait_for_call(
            "editMessageText",
            lambda c: (
                c.params.get("message_id") == page["message_id"]
                and "Raised or re-opened" in str(c.params.get("text"))
            ),
        )
        old = next(m for m in sandbox.chat(ADA) if m["message_id"] == page["message_id"])
        assert "↻ Raised or re-opened at " in old["text"] and _buttons(old) == []

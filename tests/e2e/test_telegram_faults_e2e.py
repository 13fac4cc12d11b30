"""Telegram's faults as a patient and an on-call clinician meet them (issue 24).

The real application against the sandbox Bot API with injected faults on the calls a journey
makes: the callback answer of a tap, the edit that shows an answer, a page's sendMessage. Each
test reads both chats in order: the check-in completes, no answered question keeps its buttons,
no crisis card appears without a finding, and the ladder's words say what is true.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import select

from bot.messaging import texts
from sandbox import BotApiSandbox
from storage.models import Case
from tests.auxil.databases import IsolatedDatabase
from tests.auxil.harness import RunningBot, make_clinics, rehearsal_clinic, running_bot
from tests.auxil.journey import answer, enrolled_patient, report_intent
from tests.e2e.test_conversation_e2e import chat, in_order
from tests.e2e.test_escalation_e2e import _staff

ADA, BEN, CAL = 7101, 7102, 7103
PAT = 8401
QUIET = rehearsal_clinic(red_flags=False)
NOT_MODIFIED = "message is not modified"


def _card(bot: RunningBot) -> str:
    return texts.crisis_card(bot.ctx.clinics.clinics[0])


async def _routine_rest(sandbox: BotApiSandbox) -> None:
    await answer(sandbox, PAT, "wished you were dead", "No")
    await answer(sandbox, PAT, "thoughts of killing yourself", "No")
    await answer(sandbox, PAT, "done anything, started to do anything", "No")
    await answer(sandbox, PAT, "Anything else", "Skip")
    await sandbox.wait_for_message(PAT, texts.THANKS[:40])


def _reads_routine(bot: RunningBot, lines: list[str]) -> None:
    """A routine check-in, whatever Telegram did: no card, no apology, no live buttons."""
    assert not any(_card(bot) in line for line in lines), "a crisis card without a finding"
    assert not any("went wrong" in line for line in lines)
    assert not any("[" in line for line in lines if "✓" in line), (
        "an answered question kept buttons"
    )
    assert lines[-1].endswith(texts.THANKS)


@pytest.mark.parametrize(
    ("status", "times", "retry_after"), [(429, 1, 1), (502, 1, None), (500, 9, None)]
)
async def test_a_fault_on_a_taps_callback_answer_never_stalls_the_checkin(
    sandbox: BotApiSandbox, test_db: IsolatedDatabase, status: int, times: int, retry_after: int
) -> None:
    async with running_bot(sandbox, test_db, clinics=make_clinics(QUIET)) as bot:
        await enrolled_patient(bot, PAT, "P-1")
        sandbox.fail_next(
            "answerCallbackQuery", status=status, times=times, retry_after=retry_after
        )
        await answer(sandbox, PAT, "How is your mood", "8", wait=8)
        await _routine_rest(sandbox)
        lines = chat(sandbox, PAT)
        in_order(lines, "to 10 (best)?\n\n✓ 8/10", "wished you were dead", texts.THANKS)
        _reads_routine(bot, lines)
        # Every fault was met (the spinner's answers go beside the check-in, so some may end
        # after it), and with one fault each tap's spinner was stopped in the end.
        await sandbox.wait_for_call(
            "answerCallbackQuery",
            lambda c: (
                [x.status for x in sandbox.calls_to("answerCallbackQuery")].count(status) == times
            ),
        )
        if times == 1:
            await _every_tap_answered(sandbox)
            answers = [c.status for c in sandbox.calls_to("answerCallbackQuery")]
            assert answers.count(200) == 5 and answers.count(status) == 1, answers


@pytest.mark.parametrize(("status", "retry_after"), [(429, 1), (502, None)])
async def test_an_answers_edit_that_fails_once_is_tried_again(
    sandbox: BotApiSandbox, test_db: IsolatedDatabase, status: int, retry_after: int | None
) -> None:
    async with running_bot(sandbox, test_db, clinics=make_clinics(QUIET)) as bot:
        await enrolled_patient(bot, PAT, "P-2")
        await answer(sandbox, PAT, "How is your mood", "6", wait=8)
        await sandbox.wait_for_message(PAT, "wished you were dead")  # the mood's edit is done
        sandbox.fail_next("editMessageText", status=status, retry_after=retry_after, chat_id=PAT)
        await answer(sandbox, PAT, "wished you were dead", "No")
        await answer(sandbox, PAT, "thoughts of killing yourself", "No")
        await answer(sandbox, PAT, "done anything, started to do anything", "No")
        await answer(sandbox, PAT, "Anything else", "Skip")
        await sandbox.wait_for_message(PAT, texts.THANKS[:40])
        lines = chat(sandbox, PAT)
        in_order(lines, "wished you were dead or wished you could go to sleep", "✓ No")
        assert any("wished you were dead" in line and line.endswith("✓ No") for line in lines)
        _reads_routine(bot, lines)


async def test_an_answers_edit_that_keeps_failing_is_carried_by_the_next_message(
    sandbox: BotApiSandbox, test_db: IsolatedDatabase
) -> None:
    async with running_bot(sandbox, test_db, clinics=make_clinics(QUIET)) as bot:
        await enrolled_patient(bot, PAT, "P-3")
        await answer(sandbox, PAT, "How is your mood", "6", wait=8)
        await sandbox.wait_for_message(PAT, "wished you were dead")  # the mood's edit is done
        sandbox.fail_next("editMessageText", status=502, times=9, chat_id=PAT)
        item1 = await answer(sandbox, PAT, "wished you were dead", "No")
        nxt = await sandbox.wait_for_message(PAT, "thoughts of killing yourself")
        assert nxt["text"].startswith("✓ Question 1: No — saved.\n\n")
        await sandbox.wait_for_call(
            "editMessageReplyMarkup", lambda c: c.params.get("message_id") == item1["message_id"]
        )
        await answer(sandbox, PAT, "thoughts of killing yourself", "No")
        await answer(sandbox, PAT, "done anything, started to do anything", "No")
        await answer(sandbox, PAT, "Anything else", "Skip")
        await sandbox.wait_for_message(PAT, texts.THANKS[:40])
        lines = chat(sandbox, PAT)
        assert not any("[" in line for line in lines[1:]), "no answered question keeps buttons"
        assert not any(_card(bot) in line or "went wrong" in line for line in lines)


LADDER = rehearsal_clinic(
    extra="""
[clinics.escalation]
high = [
  { after = "PT0S", notify = ["primary"] },
  { after = "PT2S", notify = ["primary", "backup"] },
  { after = "PT5S", notify = ["everyone"] },
]
"""
)


async def test_an_undelivered_first_page_moves_on_saying_so_and_the_patient_is_told_once(
    sandbox: BotApiSandbox, test_db: IsolatedDatabase
) -> None:
    async with running_bot(sandbox, test_db, clinics=make_clinics(LADDER)) as bot:
        await _staff(bot, roster=True)
        await enrolled_patient(bot, PAT, "P-4")
        sandbox.fail_next("sendMessage", status=500, chat_id=ADA)
        await report_intent(sandbox, PAT)
        clinic = bot.ctx.clinics.clinics[0]
        # The first page failed: at once the next rung, whose words say why it comes now.
        ben = await sandbox.wait_for_message(BEN, "HIGH priority", timeout=8)
        assert (
            "Re-page (step 2): no earlier page could be delivered, so this step comes now."
            in (ben["text"])
        )
        assert "Could not be delivered: the page to Dr Ada (Telegram)." in ben["text"]
        assert "Paged now: Dr Ada and Dr Ben." in ben["text"]
        assert "nobody has acknowledged" not in ben["text"]
        await sandbox.wait_for_message(PAT, texts.paged_after_all(clinic)[:40], timeout=8)
        # The last rung pages everyone and says whom the earlier pages reached.
        cal = await sandbox.wait_for_message(CAL, "HIGH priority", timeout=10)
        assert "Dr Ada (Telegram) and Dr Ben (Telegram) were paged" in cal["text"], cal["text"]
        assert "Could not be delivered" not in cal["text"]  # Dr Ada was reached after all
        lines = chat(sandbox, PAT)
        in_order(
            lines,
            _card(bot),
            "nobody may see this soon",
            texts.paged_after_all(clinic),
        )
        assert sum(texts.paged_after_all(clinic) in line for line in lines) == 1, "said once"
        assert not any("has been paged now" in line for line in lines)


ONE_HOUR = rehearsal_clinic(
    extra="""
[clinics.escalation]
high = [
  { after = "PT0S", notify = ["primary"] },
  { after = "PT1H", notify = ["backup"] },
]
"""
)


async def test_a_stop_pages_the_current_rung_again_not_the_next_one(
    sandbox: BotApiSandbox, test_db: IsolatedDatabase
) -> None:
    async with running_bot(sandbox, test_db, clinics=make_clinics(ONE_HOUR)) as bot:
        await _staff(bot, roster=True)
        await enrolled_patient(bot, PAT, "P-5")
        await report_intent(sandbox, PAT)
        first = await sandbox.wait_for_message(ADA, "HIGH priority", timeout=8)
        sandbox.send_text(PAT, "/stop")
        confirm = await sandbox.wait_for_message(PAT, "Do you want to stop")
        sandbox.tap(PAT, confirm["message_id"], button_text="Yes, stop check-ins")
        again = await sandbox.wait_for_message(
            ADA, "patient stopped their check-ins", after=first["message_id"], timeout=8
        )
        assert "Paged again (step 1): news on this case (its last line above)." in again["text"]
        assert "Re-page" not in again["text"]
        assert not [m for m in sandbox.chat(BEN) if "priority" in (m.get("text") or "")]
        case = await _settled_case(bot)
        assert case.step == 1  # the backup's rung is still the next, at its own time
        assert case.next_step_at is not None
        assert case.next_step_at - case.ladder_started_at >= timedelta(minutes=59)


async def test_a_journey_with_double_and_stale_taps_makes_no_call_telegram_refuses(
    sandbox: BotApiSandbox, test_db: IsolatedDatabase
) -> None:
    async with running_bot(sandbox, test_db, clinics=make_clinics(LADDER)) as bot:
        await _staff(bot, roster=True)
        await enrolled_patient(bot, PAT, "P-6")
        mood = await answer(sandbox, PAT, "mood", "3", wait=8)
        sandbox.tap(PAT, mood["message_id"], data=_data(mood, "3"), forge=True)  # a double tap
        item1 = await answer(sandbox, PAT, "wished you were dead", "Yes")
        sandbox.tap(PAT, item1["message_id"], data=_data(item1, "Yes"), forge=True)
        await answer(sandbox, PAT, "thoughts of killing yourself", "Yes")
        await answer(sandbox, PAT, "how you might do this", "No")
        await answer(sandbox, PAT, "intention of acting on them", "Yes")
        sandbox.tap(PAT, mood["message_id"], data=_data(mood, "3"), forge=True)  # stale, later
        page = await sandbox.wait_for_message(ADA, "HIGH priority", timeout=8)
        ack = _data(page, "Acknowledge")
        sandbox.tap(ADA, page["message_id"], button_text="Acknowledge")
        sandbox.tap(ADA, page["message_id"], data=ack, forge=True)  # double
        await sandbox.wait_for_message(ADA, "You acknowledged case")
        sandbox.tap(ADA, page["message_id"], data=ack, forge=True)  # stale
        await _every_tap_answered(sandbox)
        refused = [
            (c.method, c.params.get("chat_id"), c.params.get("message_id"))
            for c in sandbox.calls
            if c.status == 400 and NOT_MODIFIED in str(c.response.get("description", ""))
        ]
        assert refused == []
        skipped = bot.ctx.dispatcher.bot.rate_limiter.skipped_edits  # type: ignore[union-attr]
        assert skipped >= 2, "the double and stale taps had edits to skip"


async def _every_tap_answered(sandbox: BotApiSandbox, seconds: float = 8.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while sandbox.state.open_queries:
        assert loop.time() < deadline, "a tap was never answered"
        await asyncio.sleep(0.05)


def _data(message: dict[str, object], text: str) -> str:
    """The callback data of a button as the message showed it (to tap it again later)."""
    markup = message.get("reply_markup") or {}
    assert isinstance(markup, dict)
    for row in markup["inline_keyboard"]:
        for button in row:
            if button["text"] == text:
                return str(button["callback_data"])
    raise LookupError(text)


async def _settled_case(bot: RunningBot, seconds: float = 8.0) -> Case:
    """The case once its rung is recorded (the pager hands its claim back)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while True:
        async with bot.ctx.db.transaction() as session:
            case = (await session.scalars(select(Case))).one()
        if case.lease_owner is None or loop.time() > deadline:
            return case
        await asyncio.sleep(0.05)

"""The chats as a patient and an on-call clinician read them, message by message.

Each test runs the real application against the sandbox Bot API and reads the chat in order
(texts and buttons as they stand after every edit), not only the stored rows.
"""

from __future__ import annotations

from sqlalchemy import select

from bot.messaging import texts
from sandbox import BotApiSandbox
from storage.models import Answer, Case, Patient
from storage.states import CaseStatus, PatientStatus
from tests.auxil.databases import IsolatedDatabase
from tests.auxil.harness import RunningBot, make_clinics, rehearsal_clinic, running_bot
from tests.auxil.journey import answer, enrolled_patient, infusions_ended_at, join_clinician

ADA = 7301
PAT = 8301
QUIET = rehearsal_clinic(red_flags=False)  # mood, C-SSRS, note: no red-flag question
FULL = rehearsal_clinic()  # the red flags are asked too


def chat(sandbox: BotApiSandbox, chat_id: int) -> list[str]:
    """The chat as it reads now: each message's text, its buttons in brackets."""
    lines = []
    for message in sandbox.chat(chat_id):
        keyboard = (message.get("reply_markup") or {}).get("inline_keyboard") or []
        buttons = " ".join(f"[{b['text']}]" for row in keyboard for b in row)
        lines.append(f"{message.get('text') or ''} {buttons}".strip())
    return lines


def in_order(lines: list[str], *wanted: str) -> None:
    """Every wanted phrase appears, in this order, each in a later message than the last."""
    at = 0
    for phrase in wanted:
        found = next((i for i in range(at, len(lines)) if phrase in lines[i]), None)
        assert found is not None, f"{phrase!r} not found after message {at}:\n" + "\n---\n".join(
            lines
        )
        at = found + 1


async def _on_call(bot: RunningBot) -> None:
    await join_clinician(bot, ADA, "Dr Ada")
    bot.sandbox.send_text(ADA, "/oncall")
    await bot.sandbox.wait_for_message(ADA, "primary on-call")


def _card(bot: RunningBot) -> str:
    return texts.crisis_card(bot.ctx.clinics.clinics[0])


async def test_a_routine_checkin_reads_as_a_routine_one(
    sandbox: BotApiSandbox, test_db: IsolatedDatabase
) -> None:
    async with running_bot(sandbox, test_db, clinics=make_clinics(QUIET)) as bot:
        await enrolled_patient(bot, PAT, "P-1")
        await answer(sandbox, PAT, "How is your mood", "7", wait=8)
        await answer(sandbox, PAT, "wished you were dead", "No")
        await answer(sandbox, PAT, "thoughts of killing yourself", "No")
        await answer(sandbox, PAT, "done anything, started to do anything", "No")
        await answer(sandbox, PAT, "Anything else", "Skip")
        await sandbox.wait_for_message(PAT, texts.THANKS[:40])
        lines = chat(sandbox, PAT)
        in_order(
            lines,
            "How is your mood right now, from 0 (worst) to 10 (best)?\n\n✓ 7/10",
            "wished you were dead or wished you could go to sleep and not wake up?\n\n✓ No",
            "thoughts of killing yourself?\n\n✓ No",
            "✓ No",
            "Anything else you'd like your care team to know? Type a message, or tap Skip.\n\n✓",
            texts.THANKS,
        )
        assert lines[-1] == texts.THANKS
        assert not any(_card(bot) in line or "paged" in line for line in lines)
        assert not any("[" in line for line in lines[-6:]), "answered questions keep no buttons"


async def test_a_high_checkin_shows_the_card_once_and_closes_with_the_page(
    sandbox: BotApiSandbox, test_db: IsolatedDatabase
) -> None:
    async with running_bot(sandbox, test_db, clinics=make_clinics(FULL)) as bot:
        await _on_call(bot)
        await enrolled_patient(bot, PAT, "P-2")
        await answer(sandbox, PAT, "How is your mood", "4", wait=8)
        await answer(sandbox, PAT, "wished you were dead", "Yes")  # first finding: the card
        await answer(sandbox, PAT, "thoughts of killing yourself", "Yes")
        await answer(sandbox, PAT, "how you might do this", "No")
        await answer(sandbox, PAT, "intention of acting on them", "Yes")  # high: paged
        await sandbox.wait_for_message(ADA, "HIGH priority")
        await answer(sandbox, PAT, "worked out the details", "No")
        await answer(sandbox, PAT, "done anything, started to do anything", "No")
        await answer(sandbox, PAT, "Right now, do you have any of these?", "No")
        await answer(sandbox, PAT, "Anything else", "Skip")
        clinic = bot.ctx.clinics.clinics[0]
        closing = texts.closing(clinic, "paged")
        await sandbox.wait_for_message(PAT, closing[:50])
        lines = chat(sandbox, PAT)
        assert sum(_card(bot) in line for line in lines) == 1, "the card once per check-in"
        in_order(
            lines,
            "wished you were dead",
            _card(bot),
            "intention of acting on them",
            "has been paged now",
            closing,
        )
        assert lines[-1] == closing
        assert not any("review them during clinic hours" in line for line in lines)
        page = [line for line in chat(sandbox, ADA) if "HIGH priority" in line][-1]
        assert "Patient: P-2" in page and "[Acknowledge] [Resolve]" in page


async def test_a_no_corrected_to_yes_is_a_yes(
    sandbox: BotApiSandbox, test_db: IsolatedDatabase
) -> None:
    async with running_bot(sandbox, test_db, clinics=make_clinics(QUIET)) as bot:
        await enrolled_patient(bot, PAT, "P-3")
        await answer(sandbox, PAT, "How is your mood", "6", wait=8)
        first = await answer(sandbox, PAT, "wished you were dead", "No")
        data = first["reply_markup"]["inline_keyboard"][0][0]["callback_data"]  # "Yes"
        assert data.endswith(":s1:yes")
        second = await sandbox.wait_for_message(PAT, "thoughts of killing yourself")
        # The patient taps Yes on item 1 after all (its buttons were already gone: forge).
        query = sandbox.tap(PAT, first["message_id"], data=data, forge=True)
        await sandbox.wait_for_call(
            "answerCallbackQuery", lambda c: c.params.get("callback_query_id") == query
        )
        assert (sandbox.callback_answer(query) or {}).get("text") == texts.CHANGED_TO_YES
        await sandbox.wait_for_message(PAT, _card(bot)[:40])
        # The correction's words come after the crisis card, never in front of it (§7).
        calls = sandbox.calls
        card_call = next(
            i
            for i, c in enumerate(calls)
            if c.method == "sendMessage" and _card(bot)[:40] in str(c.params.get("text", ""))
        )
        words_call = next(
            i
            for i, c in enumerate(calls)
            if c.method == "answerCallbackQuery" and c.params.get("callback_query_id") == query
        )
        assert card_call < words_call
        # The first answers (mood, item 1 No) stopped their spinners with no words: said
        # before the answer is written, they must confirm nothing.
        taps = [c for c in calls[:words_call] if c.method == "answerCallbackQuery"]
        assert len(taps) == 2 and not any(c.params.get("text") for c in taps)
        # Item 2 is still the question asked: it keeps its buttons. Now a double tap on it.
        current = next(m for m in sandbox.chat(PAT) if m["message_id"] == second["message_id"])
        assert current.get("reply_markup"), "the waiting question keeps its buttons"
        yes_2 = current["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
        await answer(sandbox, PAT, "thoughts of killing yourself", "No")
        await sandbox.wait_for_message(PAT, "done anything, started to do anything")
        query = sandbox.tap(PAT, second["message_id"], data=yes_2, forge=True)
        # Item 2 = Yes makes items 3-5 necessary: item 3 is asked, item 6's buttons go.
        await sandbox.wait_for_message(PAT, "how you might do this")
        async with bot.ctx.db.transaction() as session:
            answers = {
                a.item_id: a.value
                for a in (await session.scalars(select(Answer))).all()
                if a.checkin_id is not None
            }
            cases = (await session.scalars(select(Case))).all()
        assert answers["s1"] == "yes" and answers["s2"] == "yes"
        assert [c.level for c in cases] == ["low"]  # items 1 and 2 = Yes: low (CLINICAL.md §2)
        lines = chat(sandbox, PAT)
        item_6 = [line for line in lines if "done anything, started to do anything" in line]
        assert item_6 and "[" not in item_6[-1], "the superseded question lost its buttons"
        assert sum(_card(bot) in line for line in lines) == 1
        # A No after a Yes changes nothing and says what is stored.
        no_2 = yes_2.replace(":yes", ":no")
        query = sandbox.tap(PAT, second["message_id"], data=no_2, forge=True)
        await sandbox.wait_for_call(
            "answerCallbackQuery", lambda c: c.params.get("callback_query_id") == query
        )
        assert (sandbox.callback_answer(query) or {}).get("text") == "Already saved: Yes"


async def test_a_stop_with_an_open_case_pages_the_clinician(
    sandbox: BotApiSandbox, test_db: IsolatedDatabase
) -> None:
    async with running_bot(sandbox, test_db, clinics=make_clinics(QUIET)) as bot:
        await _on_call(bot)
        await enrolled_patient(bot, PAT, "P-4")
        await answer(sandbox, PAT, "How is your mood", "4", wait=8)
        await answer(sandbox, PAT, "wished you were dead", "Yes")
        await answer(sandbox, PAT, "thoughts of killing yourself", "Yes")
        await answer(sandbox, PAT, "how you might do this", "No")
        await answer(sandbox, PAT, "intention of acting on them", "Yes")
        page = await sandbox.wait_for_message(ADA, "HIGH priority")
        sandbox.tap(ADA, page["message_id"], button_text="Acknowledge")
        await sandbox.wait_for_message(ADA, "You acknowledged case")
        pages_before = len([m for m in sandbox.chat(ADA) if "priority — case #" in m["text"]])
        sandbox.send_text(PAT, "/stop")
        confirm = await sandbox.wait_for_message(PAT, "Do you want to stop")
        sandbox.tap(PAT, confirm["message_id"], button_text="Yes, stop check-ins")
        await sandbox.wait_for_message(PAT, "passed to")
        repage = await sandbox.wait_for_message(
            ADA, "patient stopped their check-ins (/stop)", after=page["message_id"]
        )
        assert "priority — case #" in repage["text"]
        pages_after = len([m for m in sandbox.chat(ADA) if "priority — case #" in m["text"]])
        assert pages_after == pages_before + 1
        # A second tap on "Yes, stop" is answered and changes nothing.
        query = sandbox.tap(PAT, confirm["message_id"], data="stop:yes", forge=True)
        await sandbox.wait_for_call(
            "answerCallbackQuery", lambda c: c.params.get("callback_query_id") == query
        )
        assert (sandbox.callback_answer(query) or {}).get("text") == texts.ALREADY_STOPPED


async def test_an_unreachable_patient_who_writes_again_is_told_and_can_be_resumed(
    sandbox: BotApiSandbox, test_db: IsolatedDatabase
) -> None:
    async with running_bot(sandbox, test_db, clinics=make_clinics(QUIET)) as bot:
        await _on_call(bot)
        patient_id = await enrolled_patient(bot, PAT, "P-5", infusion=False)
        sandbox.block(PAT)
        await infusions_ended_at(bot, [patient_id], ended_at=bot.ctx.clock.now())
        await sandbox.wait_for_message(ADA, "unreachable on Telegram", timeout=8)
        sandbox.unblock(PAT)
        after = sandbox.last_message(PAT)
        sandbox.send_text(PAT, "hello, I'm back")
        clinic = bot.ctx.clinics.clinics[0]
        told = await sandbox.wait_for_message(
            PAT, "could not reach you", after=after["message_id"] if after else 0
        )
        assert told["text"] == texts.paused(clinic, "unreachable")
        assert "Your check-ins are stopped" not in told["text"]
        async with bot.ctx.db.transaction() as session:
            case = (await session.scalars(select(Case))).one()
        assert "wrote again after being unreachable" in case.reason
        assert case.status == CaseStatus.OPEN
        sandbox.send_text(ADA, "/resume P-5")
        await sandbox.wait_for_message(ADA, "check-ins are restarted")
        await sandbox.wait_for_message(PAT, texts.resumed(clinic)[:40])
        async with bot.ctx.db.transaction() as session:
            stored = await session.get(Patient, patient_id, populate_existing=True)
        assert stored is not None and stored.status == PatientStatus.ACTIVE


async def test_a_red_flag_after_the_card_adds_only_the_emergency_advice(
    sandbox: BotApiSandbox, test_db: IsolatedDatabase
) -> None:
    async with running_bot(sandbox, test_db, clinics=make_clinics(FULL)) as bot:
        await enrolled_patient(bot, PAT, "P-6")
        await answer(sandbox, PAT, "How is your mood", "5", wait=8)
        await answer(sandbox, PAT, "wished you were dead", "Yes")
        await sandbox.wait_for_message(PAT, _card(bot)[:40])
        await answer(sandbox, PAT, "thoughts of killing yourself", "No")
        await answer(sandbox, PAT, "done anything, started to do anything", "No")
        await answer(sandbox, PAT, "Right now, do you have any of these?", "Yes")
        clinic = bot.ctx.clinics.clinics[0]
        await sandbox.wait_for_message(PAT, texts.red_flag_advice(clinic)[:40])
        lines = chat(sandbox, PAT)
        assert sum(_card(bot) in line for line in lines) == 1
        in_order(lines, _card(bot), "Right now, do you have any of these?", "need a doctor now")


async def test_a_card_that_could_not_be_delivered_is_shown_at_the_next_finding(
    sandbox: BotApiSandbox, test_db: IsolatedDatabase
) -> None:
    async with running_bot(sandbox, test_db, clinics=make_clinics(QUIET)) as bot:
        await enrolled_patient(bot, PAT, "P-7")
        await answer(sandbox, PAT, "How is your mood", "5", wait=8)
        # The card after item 1 = Yes is refused by Telegram; item 2 = Yes must show it.
        first = await sandbox.wait_for_message(PAT, "wished you were dead")
        sandbox.fail_next("sendMessage", status=400, description="Bad Request: odd", chat_id=PAT)
        sandbox.tap(PAT, first["message_id"], button_text="Yes")
        await answer(sandbox, PAT, "thoughts of killing yourself", "Yes")
        await sandbox.wait_for_message(PAT, _card(bot)[:40])
        lines = chat(sandbox, PAT)
        assert sum(_card(bot) in line for line in lines) == 1
        in_order(lines, "thoughts of killing yourself", _card(bot))

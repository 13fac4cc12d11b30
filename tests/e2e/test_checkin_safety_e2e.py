"""Forged, stale and cross-patient buttons change nothing; a restart mid-burst loses nothing."""

from __future__ import annotations

import asyncio

from sqlalchemy import func, select

from bot.messaging import texts
from sandbox import BotApiSandbox
from storage.models import Answer, Checkin
from tests.auxil.databases import IsolatedDatabase
from tests.auxil.harness import RunningBot, make_clinics, running_bot
from tests.auxil.journey import FAST, enrolled_patient, infusions_ended_at


async def _answers(bot: RunningBot) -> list[tuple[int | None, str, str]]:
    async with bot.ctx.db.transaction() as session:
        rows = (await session.scalars(select(Answer).order_by(Answer.id))).all()
    return [(a.checkin_id, a.item_id, a.value) for a in rows if a.checkin_id is not None]


async def test_forged_stale_and_cross_patient_buttons_change_nothing(
    sandbox: BotApiSandbox, test_db: IsolatedDatabase
) -> None:
    alice, bob = 9101, 9102
    async with running_bot(sandbox, test_db, clinics=make_clinics(FAST)) as bot:
        await enrolled_patient(bot, alice, "A-1")
        await enrolled_patient(bot, bob, "B-1", infusion=False)
        question = await sandbox.wait_for_message(alice, "mood", timeout=6)
        data = question["reply_markup"]["inline_keyboard"][0][5]["callback_data"]
        checkin_id = int(data.split(":")[1])

        async def refused(
            user: int, message_id: int, forged: str, answer: str = texts.CLOSED
        ) -> None:
            query = sandbox.tap(user, message_id, data=forged, forge=True)
            await sandbox.wait_for_call(
                "answerCallbackQuery", lambda c: c.params.get("callback_query_id") == query
            )
            assert (sandbox.callback_answer(query) or {}).get("text") == answer

        bob_says = sandbox.send_text(bob, "/help")
        assert bob_says
        bob_msg = await sandbox.wait_for_message(bob, "988")
        # Bob forges a tap on Alice's check-in from his own chat.
        await refused(bob, bob_msg["message_id"], f"c:{checkin_id}:mood:5")
        # Alice: a No out of order (a Yes would count: never dropped), an illegal value,
        # malformed data, an unknown check-in.
        await refused(alice, question["message_id"], f"c:{checkin_id}:s4:no", texts.NOT_CURRENT)
        await refused(alice, question["message_id"], f"c:{checkin_id}:mood:11")
        await refused(alice, question["message_id"], "c:not-a-number:mood:5")
        await refused(alice, question["message_id"], "x" * 40)
        await refused(alice, question["message_id"], f"c:{checkin_id + 999}:mood:5")
        assert await _answers(bot) == []

        # A real answer is taken once; the same data again is answered with what is stored.
        sandbox.tap(alice, question["message_id"], data=data)
        await sandbox.wait_for_message(alice, "wished you were dead")
        await refused(alice, question["message_id"], data, "Already saved: 5/10")
        assert await _answers(bot) == [(checkin_id, "mood", "5")]
        # Bob's chat never saw anything of Alice's.
        assert all("mood" not in (m.get("text") or "") for m in sandbox.chat(bob))


async def test_an_answer_before_its_send_is_recorded_is_kept(
    sandbox: BotApiSandbox, test_db: IsolatedDatabase
) -> None:
    """A batch's outcomes are written after all its sends (seconds, under the rate limiter).

    A patient who answers in between is not told the check-in is closed: the button proves
    the question arrived. The late recording then changes nothing the answer set.
    """
    slow, quick = 9401, 9402
    async with running_bot(sandbox, test_db, clinics=make_clinics(FAST)) as bot:
        ids = [
            await enrolled_patient(bot, user, f"T-{user}", infusion=False) for user in (slow, quick)
        ]
        sandbox.delay_next("sendMessage", 4.0, chat_id=slow)
        ctx = bot.ctx
        await infusions_ended_at(bot, ids, ended_at=ctx.clock.now())  # both fall due together
        question = await sandbox.wait_for_message(quick, "mood", timeout=6)
        data = question["reply_markup"]["inline_keyboard"][0][5]["callback_data"]
        checkin_id = int(data.split(":")[1])

        async def row() -> Checkin:
            async with ctx.db.transaction() as session:
                found = await session.get(Checkin, checkin_id, populate_existing=True)
            assert found is not None
            return found

        unrecorded = await row()
        assert (unrecorded.status, unrecorded.attempts) == ("scheduled", 0), "not in the window"

        query = sandbox.tap(quick, question["message_id"], data=data)
        second = await sandbox.wait_for_message(quick, "wished you were dead")
        await sandbox.wait_for_call(
            "answerCallbackQuery", lambda c: c.params.get("callback_query_id") == query
        )
        assert (sandbox.callback_answer(query) or {}).get("text") != "This check-in is closed."
        assert await _answers(bot) == [(checkin_id, "mood", "5")]

        await sandbox.wait_for_message(slow, "mood", timeout=10)  # the batch ends, is recorded
        deadline = asyncio.get_running_loop().time() + 5
        while (recorded := await row()).attempts == 0:
            assert asyncio.get_running_loop().time() < deadline, "the batch was never recorded"
            await asyncio.sleep(0.05)
        assert recorded.status == "in_progress" and recorded.current_item == "s1"
        assert recorded.message_id == second["message_id"] and recorded.lease_owner is None
        assert recorded.sent_at is not None and recorded.closes_at is not None

        # The conversation goes on: the second question's answer is taken too.
        no = next(
            button["callback_data"]
            for line in second["reply_markup"]["inline_keyboard"]
            for button in line
            if button["callback_data"].endswith(":no")
        )
        sandbox.tap(quick, second["message_id"], data=no)
        deadline = asyncio.get_running_loop().time() + 5
        while len(await _answers(bot)) < 2:
            assert asyncio.get_running_loop().time() < deadline, "the second answer was refused"
            await asyncio.sleep(0.05)
        assert await _answers(bot) == [(checkin_id, "mood", "5"), (checkin_id, "s1", "no")]


async def test_a_restart_in_the_middle_of_a_due_burst_loses_no_checkin(
    sandbox: BotApiSandbox, test_db: IsolatedDatabase
) -> None:
    users = list(range(9200, 9240))
    clinics = make_clinics(FAST)
    # First run: short leases, as after a crash; each send is slowed so the burst is cut short.
    async with running_bot(sandbox, test_db, clinics=clinics, lease_seconds=2.0) as bot:
        for user in users:
            await enrolled_patient(bot, user, f"R-{user}")
        sandbox.delay_next("sendMessage", 0.3, times=len(users))
        await sandbox.wait_for_message(users[0], "mood", timeout=10)
        bot.task.cancel()  # die abruptly: no clean release of claims
        await asyncio.gather(bot.task, return_exceptions=True)
    first_run = {u for u in users if any("mood" in (m.get("text") or "") for m in sandbox.chat(u))}
    assert 0 < len(first_run) < len(users), "the restart must fall in the middle of the burst"

    async with running_bot(sandbox, test_db, clinics=clinics, lease_seconds=2.0) as bot:
        deadline = asyncio.get_running_loop().time() + 20
        while asyncio.get_running_loop().time() < deadline:
            async with bot.ctx.db.transaction() as session:
                pending = await session.scalar(
                    select(func.count()).select_from(Checkin).where(Checkin.status == "scheduled")
                )
            if pending == 0:
                break
            await asyncio.sleep(0.2)
        async with bot.ctx.db.transaction() as session:
            statuses = (await session.scalars(select(Checkin.status))).all()
    assert sorted(set(statuses)) == ["sent"] and len(statuses) == len(users)
    for user in users:
        assert any("mood" in (m.get("text") or "") for m in sandbox.chat(user)), user


async def test_a_message_with_a_nul_byte_is_kept_on_every_backend(
    sandbox: BotApiSandbox, test_db: IsolatedDatabase
) -> None:
    async with running_bot(sandbox, test_db, clinics=make_clinics(FAST)) as bot:
        await enrolled_patient(bot, 9301, "N-1", infusion=False)
        sandbox.send_text(9301, "hello\x00world")
        await sandbox.wait_for_message(9301, "saved in your record")
        async with bot.ctx.db.transaction() as session:
            values = (await session.scalars(select(Answer.value))).all()
    assert values == ["hello\ufffdworld"]

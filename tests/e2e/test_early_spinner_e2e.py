"""A tap's spinner stops as soon as the tap is stored (issue 32): when the intake finds it to be
the check-in's next answer, it answers the tap wordless right after the storing transaction,
before PTB's handlers and the answer's own transaction. Any other tap keeps its words on the
button. And when the check-in changes in between (its window closed), the true answer comes
in the chat, since a spinner takes one answer only.

The check-in handler's `record_tap` is wrapped to look at the Bot API when the handler gets
there: the answer must already be there, with no timing in the test."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

import handlers.checkin
from bot.intake import inbox as intake_inbox
from bot.messaging import texts
from bot.messaging.questions import parse_tap
from sandbox import BotApiSandbox
from storage import inbox
from storage.inbox import Arrival
from storage.models import Checkin
from storage.states import CheckinStatus
from tests.auxil.databases import IsolatedDatabase
from tests.auxil.harness import RunningBot, make_clinics, rehearsal_clinic, running_bot
from tests.auxil.journey import enrolled_patient, open_question

pytestmark = pytest.mark.slow

PAT = 8431
QUIET = rehearsal_clinic(red_flags=False)


class Watch:
    """Wraps the handler's `record_tap`: how each tap's spinner was answered by the time the
    handler recorded it (None: not answered yet), and what to do first (`meanwhile`)."""

    def __init__(self, sandbox: BotApiSandbox, monkeypatch: pytest.MonkeyPatch) -> None:
        self.sandbox = sandbox
        self.query = ""
        self.wait = 0.0  # how long the handler waits for the intake's answer (0: looks once)
        self.before: dict[str, dict[str, Any] | None] = {}
        self.meanwhile: Any = None
        real = handlers.checkin.record_tap

        async def watched(session: AsyncSession, **kwargs: Any) -> Any:
            query = self.query
            with contextlib.suppress(TimeoutError):  # the intake's answer may be in flight
                await sandbox.wait_for_call(
                    "answerCallbackQuery",
                    lambda c: c.params.get("callback_query_id") == query,
                    timeout=self.wait,
                )
            self.before[query] = sandbox.callback_answer(query)
            if self.meanwhile is not None:
                await self.meanwhile(session, kwargs["tap"].checkin_id)
            return await real(session, **kwargs)

        monkeypatch.setattr(handlers.checkin, "record_tap", watched)

    async def at_item1(self, bot: RunningBot, ref: str) -> dict[str, Any]:
        """A patient enrolled, their check-in sent and its mood answered: item 1 is asked.
        (The mood's tap may come before the send is recorded: no early answer is expected.)"""
        await enrolled_patient(bot, PAT, ref)
        await self.sandbox.wait_for_message(PAT, "How is your mood", timeout=8)
        self.tap("How is your mood", "6")
        return await self.sandbox.wait_for_message(PAT, "wished you were dead")

    def tap(self, contains: str, button: str, *, early: bool = False) -> str:
        """Tap `button` on the open question containing `contains`; the query's id. `early`:
        the intake's answer is expected, and waited for (it may still be in flight)."""
        question = open_question(self.sandbox, PAT, contains)
        assert question is not None, contains
        self.wait = 3.0 if early else 0.0
        self.query = self.sandbox.tap(PAT, question["message_id"], button_text=button)
        return self.query

    def forge(self, message: dict[str, Any], data: str) -> str:
        self.wait = 0.0
        self.query = self.sandbox.tap(PAT, message["message_id"], data=data, forge=True)
        return self.query

    def answers_to(self, query: str) -> int:
        calls = self.sandbox.calls_to("answerCallbackQuery")
        return sum(1 for c in calls if c.params.get("callback_query_id") == query)


def _window_closes(bot: RunningBot) -> Callable[[AsyncSession, int], Awaitable[None]]:
    """What the dispatcher does when the answer window ends: the check-in closes as missed
    (here in the handler's own transaction, just before the record)."""

    async def closes(session: AsyncSession, checkin_id: int) -> None:
        await session.execute(
            update(Checkin)
            .where(col(Checkin.id) == checkin_id)
            .values(status=CheckinStatus.MISSED, closed_at=bot.ctx.clock.now())
        )

    return closes


def _checkin_id(question: dict[str, Any]) -> int:
    button = question["reply_markup"]["inline_keyboard"][0][0]
    tap = parse_tap(button["callback_data"])
    assert tap is not None
    return tap.checkin_id


async def test_the_next_answer_is_answered_before_the_handlers_and_a_repeat_keeps_its_words(
    sandbox: BotApiSandbox, test_db: IsolatedDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    watch = Watch(sandbox, monkeypatch)
    async with running_bot(sandbox, test_db, clinics=make_clinics(QUIET)) as bot:
        item1 = await watch.at_item1(bot, "P-31")
        first = watch.tap("wished you were dead", "No", early=True)
        await sandbox.wait_for_message(PAT, "thoughts of killing yourself")
        assert watch.before[first] == {"show_alert": False}, "not answered before the handlers"
        # A second tap on the answered question (a double tap that Telegram delivered late):
        # not the next answer, so its spinner waits for the handler, which says what is saved.
        repeat = watch.forge(item1, f"c:{_checkin_id(item1)}:s1:no")
        await sandbox.wait_for_call(
            "answerCallbackQuery", lambda c: c.params.get("callback_query_id") == repeat
        )
        assert watch.before[repeat] is None
        said = sandbox.callback_answer(repeat)
        assert said is not None and said.get("text") == texts.already_saved("s1", "no")
        assert watch.answers_to(first) == watch.answers_to(repeat) == 1
    assert sum(1 for m in sandbox.chat(PAT) if texts.CLOSED in (m.get("text") or "")) == 0


@pytest.mark.parametrize(("button", "told"), [("No", texts.CLOSED), ("Yes", texts.LATE_YES)])
async def test_a_checkin_closed_between_the_guess_and_the_record_is_told_in_the_chat(
    sandbox: BotApiSandbox,
    test_db: IsolatedDatabase,
    monkeypatch: pytest.MonkeyPatch,
    button: str,
    told: str,
) -> None:
    watch = Watch(sandbox, monkeypatch)
    async with running_bot(sandbox, test_db, clinics=make_clinics(QUIET)) as bot:
        await watch.at_item1(bot, "P-32")
        watch.meanwhile = _window_closes(bot)
        query = watch.tap("wished you were dead", button, early=True)
        await sandbox.wait_for_message(PAT, told)
        assert watch.before[query] == {"show_alert": False}  # stopped wordless by the intake
        assert watch.answers_to(query) == 1  # and not answered again: the words came in the chat


async def test_a_retried_tap_whose_answer_is_refused_gets_its_words_in_the_chat(
    sandbox: BotApiSandbox, test_db: IsolatedDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The intake stopped the spinner, the first try failed before its commit, and on the
    retry the check-in had closed: Telegram refuses a second answer to the tap, so "closed"
    comes in the chat instead of nowhere."""
    watch = Watch(sandbox, monkeypatch)
    tries: list[int] = []
    settings = {"intake_retry_seconds": 0.1, "intake_max_attempts": 3}
    async with running_bot(sandbox, test_db, clinics=make_clinics(QUIET), **settings) as bot:
        await watch.at_item1(bot, "P-33")
        closes = _window_closes(bot)

        async def fails_then_closes(session: AsyncSession, checkin_id: int) -> None:
            tries.append(checkin_id)
            await closes(session, checkin_id)
            if len(tries) == 1:
                raise ValueError("a fault of this try's own")

        watch.meanwhile = fails_then_closes
        query = watch.tap("wished you were dead", "No", early=True)
        await sandbox.wait_for_message(PAT, texts.CLOSED, timeout=10)
        assert len(tries) == 2
        assert watch.before[query] == {"show_alert": False}  # the intake's, before either try
        refused = [
            c.status
            for c in sandbox.calls_to("answerCallbackQuery")
            if c.params.get("callback_query_id") == query
        ]
        assert refused == [200, 400]  # the retry's answer on the button was refused


async def test_a_tap_behind_another_of_its_chat_keeps_its_words_on_the_button(
    sandbox: BotApiSandbox, test_db: IsolatedDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A double tap whose first copy is still waiting in the inbox (stored by an instance
    that stopped): the second is not the chat's next, so the intake does not answer it; once
    the first is recorded, the second says what is saved, on its own button."""
    monkeypatch.setattr(intake_inbox, "IDLE_LOOK_SECONDS", 60.0)  # only the arrival claims
    watch = Watch(sandbox, monkeypatch)
    async with running_bot(sandbox, test_db, clinics=make_clinics(QUIET)) as bot:
        item1 = await watch.at_item1(bot, "P-34")
        first_id = sandbox.state.next_update_id
        sandbox.state.next_update_id += 1  # the second tap comes after it
        first = {
            "id": "4300000000000004343",
            "from": {"id": PAT, "is_bot": False, "first_name": "P-34"},
            "message": item1,
            "chat_instance": "43",
            "data": f"c:{_checkin_id(item1)}:s1:no",
        }
        sandbox.state.open_queries.add(first["id"])
        payload = json.dumps({"update_id": first_id, "callback_query": first})
        now = bot.ctx.clock.now()
        async with bot.ctx.db.transaction() as session:
            await inbox.store(session, [Arrival(first_id, PAT, payload, seen_at=now)], now=now)
        second = watch.tap("wished you were dead", "No")
        await sandbox.wait_for_call(
            "answerCallbackQuery", lambda c: c.params.get("callback_query_id") == second
        )
        assert watch.before[second] is None  # not answered before the handler
        said = sandbox.callback_answer(second)
        assert said is not None and said.get("text") == texts.already_saved("s1", "no")
        assert sandbox.callback_answer(first["id"]) == {"show_alert": False}


async def test_a_late_yes_card_never_waits_for_the_intakes_answer(
    sandbox: BotApiSandbox, test_db: IsolatedDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The intake's answer hangs at the Bot API (Telegram slow) while the Yes is recorded as a
    late Yes: the crisis card goes out all the same, and the answer stays held meanwhile."""
    watch = Watch(sandbox, monkeypatch)
    async with running_bot(sandbox, test_db, clinics=make_clinics(QUIET)) as bot:
        await watch.at_item1(bot, "P-35")
        watch.meanwhile = _window_closes(bot)
        held = sandbox.hold_next("answerCallbackQuery")
        query = watch.tap("wished you were dead", "Yes")
        card = texts.crisis_card(bot.ctx.clinics.clinics[0])
        try:
            await sandbox.wait_for_message(PAT, card[:60], timeout=8)
            assert held.arrived.is_set() and sandbox.callback_answer(query) is None
        finally:
            held.release()
        await sandbox.wait_for_message(PAT, texts.LATE_YES)
        assert sandbox.callback_answer(query) == {"show_alert": False}

"""Told from memory when the database fails mid-update, even when the tap's spinner was already
stopped (the check-in handler answers a tap wordless as soon as it is known to be the next
answer, before the write that then fails): the tap's own answer cannot carry the words any more,
so they come as a message, and a Yes still gets the crisis card."""

from __future__ import annotations

from typing import Any

from telegram import Update
from telegram.ext import ExtBot

from bot.app import prepare
from bot.intake.replies import OutageReplies
from bot.messaging import texts
from sandbox import BotApiSandbox
from tests.auxil.databases import IsolatedDatabase
from tests.auxil.harness import TOKEN, make_clinics, make_settings

PAT = 8401


def _tap(update_id: int, query_id: str, data: str) -> dict[str, Any]:
    user = {"id": PAT, "is_bot": False, "first_name": "Pat"}
    message = {"message_id": 5, "date": 0, "chat": {"id": PAT, "type": "private"}, "text": "q"}
    return {
        "update_id": update_id,
        "callback_query": {
            "id": query_id,
            "from": user,
            "chat_instance": "1",
            "message": message,
            "data": data,
        },
    }


async def test_a_yes_whose_spinner_already_stopped_gets_the_card_and_the_words(
    sandbox: BotApiSandbox, test_db: IsolatedDatabase
) -> None:
    sandbox.add_user(PAT)
    settings = make_settings(sandbox, test_db.url)
    ctx = await prepare(settings, clinics=make_clinics(), db=test_db.open())
    try:
        async with ExtBot(TOKEN, base_url=f"{sandbox.url}/bot") as bot:
            question = await bot.send_message(PAT, "question")
            replies = OutageReplies(ctx, bot)

            async def held(update_id: int, data: str) -> str:
                query = sandbox.tap(PAT, question.message_id, data=data, forge=True)
                await replies.answer(Update.de_json(_tap(update_id, query, data), bot))
                return query

            sandbox.fail_next("answerCallbackQuery", status=400, description="query is too old")
            await held(900, "c:1:s6:yes")
            sent = [c.params["text"] for c in sandbox.calls_to("sendMessage")][1:]
            assert "988" in sent[0]  # the crisis card first
            assert "cannot record messages right now" in sent[1]
            # A No tap whose answer still works: told by the tap's own answer, no message.
            query = await held(901, "c:1:s1:no")
            assert sandbox.callback_answer(query)["text"] == texts.HELD_TAP  # type: ignore[index]
            assert len(sandbox.calls_to("sendMessage")) == 3
            # A No tap whose answer fails: the words as a message, no card.
            sandbox.fail_next("answerCallbackQuery", status=400, description="query is too old")
            await held(902, "c:1:s1:no")
            sent = [c.params["text"] for c in sandbox.calls_to("sendMessage")][1:]
            assert len(sent) == 3 and "cannot record messages right now" in sent[2]
    finally:
        await ctx.db.dispose()

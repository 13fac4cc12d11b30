"""The local Bot API sandbox, over real HTTP, with httpx and with python-telegram-bot."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import httpx
import pytest
import tornado.httpserver
import tornado.netutil
import tornado.web
from telegram import (
    Bot,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    ReplyKeyboardMarkup,
    Update,
)
from telegram.error import BadRequest, Conflict, Forbidden, NetworkError, RetryAfter
from telegram.ext import ApplicationBuilder, CallbackQueryHandler, CommandHandler, ContextTypes

from sandbox import BOT_ID, BotApiSandbox

TOKEN = "123456:SANDBOX-test-token"
ALICE = 501
BOB = 502

NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup are"
    " exactly the same as a current content and reply markup of the message"
)
QUERY_TOO_OLD = "Bad Request: query is too old and response timeout expired or query ID is invalid"
WEBHOOK_ACTIVE = (
    "Conflict: can't use getUpdates method while webhook is active;"
    " use deleteWebhook to delete the webhook first"
)


def keyboard(*pairs: tuple[str, str]) -> InlineKeyboardMarkup:
    """One inline button per row: (text, callback_data)."""
    return InlineKeyboardMarkup([[InlineKeyboardButton(t, callback_data=d)] for t, d in pairs])


@pytest.fixture
async def http(sandbox: BotApiSandbox) -> AsyncIterator[httpx.AsyncClient]:
    """A raw HTTP client rooted at /bot{TOKEN}/."""
    async with httpx.AsyncClient(base_url=f"{sandbox.url}/bot{TOKEN}/", trust_env=False) as client:
        yield client


@pytest.fixture
async def bot(sandbox: BotApiSandbox) -> AsyncIterator[Bot]:
    """A real python-telegram-bot Bot talking to the sandbox."""
    async with Bot(TOKEN, base_url=f"{sandbox.url}/bot") as tg_bot:
        yield tg_bot


@pytest.fixture
def alice(sandbox: BotApiSandbox) -> int:
    """A user who has started the bot."""
    sandbox.add_user(ALICE, "Alice", "alice")
    return ALICE


# ------------------------------------------------------------------ shape of the API


async def test_get_me_over_http_and_ptb(
    sandbox: BotApiSandbox, http: httpx.AsyncClient, bot: Bot
) -> None:
    posted = await http.post("getMe")
    got = await http.get("getme")  # method names are case-insensitive
    assert posted.status_code == got.status_code == 200
    me = posted.json()["result"]
    assert posted.json()["ok"] is True
    assert me["id"] == BOT_ID == 1000001
    assert me["is_bot"] is True
    assert me["first_name"] == "Aftercare"
    assert me["username"] == "aftercare_test_bot"
    assert bot.username == "aftercare_test_bot"
    assert bot.id == BOT_ID
    assert [c.method for c in sandbox.calls_to("getMe")] == ["getMe", "getMe", "getMe"]
    assert {c.token for c in sandbox.calls} == {TOKEN}


async def test_custom_username_and_port() -> None:
    async with BotApiSandbox(bot_username="other_bot") as box:
        assert box.url.startswith("http://127.0.0.1:")
        assert not box.url.endswith(":0")
        async with httpx.AsyncClient(trust_env=False) as client:
            answer = await client.get(f"{box.url}/botX/getMe")
        assert answer.json()["result"]["username"] == "other_bot"


async def test_get_with_query_string_and_json_body(
    sandbox: BotApiSandbox, http: httpx.AsyncClient, alice: int
) -> None:
    by_get = await http.get("sendMessage", params={"chat_id": str(alice), "text": "hi"})
    by_json = await http.post("sendMessage", json={"chat_id": alice, "text": "there"})
    assert by_get.status_code == by_json.status_code == 200
    assert by_get.json()["result"]["message_id"] == 1
    assert by_json.json()["result"]["message_id"] == 2
    assert [m["text"] for m in sandbox.chat(alice)] == ["hi", "there"]
    assert sandbox.calls_to("sendMessage")[0].params["chat_id"] == alice  # int, not "501"


async def test_unknown_method_and_path_are_404(
    sandbox: BotApiSandbox, http: httpx.AsyncClient
) -> None:
    answer = await http.post("sendTelepathy", data={"chat_id": "1"})
    assert answer.status_code == 404
    assert answer.json() == {"ok": False, "error_code": 404, "description": "Not Found"}
    async with httpx.AsyncClient(trust_env=False) as client:
        stray = await client.get(f"{sandbox.url}/nothing/here")
    assert stray.status_code == 404
    assert stray.json()["description"] == "Not Found"
    assert sandbox.calls[-1].method == "sendTelepathy"
    assert sandbox.calls[-1].status == 404


async def test_close_and_log_out(sandbox: BotApiSandbox, http: httpx.AsyncClient) -> None:
    for method in ("close", "logOut", "logout"):
        answer = await http.post(method)
        assert answer.json() == {"ok": True, "result": True}
    assert [c.method for c in sandbox.calls] == ["close", "logOut", "logOut"]


# ------------------------------------------------------------------ sending and editing


async def test_send_message_with_inline_keyboard_via_ptb(
    sandbox: BotApiSandbox, bot: Bot, alice: int
) -> None:
    sent = await bot.send_message(
        alice, "<b>How are you?</b>", parse_mode="HTML", reply_markup=keyboard(("Fine", "mood:ok"))
    )
    assert sent.message_id == 1
    assert sent.chat.id == alice
    assert sent.chat.type == "private"
    assert sent.chat.first_name == "Alice"
    assert sent.from_user is not None and sent.from_user.id == BOT_ID
    assert sent.reply_markup == keyboard(("Fine", "mood:ok"))
    assert abs(sent.date.timestamp() - time.time()) < 5

    stored = sandbox.last_message(alice)
    assert stored is not None
    assert stored["text"] == "<b>How are you?</b>"
    assert stored["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == "mood:ok"


async def test_user_and_bot_messages_share_the_id_sequence(
    sandbox: BotApiSandbox, bot: Bot, alice: int
) -> None:
    first = await bot.send_message(alice, "one")
    sandbox.send_text(alice, "user says hi")
    third = await bot.send_message(alice, "two")
    assert (first.message_id, third.message_id) == (1, 3)
    assert [m["message_id"] for m in sandbox.chat(alice)] == [1, 3]  # only the bot's


async def test_reply_keyboard_is_tracked_but_not_returned(
    sandbox: BotApiSandbox, bot: Bot, alice: int
) -> None:
    sent = await bot.send_message(alice, "pick", reply_markup=ReplyKeyboardMarkup([["Yes", "No"]]))
    assert sent.reply_markup is None  # Telegram only echoes inline keyboards
    shown = sandbox.reply_keyboard(alice)
    assert shown is not None
    assert [[b["text"] for b in row] for row in shown["keyboard"]] == [["Yes", "No"]]


async def test_edit_text_and_markup(sandbox: BotApiSandbox, bot: Bot, alice: int) -> None:
    sent = await bot.send_message(alice, "Rate your pain", reply_markup=keyboard(("1", "p:1")))
    edited = await bot.edit_message_text(
        "Rate your pain (0-10)", alice, sent.message_id, reply_markup=keyboard(("2", "p:2"))
    )
    assert isinstance(edited, type(sent))
    assert edited.text == "Rate your pain (0-10)"
    assert edited.reply_markup == keyboard(("2", "p:2"))
    assert edited.edit_date is not None

    without = await bot.edit_message_text("Thanks", alice, sent.message_id)
    assert isinstance(without, type(sent))
    assert without.reply_markup is None  # omitted markup removes the keyboard
    assert "reply_markup" not in sandbox.chat(alice)[0]

    marked = await bot.edit_message_reply_markup(
        alice, sent.message_id, reply_markup=keyboard(("Undo", "undo"))
    )
    assert isinstance(marked, type(sent))
    assert sandbox.chat(alice)[0]["reply_markup"]["inline_keyboard"][0][0]["text"] == "Undo"
    assert sandbox.chat(alice)[0]["text"] == "Thanks"
    assert len(sandbox.chat(alice)) == 1


async def test_not_modified(
    sandbox: BotApiSandbox, bot: Bot, http: httpx.AsyncClient, alice: int
) -> None:
    markup = keyboard(("Yes", "y"))
    sent = await bot.send_message(alice, "Same", reply_markup=markup)
    with pytest.raises(BadRequest, match=r"^Message is not modified"):
        await bot.edit_message_text("Same", alice, sent.message_id, reply_markup=markup)
    with pytest.raises(BadRequest, match=r"^Message is not modified"):
        await bot.edit_message_reply_markup(alice, sent.message_id, reply_markup=markup)
    raw = await http.post(
        "editMessageText",
        data={
            "chat_id": str(alice),
            "message_id": str(sent.message_id),
            "text": "Same",
            "reply_markup": markup.to_json(),
        },
    )
    assert raw.status_code == 400
    assert raw.json() == {"ok": False, "error_code": 400, "description": NOT_MODIFIED}
    # same text but a different keyboard is a real change
    await bot.edit_message_text("Same", alice, sent.message_id)
    assert "reply_markup" not in sandbox.chat(alice)[0]


async def test_edit_unknown_message(
    sandbox: BotApiSandbox, bot: Bot, http: httpx.AsyncClient, alice: int
) -> None:
    with pytest.raises(BadRequest, match=r"^Message to edit not found"):
        await bot.edit_message_text("x", alice, 99)
    sandbox.send_text(alice, "typed by Alice")  # message 1, not the bot's
    raw = await http.post("editMessageText", json={"chat_id": alice, "message_id": 1, "text": "x"})
    assert raw.json()["description"] == "Bad Request: message can't be edited"
    raw = await http.post("editMessageText", json={"chat_id": alice, "message_id": 7, "text": "x"})
    assert raw.status_code == 400
    assert raw.json()["description"] == "Bad Request: message to edit not found"


async def test_callback_data_limit_is_64_bytes(
    sandbox: BotApiSandbox, bot: Bot, http: httpx.AsyncClient, alice: int
) -> None:
    ok = await bot.send_message(alice, "fits", reply_markup=keyboard(("A", "é" * 32)))  # 64 bytes
    assert ok.message_id == 1
    with pytest.raises(BadRequest, match=r"^Button_data_invalid"):
        await bot.send_message(alice, "too big", reply_markup=keyboard(("A", "é" * 33)))
    raw = await http.post(
        "sendMessage",
        data={
            "chat_id": str(alice),
            "text": "t",
            "reply_markup": keyboard(("A", "x" * 65)).to_json(),
        },
    )
    assert raw.status_code == 400
    assert raw.json()["description"] == "Bad Request: BUTTON_DATA_INVALID"
    with pytest.raises(BadRequest, match=r"^Button_data_invalid"):
        await bot.edit_message_reply_markup(alice, 1, reply_markup=keyboard(("B", "y" * 65)))
    assert [m["text"] for m in sandbox.chat(alice)] == ["fits"]
    assert sandbox.chat(alice)[0]["reply_markup"]["inline_keyboard"][0][0]["text"] == "A"


async def test_text_length_and_emptiness(
    sandbox: BotApiSandbox, bot: Bot, http: httpx.AsyncClient, alice: int
) -> None:
    await bot.send_message(alice, "x" * 4096)
    long = await http.post("sendMessage", json={"chat_id": alice, "text": "x" * 4097})
    assert long.status_code == 400
    assert long.json()["description"] == "Bad Request: message is too long"
    with pytest.raises(BadRequest, match=r"^Message is too long"):
        await bot.send_message(alice, "y" * 4097)
    empty = await http.post("sendMessage", json={"chat_id": alice, "text": "  \n "})
    assert empty.json()["description"] == "Bad Request: message text is empty"
    assert len(sandbox.chat(alice)) == 1


async def test_chat_not_found(bot: Bot, http: httpx.AsyncClient) -> None:
    with pytest.raises(BadRequest, match=r"^Chat not found"):
        await bot.send_message(424242, "hello?")
    raw = await http.post("sendMessage", json={"chat_id": -100123, "text": "hi"})
    assert raw.status_code == 400
    assert raw.json()["description"] == "Bad Request: chat not found"


async def test_delete_message_and_chat_action(sandbox: BotApiSandbox, bot: Bot, alice: int) -> None:
    sent = await bot.send_message(alice, "oops")
    assert await bot.send_chat_action(alice, "typing") is True
    assert await bot.delete_message(alice, sent.message_id) is True
    assert sandbox.chat(alice) == []
    with pytest.raises(BadRequest, match=r"^Message to delete not found"):
        await bot.delete_message(alice, sent.message_id)


async def test_photo_and_document_uploads(sandbox: BotApiSandbox, bot: Bot, alice: int) -> None:
    photo = await bot.send_photo(alice, b"\x89PNG fake", caption="your chart")
    assert photo.caption == "your chart"
    file_id = photo.photo[-1].file_id
    assert sandbox.file_content(file_id) == b"\x89PNG fake"
    again = await bot.send_photo(alice, file_id)  # re-send by file_id
    assert again.photo[-1].file_id == file_id

    document = await bot.send_document(alice, b"a,b\n1,2\n", filename="scores.csv")
    assert document.document is not None
    assert document.document.file_name == "scores.csv"
    assert sandbox.file_content(document.document.file_id) == b"a,b\n1,2\n"
    assert sandbox.calls_to("sendDocument")[0].params["document"]["size"] == 8
    with pytest.raises(BadRequest, match=r"^Wrong file identifier"):
        await bot.send_document(alice, "no-such-file-id")
    assert [m.get("caption") for m in sandbox.chat(alice)] == ["your chart", None, None]


async def test_commands(bot: Bot) -> None:
    assert await bot.get_my_commands() == ()
    assert await bot.set_my_commands([("checkin", "Check in now"), ("help", "Get help")])
    assert [c.command for c in await bot.get_my_commands()] == ["checkin", "help"]
    with pytest.raises(BadRequest, match=r"^Bot_command_invalid"):
        await bot.set_my_commands([("Check-In", "bad name")])
    assert await bot.delete_my_commands()
    assert await bot.get_my_commands() == ()


# ------------------------------------------------------------------ the user side


async def test_command_entity(sandbox: BotApiSandbox, http: httpx.AsyncClient) -> None:
    first = sandbox.send_text(BOB, "/start abc")
    second = sandbox.send_text(BOB, "just words")
    assert (first, second) == (1, 2)
    updates = (await http.post("getUpdates")).json()["result"]
    start, plain = (u["message"] for u in updates)
    assert start["entities"] == [{"type": "bot_command", "offset": 0, "length": 6}]
    assert start["from"] == {"id": BOB, "is_bot": False, "first_name": "User"}
    assert start["chat"]["id"] == BOB and start["chat"]["type"] == "private"
    assert "entities" not in plain
    assert (start["message_id"], plain["message_id"]) == (1, 2)


async def test_tap_by_text_then_answer_once(
    sandbox: BotApiSandbox, bot: Bot, http: httpx.AsyncClient, alice: int
) -> None:
    sent = await bot.send_message(
        alice, "Mood?", reply_markup=keyboard(("Good", "m:g"), ("Bad", "m:b"))
    )
    query_id = sandbox.tap(alice, sent.message_id, button_text="Bad")
    (update,) = await bot.get_updates()
    assert update.callback_query is not None
    assert update.callback_query.id == query_id
    assert update.callback_query.data == "m:b"
    assert update.callback_query.from_user.id == alice
    assert isinstance(update.callback_query.message, Message)
    assert update.callback_query.message.reply_markup == sent.reply_markup

    assert await bot.answer_callback_query(query_id, text="Noted") is True
    assert sandbox.callback_answer(query_id) == {"text": "Noted"}
    with pytest.raises(BadRequest, match=r"^Query is too old"):
        await bot.answer_callback_query(query_id)
    unknown = await http.post("answerCallbackQuery", data={"callback_query_id": "nope"})
    assert unknown.status_code == 400
    assert unknown.json()["description"] == QUERY_TOO_OLD


async def test_tap_lookup_and_forged_data(sandbox: BotApiSandbox, bot: Bot, alice: int) -> None:
    sent = await bot.send_message(alice, "Mood?", reply_markup=keyboard(("Good", "m:g")))
    plain = await bot.send_message(alice, "no buttons")
    with pytest.raises(LookupError):
        sandbox.tap(alice, sent.message_id, button_text="Terrible")
    with pytest.raises(LookupError):
        sandbox.tap(alice, sent.message_id, data="m:x")
    with pytest.raises(LookupError):
        sandbox.tap(alice, 99, data="m:g")
    with pytest.raises(LookupError):
        sandbox.tap(alice, plain.message_id, data="m:g")
    sandbox.tap(alice, sent.message_id, data="m:g", button_text="Good")
    forged = sandbox.tap(alice, sent.message_id, data="admin:delete_all", forge=True)
    updates = await bot.get_updates()
    assert [u.callback_query.data for u in updates if u.callback_query] == [
        "m:g",
        "admin:delete_all",
    ]
    assert updates[-1].callback_query is not None
    assert updates[-1].callback_query.id == forged


async def test_raw_updates_register_chats(sandbox: BotApiSandbox, bot: Bot) -> None:
    group = {"id": -100777, "type": "group", "title": "Clinic staff"}
    sender = {"id": 9001, "is_bot": False, "first_name": "Nurse"}
    update_id = sandbox.enqueue_update(
        {"edited_message": {"message_id": 5, "date": 1, "chat": group, "from": sender, "text": "x"}}
    )
    assert update_id == 1
    (update,) = await bot.get_updates()
    assert update.edited_message is not None
    assert update.edited_message.chat.title == "Clinic staff"
    reply = await bot.send_message(-100777, "noted")
    assert reply.message_id == 6  # continues after the hand-made message
    assert sandbox.enqueue_update({"update_id": 40, "message": {**update.edited_message.to_dict()}})
    assert sandbox.send_text(9001, "next") == 41


# ------------------------------------------------------------------ getUpdates


async def test_offset_confirms_and_limit_caps(
    sandbox: BotApiSandbox, http: httpx.AsyncClient
) -> None:
    for text in ("a", "b", "c"):
        sandbox.send_text(BOB, text)

    async def ids(**params: Any) -> list[int]:
        answer = await http.post("getUpdates", data={k: str(v) for k, v in params.items()})
        return [u["update_id"] for u in answer.json()["result"]]

    assert await ids() == [1, 2, 3]
    assert await ids() == [1, 2, 3]  # nothing confirmed yet
    assert await ids(offset=2, limit=1) == [2]
    assert await ids() == [2, 3]  # update 1 is gone for good
    assert await ids(offset=4) == []
    sandbox.send_text(BOB, "d")
    assert await ids(offset=-1) == [4]


async def test_allowed_updates_filter(sandbox: BotApiSandbox, bot: Bot, alice: int) -> None:
    sent = await bot.send_message(alice, "q", reply_markup=keyboard(("Ok", "ok")))
    sandbox.send_text(alice, "text")
    sandbox.tap(alice, sent.message_id, data="ok")
    updates = await bot.get_updates(allowed_updates=["callback_query"])
    assert [u.update_id for u in updates] == [2]
    sandbox.send_text(alice, "later text")
    assert await bot.get_updates(offset=3) == ()  # the setting persists


async def test_long_poll_times_out_empty(sandbox: BotApiSandbox, bot: Bot) -> None:
    started = time.monotonic()
    assert await bot.get_updates(timeout=1) == ()
    elapsed = time.monotonic() - started
    assert 0.9 <= elapsed < 2.5
    assert sandbox.calls_to("getUpdates")[-1].params["timeout"] == 1


async def test_long_poll_returns_early_on_new_update(sandbox: BotApiSandbox, bot: Bot) -> None:
    started = time.monotonic()
    poll = asyncio.create_task(bot.get_updates(timeout=10))
    await asyncio.sleep(0.3)
    assert not poll.done()
    sandbox.send_text(ALICE, "I need help")
    (update,) = await asyncio.wait_for(poll, timeout=3)
    assert update.message is not None and update.message.text == "I need help"
    assert time.monotonic() - started < 2


async def test_pending_updates_return_immediately(sandbox: BotApiSandbox, bot: Bot) -> None:
    sandbox.send_text(ALICE, "already here")
    started = time.monotonic()
    assert len(await bot.get_updates(timeout=10)) == 1
    assert time.monotonic() - started < 1


async def test_second_poll_terminates_the_first(
    sandbox: BotApiSandbox, http: httpx.AsyncClient
) -> None:
    first = asyncio.create_task(http.post("getUpdates", data={"timeout": "10"}))
    await asyncio.sleep(0.3)
    second = await http.post("getUpdates", data={"timeout": "0"})
    old = await asyncio.wait_for(first, timeout=2)
    assert second.status_code == 200
    assert old.status_code == 409
    assert old.json()["description"].startswith("Conflict: terminated by other getUpdates")


async def test_redeliver_duplicates_an_update(
    sandbox: BotApiSandbox, http: httpx.AsyncClient
) -> None:
    update_id = sandbox.send_text(ALICE, "/checkin")
    (first,) = (await http.post("getUpdates", json={"offset": 0})).json()["result"]
    assert (await http.post("getUpdates", json={"offset": update_id + 1})).json()["result"] == []
    sandbox.redeliver(update_id)
    (again,) = (await http.post("getUpdates", json={"offset": update_id + 1})).json()["result"]
    assert again == first
    assert (await http.post("getUpdates", json={"offset": update_id + 1})).json()["result"] == []
    with pytest.raises(LookupError):
        sandbox.redeliver(999)


# ------------------------------------------------------------------ faults


async def test_429_surfaces_as_retry_after(
    sandbox: BotApiSandbox,
    bot: Bot,
    http: httpx.AsyncClient,
    alice: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PTB_TIMEDELTA", "true")  # PTB warns about int retry_after otherwise
    sandbox.fail_next("sendMessage", status=429, retry_after=3)
    with pytest.raises(RetryAfter) as caught:
        await bot.send_message(alice, "flood")
    assert caught.value.retry_after == timedelta(seconds=3)
    assert sandbox.chat(alice) == []

    sandbox.fail_next("sendMessage", status=429, retry_after=7)
    raw = await http.post("sendMessage", json={"chat_id": alice, "text": "x"})
    assert raw.status_code == 429
    assert raw.json() == {
        "ok": False,
        "error_code": 429,
        "description": "Too Many Requests: retry after 7",
        "parameters": {"retry_after": 7},
    }
    await bot.send_message(alice, "now it works")
    assert [c.status for c in sandbox.calls_to("sendMessage")] == [429, 429, 200]


async def test_server_errors_surface_as_network_errors(
    sandbox: BotApiSandbox, bot: Bot, alice: int
) -> None:
    sandbox.fail_next("sendMessage", status=500)
    sandbox.fail_next("sendMessage", status=502)
    with pytest.raises(NetworkError, match="Internal Server Error"):
        await bot.send_message(alice, "a")
    with pytest.raises(NetworkError, match="Bad Gateway"):
        await bot.send_message(alice, "b")
    await bot.send_message(alice, "c")
    assert [m["text"] for m in sandbox.chat(alice)] == ["c"]


async def test_fault_for_one_chat_only(sandbox: BotApiSandbox, bot: Bot, alice: int) -> None:
    sandbox.add_user(BOB)
    sandbox.fail_next("sendMessage", status=503, times=2, chat_id=BOB)
    await bot.send_message(alice, "fine")
    for _ in range(2):
        with pytest.raises(NetworkError, match="Service Unavailable"):
            await bot.send_message(BOB, "no")
    await bot.send_message(BOB, "yes")
    assert [m["text"] for m in sandbox.chat(BOB)] == ["yes"]


async def test_blocked_and_deactivated_users(sandbox: BotApiSandbox, bot: Bot, alice: int) -> None:
    sent = await bot.send_message(alice, "hello")
    sandbox.block(alice)
    with pytest.raises(Forbidden, match=r"^Forbidden: bot was blocked by the user$"):
        await bot.send_message(alice, "still there?")
    with pytest.raises(Forbidden, match="blocked"):
        await bot.edit_message_text("edited", alice, sent.message_id)
    sandbox.deactivate(alice)
    with pytest.raises(Forbidden, match=r"^Forbidden: user is deactivated$"):
        await bot.send_message(alice, "?")
    sandbox.unblock(alice)
    await bot.send_message(alice, "welcome back")
    assert [m["text"] for m in sandbox.chat(alice)] == ["hello", "welcome back"]


async def test_delay_next(sandbox: BotApiSandbox, bot: Bot, alice: int) -> None:
    sandbox.delay_next("sendMessage", 0.6)
    started = time.monotonic()
    await bot.send_message(alice, "slow")
    assert time.monotonic() - started >= 0.6
    started = time.monotonic()
    await bot.send_message(alice, "fast")
    assert time.monotonic() - started < 0.5


async def test_hold_next(sandbox: BotApiSandbox, bot: Bot, alice: int) -> None:
    hold = sandbox.hold_next("sendMessage", chat_id=alice)
    held = asyncio.create_task(bot.send_message(alice, "held"))
    await asyncio.wait_for(hold.arrived.wait(), 5)
    assert not held.done() and sandbox.chat(alice) == []  # unanswered, unrecorded
    hold.release()
    sent = await asyncio.wait_for(held, 5)
    assert sent.text == "held" and [m["text"] for m in sandbox.chat(alice)] == ["held"]
    await asyncio.wait_for(bot.send_message(alice, "not held"), 5)  # only the next one


# ------------------------------------------------------------------ waiting helpers


async def test_wait_for_message_and_call(sandbox: BotApiSandbox, bot: Bot, alice: int) -> None:
    async def later() -> None:
        await asyncio.sleep(0.2)
        await bot.send_message(alice, "Check-in time: how are you?")

    task = asyncio.create_task(later())
    message = await sandbox.wait_for_message(alice, "Check-in", timeout=3)
    assert message["message_id"] == 1
    call = await sandbox.wait_for_call("sendMessage", lambda c: c.params["chat_id"] == alice)
    assert call.status == 200 and call.response["result"]["text"].startswith("Check-in")
    await task
    with pytest.raises(TimeoutError, match=r"(?s)'Goodbye'.*#1: 'Check-in time"):
        await sandbox.wait_for_message(alice, "Goodbye", timeout=0.2)
    with pytest.raises(TimeoutError):
        await sandbox.wait_for_message(alice, timeout=0.1, after=1)
    with pytest.raises(TimeoutError, match="deleteMessage"):
        await sandbox.wait_for_call("deleteMessage", timeout=0.1)


async def test_ptb_application_polls_and_answers(sandbox: BotApiSandbox) -> None:
    async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.message is not None
        await update.message.reply_text("Welcome", reply_markup=keyboard(("Go", "go")))

    async def pressed(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.callback_query is not None
        await update.callback_query.answer("ok")
        await update.callback_query.edit_message_text(f"Pressed {update.callback_query.data}")

    app = ApplicationBuilder().token(TOKEN).base_url(f"{sandbox.url}/bot").build()
    app.add_handler(CommandHandler("start", start))
    app.add_handler(CallbackQueryHandler(pressed))
    async with app:
        await app.start()
        assert app.updater is not None
        await app.updater.start_polling(timeout=1, allowed_updates=Update.ALL_TYPES)
        sandbox.send_text(ALICE, "/start")
        welcome = await sandbox.wait_for_message(ALICE, "Welcome")
        query_id = sandbox.tap(ALICE, welcome["message_id"], button_text="Go")
        await sandbox.wait_for_message(ALICE, "Pressed go")
        await sandbox.wait_for_call("answerCallbackQuery")
        await app.updater.stop()
        await app.stop()
    assert sandbox.callback_answer(query_id) == {"text": "ok"}
    assert [m["text"] for m in sandbox.chat(ALICE)] == ["Pressed go"]
    assert sandbox.calls_to("deleteWebhook")  # PTB clears any webhook before polling
    assert sandbox.state.queue == []  # PTB confirmed everything on the way out


# ------------------------------------------------------------------ webhook


@dataclass
class Receiver:
    """A tiny webhook endpoint that can refuse the first few deliveries."""

    refuse: int = 0
    received: list[tuple[dict[str, Any], str | None]] = field(default_factory=list)
    refused: int = 0
    arrived: asyncio.Event = field(default_factory=asyncio.Event)


class _WebhookHandler(tornado.web.RequestHandler):
    def initialize(self, receiver: Receiver) -> None:
        self.receiver = receiver

    def post(self) -> None:
        if self.receiver.refused < self.receiver.refuse:
            self.receiver.refused += 1
            self.set_status(500)
            return
        secret = self.request.headers.get("X-Telegram-Bot-Api-Secret-Token")
        self.receiver.received.append((json.loads(self.request.body), secret))
        self.receiver.arrived.set()


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[Receiver, str]]:
    """A running webhook receiver and its URL."""
    target = Receiver()
    app = tornado.web.Application([(r"/hook", _WebhookHandler, {"receiver": target})])
    sockets = tornado.netutil.bind_sockets(0, "127.0.0.1")
    server = tornado.httpserver.HTTPServer(app)
    server.add_sockets(sockets)
    yield target, f"http://127.0.0.1:{sockets[0].getsockname()[1]}/hook"
    server.stop()
    await server.close_all_connections()


async def wait_received(target: Receiver, count: int) -> None:
    """Wait until the receiver holds `count` updates."""
    async with asyncio.timeout(5):
        while len(target.received) < count:
            target.arrived.clear()
            await target.arrived.wait()


async def test_webhook_push_with_secret_and_409(
    sandbox: BotApiSandbox,
    bot: Bot,
    http: httpx.AsyncClient,
    receiver: tuple[Receiver, str],
) -> None:
    target, url = receiver
    sandbox.send_text(ALICE, "queued before")
    assert await bot.set_webhook(url, secret_token="s3cret-token", drop_pending_updates=True)
    assert sandbox.webhook_url == url
    assert sandbox.webhook_secret == "s3cret-token"
    sandbox.send_text(ALICE, "one")
    sandbox.send_text(ALICE, "two")
    await wait_received(target, 2)
    assert [u["message"]["text"] for u, _ in target.received] == ["one", "two"]
    assert [u["update_id"] for u, _ in target.received] == [2, 3]
    assert {secret for _, secret in target.received} == {"s3cret-token"}

    raw = await http.post("getUpdates")
    assert raw.status_code == 409
    assert raw.json()["description"] == WEBHOOK_ACTIVE
    with pytest.raises(Conflict):
        await bot.get_updates()
    info = await bot.get_webhook_info()
    assert info.url == url and info.pending_update_count == 0

    assert await bot.delete_webhook()
    sandbox.send_text(ALICE, "polling again")
    (update,) = await bot.get_updates()
    assert update.message is not None and update.message.text == "polling again"
    assert len(target.received) == 2


async def test_webhook_retries_failures_in_order(
    sandbox: BotApiSandbox, bot: Bot, receiver: tuple[Receiver, str]
) -> None:
    target, url = receiver
    target.refuse = 2
    await bot.set_webhook(url)
    sandbox.send_text(ALICE, "first")
    sandbox.send_text(ALICE, "second")
    await wait_received(target, 2)
    assert [u["message"]["text"] for u, _ in target.received] == ["first", "second"]
    assert target.received[0][1] is None  # no secret header without a secret
    attempts = sandbox.state.webhook_attempts
    for _ in range(50):  # the receiver may answer before the sandbox notes the answer
        if len(attempts) >= 4:
            break
        await asyncio.sleep(0.02)
    assert [(a.update_id, a.error is None) for a in attempts] == [
        (1, False),
        (1, False),
        (1, True),
        (2, True),
    ]
    assert attempts[1].at - attempts[0].at >= 0.15
    info = await bot.get_webhook_info()
    assert info.last_error_message == "Wrong response from the webhook: 500 Internal Server Error"


async def test_set_webhook_ends_a_pending_poll(
    sandbox: BotApiSandbox, http: httpx.AsyncClient, receiver: tuple[Receiver, str]
) -> None:
    poll = asyncio.create_task(http.post("getUpdates", data={"timeout": "10"}))
    await asyncio.sleep(0.2)
    await http.post("setWebhook", data={"url": receiver[1]})
    answer = await asyncio.wait_for(poll, timeout=2)
    assert answer.status_code == 409
    assert answer.json()["description"] == "Conflict: terminated by setWebhook request"


# ------------------------------------------------------------------ shutdown


async def test_stop_ends_long_polls_and_webhook_retries() -> None:
    box = BotApiSandbox()
    await box.start()
    async with httpx.AsyncClient(base_url=f"{box.url}/bot{TOKEN}/", trust_env=False) as client:
        poll = asyncio.create_task(client.post("getUpdates", data={"timeout": "30"}, timeout=40))
        await asyncio.sleep(0.2)
        started = time.monotonic()
        await box.stop()
        answer = await asyncio.wait_for(poll, timeout=3)
    assert answer.json() == {"ok": True, "result": []}
    assert time.monotonic() - started < 2


async def test_stop_while_webhook_is_unreachable() -> None:
    async with BotApiSandbox() as box, httpx.AsyncClient(trust_env=False) as client:
        await client.post(f"{box.url}/bot{TOKEN}/setWebhook", data={"url": "http://127.0.0.1:9/x"})
        box.send_text(ALICE, "nobody listens")
        for _ in range(100):
            if len(box.state.webhook_attempts) >= 2:
                break
            await asyncio.sleep(0.05)
        assert all(a.error for a in box.state.webhook_attempts)
        info = (await client.get(f"{box.url}/bot{TOKEN}/getWebhookInfo")).json()["result"]
        assert info["pending_update_count"] == 1
        assert info["last_error_message"].startswith("Connection failed")

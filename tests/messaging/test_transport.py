"""bot/messaging/transport.py over real HTTP: JSON and multipart requests, and failures mapped to
PTB's errors so that `bot.messaging.delivery` classifies them as it would for PTB's own
transport."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator

import pytest
from telegram.error import NetworkError, TimedOut
from telegram.ext import ExtBot

from bot.messaging.delivery import Outcome, deliver, send_question
from bot.messaging.transport import AiohttpRequest
from sandbox import BotApiSandbox
from tests.auxil.harness import TOKEN

CHAT = 4242


@pytest.fixture
async def bot(sandbox: BotApiSandbox) -> AsyncIterator[ExtBot[None]]:
    sandbox.add_user(CHAT, "Pat")
    ext = ExtBot(
        TOKEN,
        base_url=f"{sandbox.url}/bot",
        base_file_url=f"{sandbox.url}/file/bot",
        request=AiohttpRequest(read_timeout=0.5),
    )
    await ext.initialize()
    yield ext
    await ext.shutdown()


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # closed again on leaving: nothing listens there


async def test_a_question_goes_as_json_with_its_buttons(
    bot: ExtBot[None], sandbox: BotApiSandbox
) -> None:
    delivery = await deliver(
        send_question(bot, CHAT, "How is your mood?", checkin_id=7, item_id="mood"), what="t"
    )
    assert delivery.outcome is Outcome.SENT and delivery.message_id is not None
    message = sandbox.last_message(CHAT)
    assert message is not None and message["message_id"] == delivery.message_id
    rows = message["reply_markup"]["inline_keyboard"]
    buttons = [button["callback_data"] for row in rows for button in row]
    assert buttons == [f"c:7:mood:{n}" for n in range(11)]


async def test_an_upload_goes_as_multipart_with_its_other_fields(
    bot: ExtBot[None], sandbox: BotApiSandbox
) -> None:
    sent = await bot.send_document(
        CHAT, document=b"audit export", filename="audit.csv", caption="ok"
    )
    call = sandbox.calls_to("sendDocument")[-1]
    assert call.status == 200 and sent.document is not None
    assert call.params["document"]["file_name"] == "audit.csv"
    assert call.params["document"]["size"] == len(b"audit export")
    assert call.params["caption"] == "ok" and call.params["chat_id"] == CHAT


async def test_a_slow_answer_is_a_timeout_and_the_send_is_retried_later(
    bot: ExtBot[None], sandbox: BotApiSandbox
) -> None:
    sandbox.delay_next("sendMessage", 2.0, chat_id=CHAT)
    with pytest.raises(TimedOut):
        await bot.send_message(CHAT, "hello")
    sandbox.delay_next("sendMessage", 2.0, chat_id=CHAT)
    delivery = await deliver(
        send_question(bot, CHAT, "How is your mood?", checkin_id=7, item_id="mood"), what="t"
    )
    assert delivery.outcome is Outcome.RETRY and delivery.retry_after is not None


async def test_nobody_listening_is_a_network_error_and_the_send_is_retried_later() -> None:
    request = AiohttpRequest(connect_timeout=1.0)
    await request.initialize()
    try:
        url = f"http://127.0.0.1:{closed_port()}/bot{TOKEN}/getMe"
        with pytest.raises(NetworkError) as raised:
            await request.do_request(url, "POST")
        assert not isinstance(raised.value, TimedOut)
        assert TOKEN not in str(raised.value), "the error text must not carry the token"
        bot = ExtBot(TOKEN, base_url=f"http://127.0.0.1:{closed_port()}/bot", request=request)
        delivery = await deliver(bot.send_message(CHAT, "hello"), what="t")
        assert delivery.outcome is Outcome.RETRY
    finally:
        await request.shutdown()


async def test_a_request_before_initialize_is_refused_plainly() -> None:
    with pytest.raises(RuntimeError, match="not initialized"):
        await AiohttpRequest().do_request("http://127.0.0.1:1/botX/getMe", "POST")

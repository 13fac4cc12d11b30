"""The Bot API sandbox server: tornado handlers, long polling, webhook pushes and the test API."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any, TypeVar

import httpx
import tornado.httpserver
import tornado.httputil
import tornado.netutil
import tornado.web
from tornado.iostream import StreamClosedError

from bot.sandbox.state import (
    TERMINATED_BY_POLL,
    TERMINATED_BY_WEBHOOK,
    WEBHOOK_ACTIVE,
    ApiError,
    Delay,
    Fault,
    JsonDict,
    RecordedCall,
    SandboxState,
    Upload,
)

log = logging.getLogger(__name__)

T = TypeVar("T")

JSON_FIELDS = frozenset(
    {
        "reply_markup",
        "allowed_updates",
        "entities",
        "caption_entities",
        "link_preview_options",
        "reply_parameters",
        "commands",
        "scope",
        "media",
    }
)
INT_FIELDS = frozenset(
    {
        "chat_id",
        "message_id",
        "offset",
        "limit",
        "timeout",
        "reply_to_message_id",
        "message_thread_id",
        "max_connections",
        "cache_time",
        "user_id",
    }
)
BOOL_FIELDS = frozenset(
    {
        "drop_pending_updates",
        "show_alert",
        "disable_notification",
        "protect_content",
        "allow_sending_without_reply",
        "has_spoiler",
        "disable_content_type_detection",
    }
)
INT_RE = re.compile(r"-?\d+")
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
NOT_FOUND: JsonDict = {"ok": False, "error_code": 404, "description": "Not Found"}


def normalise(params: JsonDict) -> JsonDict:
    """Decode form values the way Telegram does: JSON objects, integers, booleans."""
    return {key: _decode_value(key, value) for key, value in params.items()}


def _decode_value(key: str, value: Any) -> Any:
    """One decoded parameter value."""
    if not isinstance(value, str):
        return value
    if key in JSON_FIELDS:
        with contextlib.suppress(ValueError):
            return json.loads(value)
    elif key in INT_FIELDS and INT_RE.fullmatch(value):
        return int(value)
    elif key in BOOL_FIELDS and value in ("true", "false"):
        return value == "true"
    return value


def parse_request(
    request: tornado.httputil.HTTPServerRequest,
) -> tuple[JsonDict, dict[str, Upload]]:
    """Parameters (query string, then body) and uploaded files of a Bot API request."""
    params: JsonDict = _form_fields(request.query_arguments)
    content_type = request.headers.get("Content-Type", "")
    if content_type.startswith("application/json") and request.body:
        try:
            body = json.loads(request.body)
        except ValueError:
            raise ApiError(400, "Bad Request: can't parse JSON encoded request body") from None
        if not isinstance(body, dict):
            raise ApiError(400, "Bad Request: JSON object expected as request body")
        params |= body
    else:
        params |= _form_fields(request.body_arguments)
    uploads = {
        name: Upload(files[0].filename, files[0].content_type, files[0].body)
        for name, files in request.files.items()
        if files
    }
    return normalise(params), uploads


def _form_fields(arguments: dict[str, list[bytes]]) -> JsonDict:
    """The last value of every form field, decoded as UTF-8."""
    return {
        key: values[-1].decode("utf-8", "replace") for key, values in arguments.items() if values
    }


def _as_int(value: Any, default: int) -> int:
    """An integer parameter, or the default."""
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _as_float(value: Any, default: float) -> float:
    """A number parameter, or the default."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return default


class _Pulse:
    """A broadcast wake-up: notify() releases everyone currently waiting."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def notify(self) -> None:
        """Wake all current waiters."""
        self._event.set()
        self._event = asyncio.Event()

    async def wait(self, seconds: float | None) -> bool:
        """Wait for the next notify(), at most `seconds` (None: forever); False on timeout."""
        event = self._event
        try:
            await asyncio.wait_for(event.wait(), seconds)
        except TimeoutError:
            return False
        return True


class _ApiHandler(tornado.web.RequestHandler):
    """`/bot{token}/{method}` by GET or POST."""

    def initialize(self, sandbox: BotApiSandbox) -> None:
        """Tornado's per-request setup."""
        self.sandbox = sandbox
        self.gone = asyncio.Event()

    async def get(self, token: str, method: str) -> None:
        """A method called by GET with a query string."""
        await self._serve(token, method)

    async def post(self, token: str, method: str) -> None:
        """A method called by POST (JSON, urlencoded or multipart)."""
        await self._serve(token, method)

    def on_connection_close(self) -> None:
        """The client hung up (e.g. an abandoned long poll)."""
        self.gone.set()
        self.sandbox.poke()

    async def _serve(self, token: str, method: str) -> None:
        """Answer the request with Telegram's JSON envelope."""
        try:
            params, uploads = parse_request(self.request)
        except ApiError as error:
            status, payload = error.code, error.payload()
        else:
            status, payload = await self.sandbox.handle_request(
                token, method, params, uploads, gone=self.gone.is_set
            )
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        with contextlib.suppress(StreamClosedError):
            await self.finish(json.dumps(payload))


class _NotFoundHandler(tornado.web.RequestHandler):
    """Any other path: Telegram's 404."""

    def prepare(self) -> None:
        """Answer 404 whatever the HTTP method."""
        self.set_status(404)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(NOT_FOUND))


def _quiet_log(handler: tornado.web.RequestHandler) -> None:
    """Access log at DEBUG level."""
    request = handler.request
    log.debug("sandbox %s %s -> %s", request.method, request.path, handler.get_status())


class BotApiSandbox:
    """A local Telegram Bot API server with a scriptable user side, for tests and demos."""

    def __init__(
        self, *, host: str = "127.0.0.1", port: int = 0, bot_username: str = "aftercare_test_bot"
    ) -> None:
        self.host = host
        self.port = port
        self.bot_username = bot_username
        self.webhook_retry_delay = 0.2
        self.webhook_max_attempts = 50
        self._pulse = _Pulse()
        self.state = SandboxState(bot_username, on_change=self.poke)
        self._server: tornado.httpserver.HTTPServer | None = None
        self._client: httpx.AsyncClient | None = None
        self._pusher: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self._inflight = 0
        self._poll_generation = 0
        self._bound = False

    # ----------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        """Listen on host:port (port 0 picks a free one) inside the running loop."""
        if self._server is not None:
            raise RuntimeError("sandbox already started")
        app = tornado.web.Application(
            [(r"/bot([^/]+)/([A-Za-z0-9_]+)/?", _ApiHandler, {"sandbox": self})],
            default_handler_class=_NotFoundHandler,
            log_function=_quiet_log,
        )
        sockets = tornado.netutil.bind_sockets(self.port, self.host)
        self._server = tornado.httpserver.HTTPServer(app)
        self._server.add_sockets(sockets)
        self.port = int(sockets[0].getsockname()[1])
        self._bound = True
        self._stopping = asyncio.Event()
        self._client = httpx.AsyncClient(timeout=10.0, trust_env=False)
        self._pusher = asyncio.create_task(self._push_loop(), name="sandbox-webhook-pusher")

    async def stop(self) -> None:
        """End long polls, the webhook pusher and every connection."""
        if self._server is None:
            return
        server, self._server = self._server, None
        server.stop()
        self._stopping.set()
        self.poke()
        if self._pusher is not None:
            self._pusher.cancel()
            await asyncio.gather(self._pusher, return_exceptions=True)
        await self._drain()
        await server.close_all_connections()
        if self._client is not None:
            await self._client.aclose()

    async def _drain(self, limit: float = 5.0) -> None:
        """Let requests being answered finish writing."""
        deadline = time.monotonic() + limit
        while self._inflight and (remaining := deadline - time.monotonic()) > 0:
            await self._pulse.wait(remaining)
        await asyncio.sleep(0)

    async def __aenter__(self) -> BotApiSandbox:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    @property
    def url(self) -> str:
        """Base URL, e.g. "http://127.0.0.1:PORT" (the bot calls {url}/bot{token}/{method})."""
        if not self._bound:
            raise RuntimeError("sandbox not started")
        return f"http://{self.host}:{self.port}"

    def poke(self) -> None:
        """Wake everything waiting on sandbox state."""
        self._pulse.notify()

    # ----------------------------------------------------------------- serving requests

    async def handle_request(
        self,
        token: str,
        method: str,
        params: JsonDict,
        uploads: dict[str, Upload] | None = None,
        *,
        gone: Callable[[], bool] = lambda: False,
    ) -> tuple[int, JsonDict]:
        """Serve one Bot API call and record it; returns (HTTP status, JSON body)."""
        arrived = time.monotonic()
        uploads = uploads or {}
        name = self.state.canonical(method)
        self._inflight += 1
        try:
            status, payload = await self._answer(name, params, uploads, gone)
        finally:
            self._inflight -= 1
            self.poke()
        recorded = params | {key: upload.describe() for key, upload in uploads.items()}
        self.state.record(RecordedCall(name or method, recorded, arrived, status, payload, token))
        return status, payload

    async def _answer(
        self,
        name: str | None,
        params: JsonDict,
        uploads: dict[str, Upload],
        gone: Callable[[], bool],
    ) -> tuple[int, JsonDict]:
        """Apply delays and faults, then run the method."""
        if name is None:
            return 404, dict(NOT_FOUND)
        delay = self.state.take_delay(name, params)
        if delay:
            await self._sleep(delay)
        try:
            fault = self.state.take_fault(name, params)
            if fault is not None:
                raise fault
            if name == "getUpdates":
                result: Any = await self._get_updates(params, gone)
            else:
                result = self.state.call(name, params, uploads)
        except ApiError as error:
            return error.code, error.payload()
        except Exception as exc:
            log.exception("sandbox bug while serving %s", name)
            return 500, {
                "ok": False,
                "error_code": 500,
                "description": f"Internal Server Error: {exc!r}",
            }
        return 200, {"ok": True, "result": result}

    async def _get_updates(self, params: JsonDict, gone: Callable[[], bool]) -> list[JsonDict]:
        """Long poll: answer as soon as updates are pending, or [] after `timeout` seconds."""
        if self.state.webhook is not None:
            raise ApiError(409, WEBHOOK_ACTIVE)
        offset = params.get("offset")
        offset = _as_int(offset, 0) if offset is not None else None
        limit = min(max(_as_int(params.get("limit"), 100), 1), 100)
        allowed = params.get("allowed_updates")
        allowed = allowed if isinstance(allowed, list) else None
        deadline = time.monotonic() + max(_as_float(params.get("timeout"), 0.0), 0.0)
        self._poll_generation += 1
        generation = self._poll_generation
        self.poke()
        while True:
            if self.state.webhook is not None:
                raise ApiError(409, TERMINATED_BY_WEBHOOK)
            if generation != self._poll_generation:
                raise ApiError(409, TERMINATED_BY_POLL)
            if gone() or self._stopping.is_set():
                return []
            updates = self.state.take_updates(offset, limit, allowed)
            remaining = deadline - time.monotonic()
            if updates or remaining <= 0:
                return updates
            await self._pulse.wait(remaining)

    async def _sleep(self, seconds: float) -> None:
        """Sleep, cut short when the sandbox stops."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)

    # ----------------------------------------------------------------- webhook

    async def _push_loop(self) -> None:
        """POST queued updates to the webhook one at a time, in order, retrying failures."""
        failures = 0
        while not self._stopping.is_set():
            webhook = self.state.webhook
            update = self.state.next_webhook_update()
            if webhook is None or update is None or failures >= self.webhook_max_attempts:
                await self._pulse.wait(None)
                failures = 0
                continue
            error = await self._post_update(webhook.url, webhook.secret, update)
            self.state.webhook_delivered(update["update_id"], error, time.monotonic())
            if error is None:
                failures = 0
            else:
                failures += 1
                await self._sleep(self.webhook_retry_delay)

    async def _post_update(self, url: str, secret: str | None, update: JsonDict) -> str | None:
        """POST one update; None on a 2xx answer, else Telegram's error text."""
        assert self._client is not None
        headers = {"Content-Type": "application/json"}
        if secret is not None:
            headers[SECRET_HEADER] = secret
        try:
            response = await self._client.post(url, content=json.dumps(update), headers=headers)
        except httpx.HTTPError as exc:
            return f"Connection failed: {exc!r}"
        if 200 <= response.status_code < 300:
            return None
        return f"Wrong response from the webhook: {response.status_code} {response.reason_phrase}"

    @property
    def webhook_url(self) -> str | None:
        """The URL set by setWebhook, if any."""
        return self.state.webhook.url if self.state.webhook else None

    @property
    def webhook_secret(self) -> str | None:
        """The secret_token set by setWebhook, if any."""
        return self.state.webhook.secret if self.state.webhook else None

    # ----------------------------------------------------------------- the user side

    def add_user(self, user_id: int, first_name: str = "User", username: str | None = None) -> None:
        """A person with a private chat (chat id == user id); idempotent."""
        self.state.add_user(user_id, first_name, username)

    def send_text(self, user_id: int, text: str) -> int:
        """The user sends a text message; returns the update_id."""
        return self.state.send_text(user_id, text)

    def tap(
        self,
        user_id: int,
        message_id: int,
        *,
        data: str | None = None,
        button_text: str | None = None,
        forge: bool = False,
    ) -> str:
        """The user presses an inline button (forge=True sends any data); returns the query id."""
        return self.state.tap(user_id, message_id, data, button_text, forge)

    def enqueue_update(self, update: dict[str, Any]) -> int:
        """Queue a hand-made update (update_id assigned if missing); returns its id."""
        return self.state.enqueue_raw(update)

    def redeliver(self, update_id: int) -> None:
        """Deliver an already delivered update again, with the same update_id."""
        self.state.redeliver(update_id)

    def block(self, user_id: int) -> None:
        """The user blocks the bot: sends and edits to their chat get 403."""
        self.state.user(user_id).blocked = True

    def deactivate(self, user_id: int) -> None:
        """The user deletes their account: sends and edits get 403 "user is deactivated"."""
        self.state.user(user_id).deactivated = True

    def unblock(self, user_id: int) -> None:
        """The user unblocks the bot (and is active again)."""
        user = self.state.user(user_id)
        user.blocked = user.deactivated = False

    # ----------------------------------------------------------------- what the bot did

    @property
    def calls(self) -> list[RecordedCall]:
        """Every request answered, in the order answered."""
        return self.state.calls

    def calls_to(self, method: str) -> list[RecordedCall]:
        """The recorded requests to one method (case-insensitive)."""
        return [call for call in self.state.calls if call.method.lower() == method.lower()]

    def chat(self, chat_id: int) -> list[dict[str, Any]]:
        """The bot's live messages in a chat, edits applied, in order."""
        return self.state.bot_messages(chat_id)

    def last_message(self, chat_id: int) -> dict[str, Any] | None:
        """The bot's latest live message in a chat."""
        messages = self.state.bot_messages(chat_id)
        return messages[-1] if messages else None

    def reply_keyboard(self, chat_id: int) -> dict[str, Any] | None:
        """The reply keyboard the bot currently shows in a chat, if any."""
        chat = self.state.chats.get(chat_id)
        return chat.reply_keyboard if chat else None

    def callback_answer(self, query_id: str) -> dict[str, Any] | None:
        """How the bot answered a callback query (text, show_alert, url), if it did."""
        return self.state.query_answers.get(query_id)

    def file_content(self, file_id: str) -> bytes | None:
        """The bytes the bot uploaded under a file_id."""
        stored = self.state.files.get(file_id)
        return stored.data if stored else None

    async def wait_for_message(
        self,
        chat_id: int,
        contains: str | None = None,
        *,
        timeout: float = 5.0,  # noqa: ASYNC109 - part of the public API
        after: int = 0,
    ) -> dict[str, Any]:
        """The first bot message after `after` containing `contains`, waiting up to `timeout`."""
        found = await self._wait_until(
            lambda: self.state.find_message(chat_id, contains, after), timeout
        )
        if found is None:
            raise TimeoutError(
                f"no bot message containing {contains!r} (after #{after}) in chat {chat_id}"
                f" within {timeout}s; the chat holds:\n{self.state.describe_chat(chat_id)}"
            )
        return found

    async def wait_for_call(
        self,
        method: str,
        predicate: Callable[[RecordedCall], bool] | None = None,
        *,
        timeout: float = 5.0,  # noqa: ASYNC109 - part of the public API
    ) -> RecordedCall:
        """The first recorded call to `method` matching `predicate`, waiting up to `timeout`."""

        def probe() -> RecordedCall | None:
            calls = self.calls_to(method)
            return next((c for c in calls if predicate is None or predicate(c)), None)

        found = await self._wait_until(probe, timeout)
        if found is None:
            seen = ", ".join(f"{c.method}={c.status}" for c in self.calls[-20:]) or "none"
            raise TimeoutError(f"no matching {method} call within {timeout}s; last calls: {seen}")
        return found

    async def _wait_until(self, probe: Callable[[], T | None], seconds: float) -> T | None:
        """Re-run `probe` on every change until it returns something or time runs out."""
        deadline = time.monotonic() + seconds
        while True:
            found = probe()
            remaining = deadline - time.monotonic()
            if found is not None or remaining <= 0:
                return found
            await self._pulse.wait(remaining)

    # ----------------------------------------------------------------- faults

    def fail_next(
        self,
        method: str,
        *,
        status: int,
        times: int = 1,
        retry_after: int | None = None,
        description: str | None = None,
        chat_id: int | None = None,
    ) -> None:
        """Answer the next `times` matching requests with an error instead."""
        self.state.faults.append(Fault(method, status, times, retry_after, description, chat_id))

    def delay_next(
        self, method: str, seconds: float, *, times: int = 1, chat_id: int | None = None
    ) -> None:
        """Sleep `seconds` before handling the next `times` requests to a method (to a chat)."""
        self.state.delays.append(Delay(method, seconds, times, chat_id))

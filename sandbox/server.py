"""The Bot API sandbox server: lifecycle, serving calls, long polling and webhook pushes.

The tornado handlers live in `sandbox.http_handlers`, request decoding in
`sandbox.request_parsing`, and the test-facing API in `sandbox.scripting`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any

import httpx
import tornado.httpserver
import tornado.netutil
import tornado.web

from sandbox.constants import (
    TERMINATED_BY_POLL,
    TERMINATED_BY_WEBHOOK,
    WEBHOOK_ACTIVE,
    JsonDict,
)
from sandbox.http_handlers import NOT_FOUND, ApiHandler, NotFoundHandler
from sandbox.objects import ApiError, Held, RecordedCall, Upload
from sandbox.pulse import Pulse
from sandbox.request_parsing import as_float, as_int
from sandbox.scripting import ScriptingMixin
from sandbox.state import SandboxState

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


def _quiet_log(handler: tornado.web.RequestHandler) -> None:
    """Access log at DEBUG level."""
    request = handler.request
    log.debug("sandbox %s %s -> %s", request.method, request.path, handler.get_status())


class BotApiSandbox(ScriptingMixin):
    """A local Telegram Bot API server with a scriptable user side, for tests and demos."""

    def __init__(
        self, *, host: str = "127.0.0.1", port: int = 0, bot_username: str = "aftercare_test_bot"
    ) -> None:
        self.host = host
        self.port = port
        self.bot_username = bot_username
        self.webhook_retry_delay = 0.2  # first wait after a failed POST; doubles up to the max
        self.webhook_max_retry_delay = 2.0
        self.webhook_max_attempts = 50  # then Telegram stops trying until something changes
        self._pulse = Pulse()
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
            [(r"/bot([^/]+)/([A-Za-z0-9_]+)/?", ApiHandler, {"sandbox": self})],
            default_handler_class=NotFoundHandler,
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
        if delay is not None and delay.held is not None:
            await self._hold(delay.held)
        elif delay is not None and delay.seconds > 0:
            await self._sleep(delay.seconds)
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
        offset = as_int(offset, 0) if offset is not None else None
        limit = min(max(as_int(params.get("limit"), 100), 1), 100)
        allowed = params.get("allowed_updates")
        allowed = allowed if isinstance(allowed, list) else None
        deadline = time.monotonic() + max(as_float(params.get("timeout"), 0.0), 0.0)
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

    async def _hold(self, held: Held) -> None:
        """Say the request has arrived; wait until it is released, or the sandbox stops."""
        held.arrived.set()
        waits = [
            asyncio.ensure_future(held.released.wait()),
            asyncio.ensure_future(self._stopping.wait()),
        ]
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for wait in waits:
                wait.cancel()

    # ----------------------------------------------------------------- webhook

    async def _push_loop(self) -> None:
        """POST queued updates to the webhook one at a time, in order, retrying failures with a
        growing wait (as Telegram does: a failing update holds back the ones after it)."""
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
                wait = self.webhook_retry_delay * 2 ** min(failures - 1, 16)
                await self._sleep(min(wait, self.webhook_max_retry_delay))

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

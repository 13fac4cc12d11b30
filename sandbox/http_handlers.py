"""The sandbox's tornado request handlers: `/bot{token}/{method}` and Telegram's 404."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from typing import Protocol

import tornado.web
from tornado.iostream import StreamClosedError

from sandbox.constants import JsonDict
from sandbox.objects import ApiError, Upload
from sandbox.request_parsing import parse_request

NOT_FOUND: JsonDict = {"ok": False, "error_code": 404, "description": "Not Found"}


class RequestServer(Protocol):
    """What the handlers need of the sandbox (BotApiSandbox)."""

    async def handle_request(
        self,
        token: str,
        method: str,
        params: JsonDict,
        uploads: dict[str, Upload] | None,
        *,
        gone: Callable[[], bool],
    ) -> tuple[int, JsonDict]:
        """Serve one Bot API call and record it; returns (HTTP status, JSON body)."""
        ...

    def poke(self) -> None:
        """Wake everything waiting on sandbox state."""
        ...


class ApiHandler(tornado.web.RequestHandler):
    """`/bot{token}/{method}` by GET or POST."""

    def initialize(self, sandbox: RequestServer) -> None:
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


class NotFoundHandler(tornado.web.RequestHandler):
    """Any other path: Telegram's 404."""

    def prepare(self) -> None:
        """Answer 404 whatever the HTTP method."""
        self.set_status(404)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(NOT_FOUND))

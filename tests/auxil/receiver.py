"""A real local HTTP receiver for outbound events: records every request, answers as scripted.

    async with Receiver([429, 503, 202]) as receiver:   # then 202 for everything after
        ... post to receiver.url + "/v2/enqueue" ...
        receiver.requests[0].json()

A scripted answer is a status, or a (status, headers) pair (e.g. (429, {"Retry-After": "30"}));
`delay` holds every answer back that long (for timeouts).
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from aiohttp import web

Answer = int | tuple[int, dict[str, str]]


@dataclass(frozen=True)
class Received:
    """One request as it arrived: its path, headers and raw body."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    def header(self, name: str) -> str | None:
        wanted = name.lower()
        return next((v for k, v in self.headers.items() if k.lower() == wanted), None)


class Receiver:
    """An aiohttp server on 127.0.0.1 and a free port."""

    def __init__(
        self, script: Iterable[Answer] = (), *, default: int = 202, delay: float = 0.0
    ) -> None:
        self.script: list[Answer] = list(script)
        self.default = default
        self.delay = delay
        self.requests: list[Received] = []
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def answer(self, *answers: Answer) -> None:
        """Script further answers (after those not yet given)."""
        self.script.extend(answers)

    def on(self, path: str) -> list[Received]:
        return [r for r in self.requests if r.path == path]

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.requests.append(Received(request.method, request.path, dict(request.headers), body))
        answer = self.script.pop(0) if self.script else self.default
        status, headers = answer if isinstance(answer, tuple) else (answer, {})
        if self.delay:
            await asyncio.sleep(self.delay)
        reply = {"status": "success" if status < 300 else "error", "message": f"scripted {status}"}
        return web.json_response(reply, status=status, headers=headers)

    async def __aenter__(self) -> Receiver:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))  # a free port, known before the server starts
        self.port = int(sock.getsockname()[1])
        await web.SockSite(self._runner, sock).start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

"""What the console refuses before it does any work: bodies over their route's limit, and
too many secret-link lookups from one address.

`BodyLimit` (ASGI middleware) bounds every request body while it streams, before any parsing:
a declared Content-Length over the route's limit, or a chunked body that grows past it, ends
the request with 413 at the first read past the limit (the route's form parser never sees more
than the limit). Routes that never read a body read nothing.

`lookup_allowed` counts a sign-in or acknowledge link lookup against the client's address
(`bot.domain.throttle`); past the limit the route answers 429 with Retry-After before touching
the database. Which address counts: the peer's, or the one a trusted reverse proxy names
(`AFTERCARE_TRUST_FORWARDED`, applied by uvicorn). The count is per instance.
"""

from __future__ import annotations

import logging
import re

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bot.domain.throttle import Throttle
from bot.i18n import C_, use_language

log = logging.getLogger(__name__)

KIB = 1024
DEFAULT_BODY_LIMIT = 64 * KIB  # every console form (the settings form is ~10 KiB)
BODY_LIMITS = (  # route (within /console) → its limit; the first match wins
    (re.compile(r"^/(signin|ack)/"), 4 * KIB),  # one hidden field and a level
    (re.compile(r"^/roster/rotation$"), 128 * KIB),  # up to 540 fields of a few bytes
)
LOOKUPS_PER_WINDOW = 30  # sign-in and acknowledge link lookups per address
LOOKUP_WINDOW_SECONDS = 60.0
TOKEN_PATH = re.compile(r"/(signin|ack)/[^/?#\s]+")


def redact_path(path: str) -> str:
    """A path fit for a log line: a sign-in or acknowledge token replaced by `<token>`."""
    return TOKEN_PATH.sub(lambda m: f"/{m.group(1)}/<token>", path)


def body_limit(route_path: str) -> int:
    for pattern, limit in BODY_LIMITS:
        if pattern.search(route_path):
            return limit
    return DEFAULT_BODY_LIMIT


class BodyTooLarge(HTTPException):
    def __init__(self, limit: int) -> None:
        super().__init__(
            413,
            C_("That request is too large (over {size} KiB). Nothing was changed.").format(
                size=limit // KIB
            ),
        )


class BodyLimit:
    """Bounds each request's body by its route's limit while it streams (see the module)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path, root = scope.get("path", ""), scope.get("root_path", "")
        route_path = path[len(root) :] if root and path.startswith(root) else path
        limit = body_limit(route_path)
        declared = _declared_length(scope)
        received = 0

        async def bounded() -> Message:
            nonlocal received
            if declared is not None and declared > limit:
                raise BodyTooLarge(limit)
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        await self.app(scope, bounded, send)


def _declared_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            digits = value.decode("latin-1").strip()
            return int(digits) if digits.isascii() and digits.isdigit() else None
    return None


class TooManyLookups(Exception):
    """Too many link lookups from this address: 429 with Retry-After."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(retry_after)
        self.retry_after = retry_after


def lookup_allowed(request: Request, throttle: Throttle, what: str, *, now: float) -> None:
    """Count one sign-in or acknowledge link lookup by the client's address at `now` (the
    clock's seconds); TooManyLookups past the limit (logged once per window per address,
    never with the token)."""
    address = request.client.host if request.client is not None else "unknown"
    verdict = throttle.check(address, now)
    if verdict.allowed:
        return
    if verdict.first:
        log.warning(
            "console.lookups_limited what=%s address=%s limit=%d per %ds",
            what,
            address,
            throttle.limit,
            int(throttle.window),
        )
    raise TooManyLookups(verdict.retry_after)


def lookup_throttle() -> Throttle:
    return Throttle(limit=LOOKUPS_PER_WINDOW, window=LOOKUP_WINDOW_SECONDS)


class InLanguage:
    """Runs each request in the console's language (`_()` and `{% trans %}` in templates and
    `C_()` in routes read it from `bot.i18n.use_language`'s context variable)."""

    def __init__(self, app: ASGIApp, language: str) -> None:
        self.app, self.language = app, language

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        with use_language(self.language):
            await self.app(scope, receive, send)

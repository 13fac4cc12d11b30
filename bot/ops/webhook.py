"""Telegram's webhook: `POST {webhook_path}`, checked against the secret token Telegram was
given in setWebhook. An update is answered 200 only once the intake has stored it
(`bot.intake.receive`); while it cannot be, 503, and Telegram delivers it again.
"""

from __future__ import annotations

import hmac
import json
import logging
from typing import Any, Protocol

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from telegram import Update

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
MAX_BODY_BYTES = 1024 * 1024  # an update is a few KB; Telegram caps a message at 4096 chars


class Receiver(Protocol):
    """What takes a webhook's update (`bot.intake.receive.Intake`)."""

    async def receive(self, update: Update, data: dict[str, Any]) -> bool: ...


class BodyTooLarge(Exception):
    pass


async def read_body(request: Request, limit: int = MAX_BODY_BYTES) -> bytes:
    """The request body, refused past `limit` bytes without reading the rest."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > limit:
            raise BodyTooLarge
    return bytes(body)


def webhook_route(path: str, *, bot: Any, receiver: Receiver, secret: str) -> Route:
    """The webhook endpoint: 403 without the right secret, 400 if not an update, 413 if huge,
    200 once it is stored, 503 while it cannot be (Telegram tries again)."""
    expected = secret.encode("utf-8")

    async def post(request: Request) -> Response:
        supplied = request.headers.get(SECRET_HEADER, "").encode("utf-8", "replace")
        if not hmac.compare_digest(supplied, expected):
            # Not from Telegram: the body is not even looked at.
            log.warning(
                "webhook.forbidden remote=%s", request.client.host if request.client else ""
            )
            return PlainTextResponse("Forbidden", status_code=403)
        try:
            data = json.loads(await read_body(request))
            if not isinstance(data, dict):
                raise ValueError("not a JSON object")
            update = Update.de_json(data, bot)
            if update is None:
                raise ValueError("empty update")
        except BodyTooLarge:
            log.warning("webhook.too_large")
            return PlainTextResponse("Payload Too Large", status_code=413)
        except Exception as exc:  # malformed JSON or not an update
            log.warning("webhook.bad_request error=%s", type(exc).__name__)
            return PlainTextResponse("Bad Request", status_code=400)
        if await receiver.receive(update, data):
            return PlainTextResponse("OK")
        return PlainTextResponse(
            "Service Unavailable: not stored, please deliver again",
            status_code=503,
            headers={"Retry-After": "1"},
        )

    return Route(path, post, methods=["POST"], name="telegram_webhook")

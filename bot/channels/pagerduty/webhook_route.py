"""PagerDuty's webhooks (v3): `POST /pagerduty/webhook`, acknowledgements flowing back.

Each delivery is signed (`X-PagerDuty-Signature: v1=<hex>[,v1=<hex>…]`, one HMAC-SHA256 of the
raw body per signing secret while a secret is rotated; PagerDuty developer docs, "Verifying
Signatures") and carries `X-Webhook-Id`, the same on every retry ("Webhooks Behavior",
At-Least-Once Delivery). PagerDuty wants a 2xx within 5 s, retries on 5xx and timeouts, and
drops a delivery answered 4xx.

Unsigned or badly signed: 401, the body is not looked at; the secret unset: 503 (PagerDuty
tries again once it is set); not JSON or not a v3 event: 400; over 1 MB: 413. A signed event
we do not act on, or about an incident that is not one of our cases: 200 "ignored". The
receipt of the event and the case's change commit together (`services/paging/inbound`, through
`take_case` as every front end takes a case). A redelivery, or a replay of a signed body under
another `X-Webhook-Id` (that header is not signed, so the receipt is kept by the body's
`event.id`), is answered 200 "duplicate" and changes nothing; an event without a readable
`event.id` or `occurred_at` is answered 200 "ignored" (PagerDuty does not retry it), logged, and
changes nothing. The Telegram pages of the case are updated after the answer has gone, so the
answer never waits on them.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from collections.abc import Awaitable

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from telegram import Bot

from bot.context import AppContext
from bot.messaging.taking import run_all, take_case
from bot.ops.webhook import BodyTooLarge, read_body
from bot.services.case_taking import TakeRequest
from bot.services.paging.inbound import Handled, Outcome, admit, handled, read_event

log = logging.getLogger(__name__)

PATH = "/pagerduty/webhook"
SIGNATURE_HEADER = "X-PagerDuty-Signature"
WEBHOOK_ID_HEADER = "X-Webhook-Id"
MAX_WEBHOOK_ID = 128  # `webhook_receipt.webhook_id`
MAX_BODY_BYTES = 1024 * 1024  # PagerDuty drops any webhook over 256 KB itself


def signed(body: bytes, header: str, secret: bytes) -> bool:
    """Whether any `v1=` signature in the header is the body's HMAC-SHA256 under `secret`,
    compared in constant time."""
    expected = b"v1=" + hmac.new(secret, body, hashlib.sha256).hexdigest().encode("ascii")
    supplied = [part.strip().encode("utf-8", "replace") for part in header.split(",")]
    matches = [hmac.compare_digest(expected, part) for part in supplied if part.startswith(b"v1=")]
    return any(matches)


def pagerduty_route(ctx: AppContext, bot: Bot) -> Route:
    """The PagerDuty webhook endpoint at PATH (it refuses everything while no secret is set)."""

    async def post(request: Request) -> Response:
        remote = request.client.host if request.client else ""

        def refuse(status: int, reason: str, text: str) -> Response:
            # Never the body: only why, and where from.
            log.warning("pagerduty.refused status=%d reason=%s remote=%s", status, reason, remote)
            return PlainTextResponse(text, status_code=status)

        secret = ctx.settings.pagerduty_webhook_secret
        if secret is None:
            return refuse(503, "no_secret_configured", "Service Unavailable: not configured")
        header = request.headers.get(SIGNATURE_HEADER, "")
        if not header.strip():
            return refuse(401, "unsigned", "Unauthorized")
        try:
            body = await read_body(request, MAX_BODY_BYTES)
        except BodyTooLarge:
            return refuse(413, "too_large", "Payload Too Large")
        if not signed(body, header, secret.get_secret_value().encode("utf-8")):
            return refuse(401, "bad_signature", "Unauthorized")
        webhook_id = request.headers.get(WEBHOOK_ID_HEADER, "").strip()
        if not webhook_id or len(webhook_id) > MAX_WEBHOOK_ID or not webhook_id.isprintable():
            return refuse(400, "no_webhook_id", "Bad Request: X-Webhook-Id")
        try:
            event = read_event(json.loads(body))
        except (ValueError, RecursionError) as exc:  # not JSON or UTF-8, not a v3 event
            return refuse(400, f"malformed:{type(exc).__name__}", "Bad Request")
        now, later = ctx.clock.now(), list[Awaitable[None]]()

        async def admit_event(session: AsyncSession) -> TakeRequest | Handled:
            return await admit(session, event=event, webhook_id=webhook_id, now=now)

        try:
            result = await take_case(ctx, bot, admit_event, defer=later.append)
        except Exception:
            log.exception("pagerduty.failed webhook=%r", webhook_id)
            return PlainTextResponse(
                "Service Unavailable: please deliver again",
                status_code=503,
                headers={"Retry-After": "5"},
            )
        if isinstance(result, Handled) and result.outcome is Outcome.IGNORED:
            done = result
            quiet = done.reason == "not acted on"
            (log.info if quiet else log.warning)(
                "pagerduty.ignored reason=%r event_type=%r case=%s webhook=%r remote=%s",
                done.reason,
                event.event_type[:64],
                done.case_id,
                webhook_id,
                remote,
            )
            return PlainTextResponse("ignored")
        done = result if isinstance(result, Handled) else handled(result)
        log.info(
            "pagerduty.%s event_type=%s case=%s webhook=%r",
            done.outcome,
            event.event_type,
            done.case_id,
            webhook_id,
        )
        # Re-opened: the pager's next tick pages its first rung and marks the older pages.
        # Taken: the pages are told after the answer has gone.
        background = BackgroundTask(run_all, later) if later else None
        return PlainTextResponse(str(done.outcome), background=background)

    return Route(PATH, post, methods=["POST"], name="pagerduty_webhook")

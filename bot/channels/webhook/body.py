"""The clinic's own webhook: the event's JSON body and its signature. Pure.

`X-Aftercare-Signature: sha256=<hex HMAC-SHA256 of the raw body>` with
AFTERCARE_PAGE_WEBHOOK_SECRET; `X-Aftercare-Event-Id` (the outbox's) lets a receiver drop a
repeat. Never the patient's words: the summary only.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from bot.channels.event_format import FollowUpFacts, TriggerFacts, action_of
from bot.channels.pagerduty.body import dedup_key

SIGNATURE_HEADER = "X-Aftercare-Signature"


def webhook_body(
    *,
    action: str,
    case_id: int,
    level: str,
    reference: str,
    text: str,
    ack_url: str | None,
) -> dict[str, Any]:
    """The clinic's webhook event: what happened to which case, the page's text, and the link
    that acknowledges it (a trigger's; None for the rest)."""
    return {
        "event": f"case.{action_of(action)}",
        "action": action,
        "case_id": case_id,
        "dedup_key": dedup_key(case_id),
        "level": str(level),
        "reference": reference,
        "text": text,
        "ack_url": ack_url,
    }


def signature(body: bytes, secret: str) -> str:
    """`X-Aftercare-Signature`: "sha256=" and the hex HMAC-SHA256 of the raw body sent."""
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def signature_matches(body: bytes, secret: str, header: str | None) -> bool:
    """For a receiver: whether `header` signs `body` with `secret` (constant-time)."""
    return header is not None and hmac.compare_digest(signature(body, secret), header)


def trigger(facts: TriggerFacts) -> tuple[str, str | None, dict[str, Any]] | None:
    """The trigger for the clinic's webhook; None when the clinic has none."""
    url = facts.paging.webhook_url
    if not url:
        return None
    body = webhook_body(
        action="trigger",
        case_id=facts.case_id,
        level=facts.level,
        reference=facts.reference,
        text=facts.text,
        ack_url=facts.ack_url,
    )
    return url, None, body


def follow_up(facts: FollowUpFacts) -> dict[str, Any]:
    """The acknowledge or resolve event after a trigger (same reference)."""
    done = "acknowledged" if facts.action == "acknowledge" else "resolved"
    return webhook_body(
        action=facts.action,
        case_id=facts.case_id,
        level=facts.level,
        reference=str(facts.trigger_body.get("reference", "")),
        text=f"Case #{facts.case_id} was {done}.",
        ack_url=None,
    )


def headers(*, event_id: int, body: bytes, secret: str | None) -> dict[str, str]:
    """The signature over the exact bytes sent, when the secret is set."""
    return {SIGNATURE_HEADER: signature(body, secret)} if secret is not None else {}

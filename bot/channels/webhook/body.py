"""The clinic's own webhook: the event's JSON body and its signature. Pure.

Every event names its clinic (`"clinic": "<clinic id>"`) and is signed like Stripe's and
Slack's webhooks: `X-Aftercare-Signature: t=<unix seconds>,v1=<hex>[,v1=<hex>…]`, each `v1`
the hex HMAC-SHA256 of `"<t>.<raw body>"` under one of the clinic's signing secrets (the whole
secret's UTF-8 bytes as the key). While a secret is being rotated out, the event carries one
`v1` per live secret, the newest first. The outbox computes `t` and the signatures at each
attempt over the stored body, so a retry carries a fresh `t`. A receiver checks it with
`signature_matches`: the body's clinic, `t` within `TOLERANCE_SECONDS` of its own clock, and
any `v1` equal to its own HMAC, compared in constant time. `X-Aftercare-Event-Id` (the
outbox's) lets a receiver drop a repeat. Never the patient's words: the summary only.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Sequence
from typing import Any

from bot.channels.event_format import FollowUpFacts, TriggerFacts, action_of
from bot.channels.pagerduty.body import dedup_key
from bot.i18n import C_

SIGNATURE_HEADER = "X-Aftercare-Signature"
SCHEME = "v1"
TOLERANCE_SECONDS = 300  # how far a receiver lets `t` stray from its own clock


def webhook_body(
    *,
    clinic_id: str,
    action: str,
    case_id: int,
    level: str,
    reference: str,
    text: str,
    ack_url: str | None,
) -> dict[str, Any]:
    """The clinic's webhook event: what happened to which case, the page's text, and the link
    that acknowledges it (a trigger's; None for the rest), and whose clinic it is."""
    return {
        "clinic": clinic_id,
        "event": f"case.{action_of(action)}",
        "action": action,
        "case_id": case_id,
        "dedup_key": dedup_key(case_id),
        "level": str(level),
        "reference": reference,
        "text": text,
        "ack_url": ack_url,
    }


def signed_payload(timestamp: int, body: bytes) -> bytes:
    """What a `v1` signature covers: the timestamp, a dot, and the raw body as sent."""
    return f"{timestamp}.".encode("ascii") + body


def signature(body: bytes, secret: str, *, timestamp: int) -> str:
    """One `v1`: the hex HMAC-SHA256 of `"<timestamp>.<body>"` keyed by the secret's UTF-8."""
    payload = signed_payload(timestamp, body)
    return hmac.new(secret.encode("utf-8"), payload, hashlib.sha256).hexdigest()


def signature_header(body: bytes, secrets: Sequence[str], *, timestamp: int) -> str:
    """`t=<timestamp>,v1=<hex>[,v1=<hex>…]`: one `v1` per secret, in the order given."""
    signatures = ",".join(f"{SCHEME}={signature(body, s, timestamp=timestamp)}" for s in secrets)
    return f"t={timestamp},{signatures}"


def parse_header(header: str) -> tuple[int | None, list[str]]:
    """The header's `t` (None if absent, repeated or not a number) and its `v1` signatures;
    unknown schemes are skipped, as a receiver must for signatures added later."""
    timestamps, signatures = [], []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t":
            timestamps.append(value)
        elif key == SCHEME and value:
            signatures.append(value)
    if len(timestamps) != 1 or not timestamps[0].isascii() or not timestamps[0].isdigit():
        return None, signatures
    if len(timestamps[0]) > 12:
        return None, signatures
    return int(timestamps[0]), signatures


def body_clinic(body: bytes) -> str | None:
    """The `clinic` a webhook body names; None when the body is not such JSON."""
    try:
        parsed = json.loads(body)
    except (ValueError, RecursionError):
        return None
    clinic = parsed.get("clinic") if isinstance(parsed, dict) else None
    return clinic if isinstance(clinic, str) else None


def signature_matches(
    body: bytes,
    secret: str,
    header: str | None,
    *,
    clinic_id: str | None = None,
    now: float | None = None,
    tolerance: int = TOLERANCE_SECONDS,
) -> bool:
    """For a receiver: whether `header` signs the raw `body` with `secret` (any of its `v1`,
    compared in constant time) at a `t` within `tolerance` seconds of `now` (default: this
    machine's clock) and, when `clinic_id` is given, whether the body is that clinic's."""
    if not header:
        return False
    timestamp, signatures = parse_header(header)
    if timestamp is None or not signatures:
        return False
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance:
        return False
    if clinic_id is not None and body_clinic(body) != clinic_id:
        return False
    expected = signature(body, secret, timestamp=timestamp).encode("ascii")
    found = [hmac.compare_digest(expected, s.encode("utf-8", "replace")) for s in signatures]
    return any(found)


def trigger(facts: TriggerFacts) -> tuple[str, str | None, dict[str, Any]] | None:
    """The trigger for the clinic's webhook; None when the clinic has none."""
    url = facts.paging.webhook_url
    if not url:
        return None
    body = webhook_body(
        clinic_id=facts.clinic_id,
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
    return webhook_body(
        clinic_id=facts.clinic_id,
        action=facts.action,
        case_id=facts.case_id,
        level=facts.level,
        reference=str(facts.trigger_body.get("reference", "")),
        text=(
            C_("Case #{id} was acknowledged.")
            if facts.action == "acknowledge"
            else C_("Case #{id} was resolved.")
        ).format(id=facts.case_id),
        ack_url=None,
    )


def headers(*, event_id: int, body: bytes, secrets: Sequence[str], at: int) -> dict[str, str]:
    """The signature over the exact bytes sent at `at` (unix seconds), one `v1` per secret;
    none without a secret (the outbox warns of it)."""
    return {SIGNATURE_HEADER: signature_header(body, secrets, timestamp=at)} if secrets else {}

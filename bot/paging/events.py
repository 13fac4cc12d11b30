"""The bodies of events for a paging service and for the clinic's own webhook, and their signature.

Pure: the caller gives the facts and stores the JSON (the outbox, `PageEvent.body`); sending it is
`bot.dispatch.page_events`. A paging service gets PagerDuty Events API v2 JSON (GoAlert and other
receivers speak it too), keyed by `dedup_key` so that its trigger, acknowledge and resolve are one
alert. Nothing here imports the rest of the bot, so the services may build bodies too.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

ACTIONS = ("trigger", "acknowledge", "resolve")
SEVERITIES = ("critical", "error", "warning", "info")
SUMMARY_LIMIT = 1024  # Events API v2: payload.summary is at most 1024 characters
SIGNATURE_HEADER = "X-Aftercare-Signature"
EVENT_ID_HEADER = "X-Aftercare-Event-Id"

_SEVERITY = {"imminent": "critical", "high": "critical", "moderate": "error", "low": "warning"}


KEY_PREFIX = "aftercare-case-"  # incidents carry it back in webhooks (services/paging/inbound)


def dedup_key(case_id: int) -> str:
    """One alert per case at the paging service: every event of the case carries this key."""
    return f"{KEY_PREFIX}{case_id}"


def severity_of(level: str) -> str:
    """The Events API severity of a case level (anything else: info)."""
    return _SEVERITY.get(str(level).lower(), "info")


def _action(action: str) -> str:
    if action not in ACTIONS:
        raise ValueError(f"unknown event action {action!r} (one of {', '.join(ACTIONS)})")
    return action


def _summary(summary: str) -> str:
    line = " ".join(summary.split()) or "Aftercare case"
    return line if len(line) <= SUMMARY_LIMIT else line[: SUMMARY_LIMIT - 1] + "…"


def pagerduty_body(
    *,
    action: str,
    routing_key: str,
    case_id: int,
    summary: str,
    severity: str,
    source: str,
    links: list[dict[str, str]] | None = None,
) -> dict[str, Any]:
    """An Events API v2 event. A trigger carries the payload (summary on one line, at most 1024
    characters) and its links; acknowledge and resolve only the routing and dedup keys."""
    if not routing_key:
        raise ValueError("an event needs a routing key")
    body: dict[str, Any] = {
        "routing_key": routing_key,
        "event_action": _action(action),
        "dedup_key": dedup_key(case_id),
    }
    if action != "trigger":
        return body
    if severity not in SEVERITIES:
        raise ValueError(f"unknown severity {severity!r} (one of {', '.join(SEVERITIES)})")
    body["payload"] = {"summary": _summary(summary), "source": source, "severity": severity}
    body["client"] = "Aftercare"
    if links:
        body["links"] = [{"href": link["href"], "text": link.get("text", "")} for link in links]
    return body


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
        "event": f"case.{_action(action)}",
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

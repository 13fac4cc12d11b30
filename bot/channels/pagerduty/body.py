"""PagerDuty Events API v2 bodies (GoAlert and other receivers speak it too). Pure.

Keyed by `dedup_key` so that a case's trigger, acknowledge and resolve are one alert. Nothing
here imports the rest of the bot, so the services may build bodies too (`services/paging/outbox`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bot.channels.event_format import FollowUpFacts, TriggerFacts, action_of, one_line
from bot.i18n import C_

SEVERITIES = ("critical", "error", "warning", "info")
SUMMARY_LIMIT = 1024  # Events API v2: payload.summary is at most 1024 characters
SOURCE = "aftercare"
KEY_PREFIX = "aftercare-case-"  # incidents carry it back in webhooks (services/paging/inbound)

_SEVERITY = {"imminent": "critical", "high": "critical", "moderate": "error", "low": "warning"}


def dedup_key(case_id: int) -> str:
    """One alert per case at the paging service: every event of the case carries this key."""
    return f"{KEY_PREFIX}{case_id}"


def severity_of(level: str) -> str:
    """The Events API severity of a case level (anything else: info)."""
    return _SEVERITY.get(str(level).lower(), "info")


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
        "event_action": action_of(action),
        "dedup_key": dedup_key(case_id),
    }
    if action != "trigger":
        return body
    if severity not in SEVERITIES:
        raise ValueError(f"unknown severity {severity!r} (one of {', '.join(SEVERITIES)})")
    payload = {"summary": one_line(summary, SUMMARY_LIMIT), "source": source, "severity": severity}
    body["payload"] = payload
    body["client"] = "Aftercare"
    if links:
        body["links"] = [{"href": link["href"], "text": link.get("text", "")} for link in links]
    return body


def trigger(facts: TriggerFacts) -> tuple[str, str | None, dict[str, Any]] | None:
    """A trigger for the clinic's paging service under the routing key; None without one.
    Never the patient's words: the summary only (level, case number, clinic)."""
    if not facts.routing_key:
        return None
    body = pagerduty_body(
        action="trigger",
        routing_key=facts.routing_key,
        case_id=facts.case_id,
        summary=facts.summary,
        severity=severity_of(facts.level),
        source=SOURCE,
        links=[{"href": facts.ack_url, "text": C_("Acknowledge")}] if facts.ack_url else None,
    )
    return facts.paging.events_url, facts.routing_key, body


def follow_up(facts: FollowUpFacts) -> dict[str, Any]:
    """The acknowledge or resolve that follows a trigger sent under its routing key."""
    assert facts.routing_key is not None
    return pagerduty_body(
        action=facts.action,
        routing_key=facts.routing_key,
        case_id=facts.case_id,
        summary="",
        severity="info",
        source=SOURCE,
    )


def headers(*, event_id: int, body: bytes, secrets: Sequence[str], at: int) -> dict[str, str]:
    """Headers beyond the outbox's own: none (the routing key is in the body)."""
    return {}

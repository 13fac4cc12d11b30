"""Page event bodies (Events API v2, the clinic's webhook) and the HTTP post
against a real local receiver."""

from __future__ import annotations

import json
import socket
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from bot.channels.outbox import post_json, retry_after
from bot.channels.pagerduty.body import dedup_key, pagerduty_body, severity_of
from bot.channels.webhook.body import webhook_body
from bot.messaging.delivery import Outcome
from tests.auxil.harness import LOCAL_OUTBOUND
from tests.auxil.receiver import Receiver


def test_dedup_key_is_stable_per_case() -> None:
    assert dedup_key(12) == "aftercare-case-12" == dedup_key(12)
    assert dedup_key(13) != dedup_key(12)


def test_severity_of_levels() -> None:
    assert severity_of("imminent") == "critical"
    assert severity_of("high") == "critical"
    assert severity_of("moderate") == "error"
    assert severity_of("low") == "warning"
    assert severity_of("none") == "info"


def test_trigger_body_is_events_v2() -> None:
    body = pagerduty_body(
        action="trigger",
        routing_key="R0UT1NG",
        case_id=7,
        summary="HIGH priority — case #7 (P-042)\nC-SSRS item 4",
        severity="critical",
        source="aftercare",
        links=[{"href": "https://console.example/ack/abc", "text": "Acknowledge"}],
    )
    assert body == {
        "routing_key": "R0UT1NG",
        "event_action": "trigger",
        "dedup_key": "aftercare-case-7",
        "payload": {
            "summary": "HIGH priority — case #7 (P-042) C-SSRS item 4",
            "source": "aftercare",
            "severity": "critical",
        },
        "client": "Aftercare",
        "links": [{"href": "https://console.example/ack/abc", "text": "Acknowledge"}],
    }
    json.dumps(body)  # plain JSON


def test_trigger_summary_is_cut_to_1024_characters() -> None:
    body = pagerduty_body(
        action="trigger",
        routing_key="k",
        case_id=1,
        summary="x" * 5000,
        severity="error",
        source="aftercare",
    )
    assert len(body["payload"]["summary"]) == 1024
    assert "links" not in body


@pytest.mark.parametrize("action", ["acknowledge", "resolve"])
def test_followup_body_has_only_the_keys(action: str) -> None:
    body = pagerduty_body(
        action=action, routing_key="k", case_id=3, summary="", severity="info", source="a"
    )
    assert body == {"routing_key": "k", "event_action": action, "dedup_key": "aftercare-case-3"}


def test_bad_action_severity_or_key_is_refused() -> None:
    args = {"case_id": 1, "summary": "s", "source": "a"}
    with pytest.raises(ValueError, match="action"):
        pagerduty_body(action="snooze", routing_key="k", severity="info", **args)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="severity"):
        pagerduty_body(action="trigger", routing_key="k", severity="high", **args)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="routing key"):
        pagerduty_body(action="trigger", routing_key="", severity="info", **args)  # type: ignore[arg-type]


def test_webhook_body() -> None:
    body = webhook_body(
        clinic_id="north",
        action="trigger",
        case_id=9,
        level="high",
        reference="P-042",
        text="HIGH priority",
        ack_url="https://console.example/ack/x",
    )
    assert body == {
        "clinic": "north",
        "event": "case.trigger",
        "action": "trigger",
        "case_id": 9,
        "dedup_key": "aftercare-case-9",
        "level": "high",
        "reference": "P-042",
        "text": "HIGH priority",
        "ack_url": "https://console.example/ack/x",
    }


def test_retry_after_reads_seconds_and_dates() -> None:
    now = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
    assert retry_after("30") == timedelta(seconds=30)
    assert retry_after(format_datetime(now + timedelta(seconds=90), usegmt=True), now=now) == (
        timedelta(seconds=90)
    )
    assert retry_after(None) is None
    assert retry_after("soon") is None


async def test_post_json_sends_the_raw_body_and_headers() -> None:
    raw = b'{"event_action":"trigger","dedup_key":"aftercare-case-1"}'
    async with Receiver([202]) as receiver:
        result = await post_json(
            f"{receiver.url}/v2/enqueue", raw, headers={"X-Test": "yes"}, outbound=LOCAL_OUTBOUND
        )
    assert result.outcome is Outcome.SENT and result.error is None
    [request] = receiver.requests
    assert (request.method, request.path, request.body) == ("POST", "/v2/enqueue", raw)
    assert request.header("Content-Type") == "application/json"
    assert request.header("X-Test") == "yes"


async def test_post_json_classifies_statuses() -> None:
    async with Receiver([(429, {"Retry-After": "7"}), 503, 400, 404]) as receiver:
        url = f"{receiver.url}/v2/enqueue"
        limited, unavailable, refused, missing = [
            await post_json(url, b"{}", headers={}, outbound=LOCAL_OUTBOUND) for _ in range(4)
        ]
    assert limited.outcome is Outcome.RETRY and limited.retry_after == timedelta(seconds=7)
    assert limited.error is not None and limited.error.startswith("HTTP 429")
    assert unavailable.outcome is Outcome.RETRY and unavailable.retry_after is None
    assert refused.outcome is Outcome.FAILED
    assert refused.error is not None and refused.error.startswith("HTTP 400 — ")
    assert "scripted 400" in refused.error  # what the receiver said, for the row
    assert missing.outcome is Outcome.FAILED
    assert len(receiver.requests) == 4


async def test_post_json_retries_on_timeout_and_refused_connection() -> None:
    async with Receiver([202], delay=1.0) as receiver:
        slow = await post_json(
            receiver.url, b"{}", headers={}, outbound=LOCAL_OUTBOUND, timeout=0.2
        )
    assert slow.outcome is Outcome.RETRY and "timed out" in (slow.error or "")
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    closed = await post_json(
        f"http://127.0.0.1:{port}/", b"{}", headers={}, outbound=LOCAL_OUTBOUND, timeout=2.0
    )
    assert closed.outcome is Outcome.RETRY and closed.error

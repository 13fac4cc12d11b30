"""Events for paging services and the clinic's webhook: queued with the page, recorded when sent.

The outbox: an event is a `PageEvent` row written in the transaction that pages its rung (or
takes or closes its case), so none is lost to a crash between the decision and the send. The
sender (`bot.dispatch.page_events`) claims due rows under a lease, posts them and hands each
outcome to `record_outcome`, which retries with the backoff it is given, up to its attempts,
and audits every final outcome. Statuses: pending -> sent | failed, changed only here.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.clinic_config import ClinicConfig
from bot.paging.events import pagerduty_body, severity_of, webhook_body
from storage import audit
from storage.cases import (
    add_page_event,
    get_case,
    get_page_event,
    page_events_of,
    page_triggered_since,
)
from storage.models import Case, Clinician, PageEvent
from storage.states import PAGER, Actor

PAGER_CHANNEL, WEBHOOK_CHANNEL = "pager", "webhook"
CHANNELS = (PAGER_CHANNEL, WEBHOOK_CHANNEL)
FOLLOW_UPS = ("acknowledge", "resolve")
PENDING, SENT, FAILED = "pending", "sent", "failed"
SOURCE = "aftercare"
ERROR_LIMIT = 500


log = logging.getLogger(__name__)


def routing_key_for(clinic: ClinicConfig, level: str, clinician: Clinician) -> str | None:
    """The clinician's own routing key, else the clinic's for the level, else the clinic's."""
    paging = clinic.paging
    by_level = {str(lvl): key for lvl, key in paging.routing_keys.items()}
    return clinician.pager_key or by_level.get(str(level)) or paging.routing_key or None


def _json(body: dict[str, Any]) -> str:
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"))


async def enqueue_trigger(
    session: AsyncSession,
    *,
    case: Case,
    clinic: ClinicConfig,
    channel: str,
    routing_key: str | None,
    summary: str,
    reference: str,
    text: str,
    ack_url: str | None,
    now: datetime,
) -> PageEvent | None:
    """Queue a trigger of `case` for a paging service (`channel` "pager", under `routing_key`)
    or the clinic's webhook ("webhook"); None when there is nowhere to send it, or when this
    target already has a trigger since the ladder (re)started and it has not failed for good
    (a later rung paging the same key adds nothing; a raised or re-opened case triggers again,
    and so does a rung after a trigger that could not be delivered)."""
    assert case.id is not None
    if channel == PAGER_CHANNEL:
        if not routing_key:
            return None
        url = clinic.paging.events_url
        body = pagerduty_body(
            action="trigger",
            routing_key=routing_key,
            case_id=case.id,
            summary=summary,
            severity=severity_of(case.level),
            source=SOURCE,
            links=[{"href": ack_url, "text": "Acknowledge"}] if ack_url else None,
        )
    elif channel == WEBHOOK_CHANNEL:
        if not clinic.paging.webhook_url:
            return None
        url, routing_key = clinic.paging.webhook_url, None
        body = webhook_body(
            action="trigger",
            case_id=case.id,
            level=case.level,
            reference=reference,
            text=text,
            ack_url=ack_url,
        )
    else:
        raise ValueError(f"unknown page event channel {channel!r}")
    if await page_triggered_since(
        session,
        case_id=case.id,
        channel=channel,
        url=url,
        routing_key=routing_key,
        since=case.ladder_started_at,
    ):
        return None
    event = PageEvent(
        case_id=case.id,
        channel=channel,
        action="trigger",
        url=url,
        routing_key=routing_key,
        body=_json(body),
        next_attempt_at=now,
        created_at=now,
    )
    return await add_page_event(session, event=event)


def _followup_body(case: Case, trigger: PageEvent, action: str) -> dict[str, Any]:
    assert case.id is not None
    if trigger.channel == PAGER_CHANNEL:
        assert trigger.routing_key is not None
        return pagerduty_body(
            action=action,
            routing_key=trigger.routing_key,
            case_id=case.id,
            summary="",
            severity="info",
            source=SOURCE,
        )
    sent: dict[str, Any] = json.loads(trigger.body)
    done = "acknowledged" if action == "acknowledge" else "resolved"
    return webhook_body(
        action=action,
        case_id=case.id,
        level=case.level,
        reference=str(sent.get("reference", "")),
        text=f"Case #{case.id} was {done}.",
        ack_url=None,
    )


async def enqueue_followups(
    session: AsyncSession, *, case: Case, action: str, now: datetime
) -> int:
    """Queue `action` ("acknowledge" or "resolve") for every target (channel, url, routing key)
    that has a trigger of this case not failed for good; returns how many were queued.

    Once per trigger: a target whose newest trigger already has this action after it gets no
    second one (nor an acknowledge once resolved); a case re-opened and triggered again may be
    acknowledged and resolved again. The sender keeps each target's events in order."""
    if action not in FOLLOW_UPS:
        raise ValueError(f"unknown follow-up {action!r} (one of {', '.join(FOLLOW_UPS)})")
    assert case.id is not None
    events = await page_events_of(session, case_id=case.id)
    latest: dict[tuple[str, str, str | None], PageEvent] = {}
    done: dict[tuple[str, str, str | None], set[str]] = {}
    for event in events:  # oldest first
        target = (event.channel, event.url, event.routing_key)
        if event.action == "trigger":
            if event.status != FAILED:
                latest[target], done[target] = event, set()
        elif target in done:
            done[target].add(event.action)
    queued = 0
    for target, trigger in latest.items():
        if action in done[target] or "resolve" in done[target]:
            continue
        event = PageEvent(
            case_id=case.id,
            channel=trigger.channel,
            action=action,
            url=trigger.url,
            routing_key=trigger.routing_key,
            body=_json(_followup_body(case, trigger, action)),
            next_attempt_at=now,
            created_at=now,
        )
        await add_page_event(session, event=event)
        queued += 1
    return queued


async def record_outcome(
    session: AsyncSession,
    *,
    event_id: int,
    outcome: str,
    error: str | None,
    retry_at: datetime | None,
    max_attempts: int,
    now: datetime,
    actor: Actor = PAGER,
) -> PageEvent | None:
    """Record one try of a claimed event and free its lease. `outcome` is "sent", "retry" (try
    again at `retry_at`, unless this was the last of `max_attempts`), "failed" (for good), or
    "not_sent" (never posted: free for the next claim, no try counted). A final outcome is
    audited (`page_event.sent` / `page_event.failed`, no patient text). Returns the row, or
    None if it is gone or already final (someone else recorded it)."""
    event = await get_page_event(session, event_id=event_id)
    if event is None or event.status != PENDING:
        return None
    event.lease_owner = event.lease_until = None
    if outcome == "not_sent":
        return event
    event.attempts += 1
    event.error = error[:ERROR_LIMIT] if error else None
    if outcome == "sent":
        event.status, event.sent_at = SENT, now
    elif outcome == "retry" and event.attempts < max_attempts:
        event.next_attempt_at = retry_at or now
        return event
    else:
        event.status = FAILED
    case = await get_case(session, case_id=event.case_id)
    await audit.append(
        session,
        at=now,
        actor=actor,
        event=f"page_event.{event.status}",
        clinic_id=case.clinic_id if case else None,
        patient_id=case.patient_id if case else None,
        case_id=event.case_id,
        detail={
            "id": event.id,
            "channel": event.channel,
            "action": event.action,
            "attempts": event.attempts,
            # the HTTP status (and transport error) only: never what a receiver echoed back
            "error": error.split(" — ", 1)[0][:200] if error else None,
        },
    )
    return event


async def enqueue_rung_triggers(
    session: AsyncSession,
    *,
    case: Case,
    clinic: ClinicConfig,
    channels: tuple[str, ...],
    recipients: tuple[Clinician, ...],
    now: datetime,
) -> tuple[int, ...]:
    """Queue the rung's paging-service events (one per routing key of its recipients, or the
    clinic's when Aftercare has nobody to page: the service has its own on-call) and the
    clinic's webhook event; the outbox keeps them until delivered. Both carry the summary
    (level, case number, clinic) only: never the patient's words."""
    assert case.id is not None
    summary = f"{case.level.upper()} priority: Aftercare case #{case.id}, {clinic.name}"
    wanted: list[tuple[str, str | None]] = []
    if "pager" in channels:
        keys = {routing_key_for(clinic, case.level, c) for c in recipients}
        if not recipients:
            by_level = {str(level): key for level, key in clinic.paging.routing_keys.items()}
            keys.add(by_level.get(str(case.level)) or clinic.paging.routing_key)
        wanted += [("pager", key) for key in sorted(k for k in keys if k)]
    if "pager" in channels and not wanted:
        log.info("page.channel_unavailable case=%s channel=pager: no routing key", case.id)
    if "webhook" in channels:
        wanted.append(("webhook", None))
        if clinic.paging.webhook_url is None:
            log.info("page.channel_unavailable case=%s channel=webhook: no URL", case.id)
    queued = []
    for channel, key in wanted:
        event = await enqueue_trigger(
            session,
            case=case,
            clinic=clinic,
            channel=channel,
            routing_key=key,
            summary=summary,
            reference=f"case #{case.id}",
            text=summary,  # a third party's: no patient words, names or quotes
            ack_url=None,
            now=now,
        )
        if event is not None and event.id is not None:
            queued.append(event.id)
    return tuple(queued)

"""The outbox of page events for paging services and the clinic's webhook: queued with the page,
recorded when sent.

An event is a `PageEvent` row written in the transaction that pages its rung (or takes or
closes its case), so none is lost to a crash between the decision and the send. The sender
(`bot/channels/outbox.py`) claims due rows under a lease, posts them and hands each outcome to
`record_outcome`, which retries with the backoff it is given, up to its attempts, and audits
every final outcome. Statuses: pending -> sent | failed, changed only here. What an event says
is its channel's (`bot/channels/outbox_formats.py`); nothing here knows one channel from another.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.channels.event_format import FollowUpFacts, TriggerFacts
from bot.channels.outbox_formats import OUTBOX_FORMATS
from bot.clinic_config import ClinicConfig
from bot.domain.channels import ChannelKind
from bot.domain.delivery import Outcome
from storage import audit
from storage.cases import (
    add_page_event,
    get_case,
    get_page_event,
    page_events_of,
    page_triggered_since,
)
from storage.models import Case, Clinician, PageEvent
from storage.states import PAGER, Actor, PageEventAction, PageEventStatus

FOLLOW_UPS = (PageEventAction.ACKNOWLEDGE, PageEventAction.RESOLVE)
ERROR_LIMIT = 500


log = logging.getLogger(__name__)


def routing_key_for(clinic: ClinicConfig, level: str, clinician: Clinician) -> str | None:
    """The clinician's own routing key, else the clinic's for the level, else the clinic's."""
    paging = clinic.paging
    by_level = {str(lvl): key for lvl, key in paging.routing_keys.items()}
    return clinician.pager_key or by_level.get(str(level)) or paging.routing_key or None


def clinic_routing_key(clinic: ClinicConfig, level: str) -> str | None:
    """The clinic's own key for a level (when Aftercare has nobody to page: the service has its
    own on-call)."""
    by_level = {str(lvl): key for lvl, key in clinic.paging.routing_keys.items()}
    return by_level.get(str(level)) or clinic.paging.routing_key or None


def _json(body: dict[str, Any]) -> str:
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"))


async def enqueue_trigger(
    session: AsyncSession,
    *,
    case: Case,
    clinic: ClinicConfig,
    channel: ChannelKind | str,
    routing_key: str | None,
    summary: str,
    reference: str,
    text: str,
    ack_url: str | None,
    now: datetime,
) -> PageEvent | None:
    """Queue a trigger of `case` on an outbox channel (a paging service under `routing_key`,
    the clinic's webhook); None when there is nowhere to send it, or when this target already
    has a trigger since the ladder (re)started and it has not failed for good (a later rung
    paging the same key adds nothing; a raised or re-opened case triggers again, and so does a
    rung after a trigger that could not be delivered)."""
    assert case.id is not None
    kind = ChannelKind(channel)
    if kind not in OUTBOX_FORMATS:
        raise ValueError(f"channel {kind} does not go through the outbox")
    made = OUTBOX_FORMATS[kind].trigger(
        TriggerFacts(
            paging=clinic.paging,
            clinic_id=case.clinic_id,
            routing_key=routing_key,
            case_id=case.id,
            level=str(case.level),
            summary=summary,
            reference=reference,
            text=text,
            ack_url=ack_url,
        )
    )
    if made is None:
        return None
    url, routing_key, body = made
    if await page_triggered_since(
        session,
        case_id=case.id,
        channel=kind,
        url=url,
        routing_key=routing_key,
        since=case.ladder_started_at,
    ):
        return None
    event = PageEvent(
        case_id=case.id,
        channel=kind,
        action=PageEventAction.TRIGGER,
        url=url,
        routing_key=routing_key,
        body=_json(body),
        next_attempt_at=now,
        created_at=now,
    )
    return await add_page_event(session, event=event)


def _followup_body(case: Case, trigger: PageEvent, action: str) -> dict[str, Any]:
    assert case.id is not None
    facts = FollowUpFacts(
        action=action,
        clinic_id=case.clinic_id,
        case_id=case.id,
        level=str(case.level),
        routing_key=trigger.routing_key,
        trigger_body=json.loads(trigger.body),
    )
    return OUTBOX_FORMATS[ChannelKind(trigger.channel)].follow_up(facts)


async def enqueue_followups(
    session: AsyncSession, *, case: Case, action: PageEventAction | str, now: datetime
) -> int:
    """Queue `action` ("acknowledge" or "resolve") for every target (channel, url, routing key)
    that has a trigger of this case not failed for good; returns how many were queued.

    Once per trigger: a target whose newest trigger already has this action after it gets no
    second one (nor an acknowledge once resolved); a case re-opened and triggered again may be
    acknowledged and resolved again. The sender keeps each target's events in order."""
    if action not in FOLLOW_UPS:
        raise ValueError(f"unknown follow-up {action!r} (one of {', '.join(FOLLOW_UPS)})")
    action = PageEventAction(action)
    assert case.id is not None
    events = await page_events_of(session, case_id=case.id)
    latest: dict[tuple[ChannelKind, str, str | None], PageEvent] = {}
    done: dict[tuple[ChannelKind, str, str | None], set[PageEventAction]] = {}
    for event in events:  # oldest first
        target = (event.channel, event.url, event.routing_key)
        if event.action is PageEventAction.TRIGGER:
            if event.status is not PageEventStatus.FAILED:
                latest[target], done[target] = event, set()
        elif target in done:
            done[target].add(event.action)
    queued = 0
    for target, trigger in latest.items():
        if action in done[target] or PageEventAction.RESOLVE in done[target]:
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
    outcome: Outcome,
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
    if event is None or event.status is not PageEventStatus.PENDING:
        return None
    event.lease_owner = event.lease_until = None
    if outcome is Outcome.NOT_SENT:
        return event
    event.attempts += 1
    event.error = error[:ERROR_LIMIT] if error else None
    if outcome is Outcome.SENT:
        event.status, event.sent_at = PageEventStatus.SENT, now
    elif outcome is Outcome.RETRY and event.attempts < max_attempts:
        event.next_attempt_at = retry_at or now
        return event
    else:
        event.status = PageEventStatus.FAILED
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

"""Acknowledgements flowing back from PagerDuty (webhooks v3): which case an incident is, who
acted, and what that does to the case. Plain values in and out; the HTTP side is
`bot/channels/pagerduty/webhook_route.py`.

A v3 webhook carries one event (PagerDuty developer docs, "Webhooks v3 Overview"):
`event.event_type`, `event.agent` (who acted: a `user_reference` with `summary`, the display
name, or `null`) and `event.data`, for incident events the incident with its `incident_key`:
the `dedup_key` of our trigger events, `aftercare-case-<id>` (`bot/channels/pagerduty/body.py`).

Replays: PagerDuty's signature covers the body, not the `X-Webhook-Id` header, so a captured
delivery can be sent again under a new webhook id. What counts is therefore in the body: an
event is handled once per `event.id` (its receipt is kept), and one about an earlier ladder of
its case (`event.occurred_at`) is ignored. An event without a readable `event.id` or
`occurred_at` cannot be told from a replay: it is ignored (answered, logged, nothing changed).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.channels.pagerduty.body import KEY_PREFIX
from bot.services.case_taking import (
    CaseAction,
    Taken,
    TakeOutcome,
    Taker,
    TakeRequest,
)
from bot.services.cases import unacknowledge
from storage.cases import get_case
from storage.inbox import record_webhook
from storage.invites import clinicians_of_clinic
from storage.models import Clinician

SOURCE = "pagerduty"  # the audit rows' "via"
MAX_NAME = 80
MAX_EVENT_ID = 100  # the receipt's key is "event:<id>", at most 128 characters


class Action(StrEnum):
    """The incident events that change a case."""

    ACKNOWLEDGED = "incident.acknowledged"
    UNACKNOWLEDGED = "incident.unacknowledged"
    RESOLVED = "incident.resolved"


# The other event types PagerDuty documents for v3 subscriptions ("Webhooks v3 Overview",
# Event Types): answered "ignored" quietly; any other type is ignored and logged as unknown.
KNOWN_EVENT_TYPES = frozenset(
    {
        "incident.annotated",
        "incident.delegated",
        "incident.escalated",
        "incident.priority_updated",
        "incident.reassigned",
        "incident.reopened",
        "incident.responder.added",
        "incident.responder.replied",
        "incident.status_update_published",
        "incident.triggered",
        "service.created",
        "service.deleted",
        "service.updated",
    }
    | {a.value for a in Action}
)


class Malformed(ValueError):
    """Not a v3 webhook payload."""


@dataclass(frozen=True)
class IncidentEvent:
    """What we read of one webhook: its event type, the incident's key, who acted."""

    event_type: str
    incident_key: str | None
    agent_name: str | None  # the agent's display name (`summary`), cleaned
    agent_email: str | None  # not in PagerDuty's documented `user_reference`; used if present
    occurred_at: datetime | None = None  # `event.occurred_at`, when it could be read
    event_id: str | None = None  # `event.id`, covered by the signature (unlike X-Webhook-Id)

    @property
    def receipt(self) -> str | None:
        """The key this event is handled once under; None when it has no readable id."""
        return f"event:{self.event_id}" if self.event_id else None


def read_event(payload: object) -> IncidentEvent:
    """The event of a parsed webhook body; Malformed if it has no `event.event_type`."""
    event = payload.get("event") if isinstance(payload, Mapping) else None
    if not isinstance(event, Mapping) or not isinstance(event.get("event_type"), str):
        raise Malformed("no event.event_type")
    data = event.get("data")
    agent = event.get("agent")
    key = data.get("incident_key") if isinstance(data, Mapping) else None
    return IncidentEvent(
        event_type=event["event_type"],
        incident_key=key if isinstance(key, str) else None,
        agent_name=_clean(agent.get("summary")) if isinstance(agent, Mapping) else None,
        agent_email=_clean(agent.get("email")) if isinstance(agent, Mapping) else None,
        occurred_at=_instant(event.get("occurred_at")),
        event_id=_event_id(event.get("id")),
    )


def _event_id(value: Any) -> str | None:
    if not isinstance(value, str) or not 0 < len(value) <= MAX_EVENT_ID:
        return None
    return value if value.isascii() and value.isprintable() and " " not in value else None


def _instant(value: Any) -> datetime | None:
    if not isinstance(value, str) or len(value) > 40:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def _clean(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    text = " ".join("".join(ch for ch in value if ch.isprintable()).split())[:MAX_NAME]
    return text or None


def case_id_of(incident_key: str | None) -> int | None:
    """Our case behind an incident key (`aftercare-case-<id>`), None for any other key."""
    if incident_key is None or not incident_key.startswith(KEY_PREFIX):
        return None
    number = incident_key.removeprefix(KEY_PREFIX)
    if not number.isascii() or not number.isdigit() or len(number) > 12:
        return None
    return int(number)


class Outcome(StrEnum):
    CHANGED = "changed"  # the case was acknowledged, re-opened or resolved
    UNCHANGED = "unchanged"  # ours, new, but the case was already in that state
    DUPLICATE = "duplicate"  # this webhook id was handled before: nothing changes
    IGNORED = "ignored"  # not an event we act on, or not one of our cases


@dataclass(frozen=True)
class Handled:
    outcome: Outcome
    reason: str  # one line for the log
    case_id: int | None = None
    action: Action | None = None
    clinician: Clinician | None = None
    who: str = "unknown"  # who acted, as people are told


async def admit(
    session: AsyncSession, *, event: IncidentEvent, webhook_id: str, now: datetime
) -> TakeRequest | Handled:
    """Apply one signed webhook in the caller's transaction (`take_case`'s): the receipt of its
    signed `event.id` and the case's change commit together, so a redelivery, or a replay under
    another `webhook_id` (kept for the log), finds the receipt and changes nothing. An event
    without a readable `event.id` or `occurred_at` is ignored before anything is recorded. An
    acknowledgement or resolution is a request to take the case; anything else is answered
    here (an "unacknowledged" re-opens the case, which is no taking)."""
    if event.event_type not in {a.value for a in Action}:
        known = event.event_type in KNOWN_EVENT_TYPES
        return Handled(Outcome.IGNORED, "not acted on" if known else "unknown event type")
    action = Action(event.event_type)
    case_id = case_id_of(event.incident_key)
    if case_id is None:
        return Handled(Outcome.IGNORED, "incident key not ours", action=action)
    case = await get_case(session, case_id=case_id)
    if case is None:
        return Handled(Outcome.IGNORED, "no such case", case_id, action)
    if event.receipt is None or event.occurred_at is None:
        # nothing signed tells this event from a replay of an earlier one
        missing = "event.id" if event.receipt is None else "event.occurred_at"
        return Handled(Outcome.IGNORED, f"no readable {missing}", case_id, action)
    if not await record_webhook(session, webhook_id=event.receipt, event_type=action, now=now):
        return Handled(Outcome.DUPLICATE, "already handled", case_id, action)
    if event.occurred_at < case.ladder_started_at:
        # about an earlier page of this case (it has been raised or re-opened since): the
        # current ladder stands
        return Handled(Outcome.IGNORED, "older than the case's current ladder", case_id, action)
    clinician = await _clinician(session, clinic_id=case.clinic_id, email=event.agent_email)
    who = clinician.name if clinician else event.agent_name or "unknown"
    if action is Action.UNACKNOWLEDGED:
        # only an acknowledgement made in PagerDuty is PagerDuty's to withdraw: a case a
        # clinician took in Telegram, the console or by e-mail stays taken
        changed = case.acknowledged_by is None and await unacknowledge(
            session, case_id=case_id, source=SOURCE, now=now
        )
        outcome = Outcome.CHANGED if changed else Outcome.UNCHANGED
        return Handled(outcome, action.value, case_id, action, clinician, who)
    return TakeRequest(
        case_id,
        CaseAction.ACKNOWLEDGE if action is Action.ACKNOWLEDGED else CaseAction.RESOLVE,
        Taker.service(SOURCE, clinician=clinician, name=who),
        note=f"Resolved in PagerDuty (by {who})",
    )


def handled(taken: Taken) -> Handled:
    """What a webhook that took (or tried to take) a case did."""
    action = Action.ACKNOWLEDGED if taken.action is CaseAction.ACKNOWLEDGE else Action.RESOLVED
    outcome = Outcome.CHANGED if taken.outcome is TakeOutcome.DONE else Outcome.UNCHANGED
    case_id = taken.case.id if taken.case is not None else None
    return Handled(outcome, action.value, case_id, action, taken.by)


async def _clinician(
    session: AsyncSession, *, clinic_id: str, email: str | None
) -> Clinician | None:
    """The case's clinic's active clinician with that e-mail address, if exactly one."""
    if not email:
        return None
    wanted = email.casefold()
    found = [
        c
        for c in await clinicians_of_clinic(session, clinic_id=clinic_id)
        if c.email and c.email.strip().casefold() == wanted
    ]
    return found[0] if len(found) == 1 else None

"""PagerDuty webhooks (v3) over real HTTP against the running bot: signed acknowledgements stop
re-paging and update the Telegram pages, a replay changes nothing, an unacknowledgement pages
again, a resolution closes the case with a note naming PagerDuty, and anything unsigned,
badly signed, malformed, too large or not ours changes nothing."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlmodel import col

from sandbox import BotApiSandbox
from storage.models import AuditEvent, Case, Clinician, WebhookReceipt
from storage.states import CaseStatus
from tests.auxil.console import ConsoleBot, console_bot, join, patient_with_case
from tests.auxil.databases import IsolatedDatabase

ADA, BEN = 7001, 7002
SECRET = "s3cret-pd"
OLD_SECRET = "old-secret-being-rotated-out"


def _sign(body: bytes, secret: str) -> str:
    return "v1=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def incident_event(
    event_type: str,
    case_id: int,
    *,
    key: str | None = None,
    agent: dict[str, Any] | None = None,
    occurred_at: str | None = None,
) -> bytes:
    """A v3 webhook body as PagerDuty documents it (one event, with its own id; `data` is the
    incident)."""
    payload = {
        "event": {
            "id": str(uuid.uuid4()),
            "event_type": event_type,
            "resource_type": "incident",
            "occurred_at": occurred_at
            or datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "agent": agent
            or {
                "html_url": "https://acme.pagerduty.com/users/PLH1HKV",
                "id": "PLH1HKV",
                "self": "https://api.pagerduty.com/users/PLH1HKV",
                "summary": "Ada Pd",
                "type": "user_reference",
            },
            "client": {"name": "PagerDuty"},
            "data": {
                "id": "PGR0VU2",
                "type": "incident",
                "html_url": "https://acme.pagerduty.com/incidents/PGR0VU2",
                "number": 2,
                "status": event_type.removeprefix("incident."),
                "incident_key": key or f"aftercare-case-{case_id}",
                "title": f"Aftercare case #{case_id}",
            },
        }
    }
    return json.dumps(payload).encode()


def _url(app: ConsoleBot) -> str:
    return app.base.removesuffix("/console") + "/pagerduty/webhook"


async def post(
    app: ConsoleBot,
    body: bytes,
    webhook_id: str | None,
    *,
    signature: str | None = "good",
) -> httpx.Response:
    headers = {"Content-Type": "application/json"}
    if webhook_id is not None:
        headers["X-Webhook-Id"] = webhook_id
    if signature == "good":
        # As during a secret rotation: one signature per secret, ours among them.
        headers["X-PagerDuty-Signature"] = f"{_sign(body, OLD_SECRET)},{_sign(body, SECRET)}"
    elif signature is not None:
        headers["X-PagerDuty-Signature"] = signature
    async with httpx.AsyncClient(timeout=10, trust_env=False) as http:
        return await http.post(_url(app), content=body, headers=headers)


async def _case(app: ConsoleBot, case_id: int) -> Case:
    async with app.bot.ctx.db.transaction() as session:
        case = await session.get(Case, case_id, populate_existing=True)
    assert case is not None
    return case


async def _events(app: ConsoleBot, case_id: int) -> list[tuple[str, str, dict[str, Any]]]:
    """The case's own audit rows (`escalation.*`; the pager's `page.*` rows trail its pages)."""
    async with app.bot.ctx.db.transaction() as session:
        rows = await session.scalars(
            select(AuditEvent)
            .where(
                col(AuditEvent.case_id) == case_id, col(AuditEvent.event).startswith("escalation.")
            )
            .order_by(col(AuditEvent.id))
        )
        return [(e.event, str(e.actor), json.loads(e.detail)) for e in rows.all()]


async def _receipts(app: ConsoleBot) -> int:
    async with app.bot.ctx.db.transaction() as session:
        return int(await session.scalar(select(func.count()).select_from(WebhookReceipt)) or 0)


def _pages(sandbox: BotApiSandbox, user: int, case_id: int) -> list[dict[str, Any]]:
    return [m for m in sandbox.chat(user) if f"case #{case_id}" in m.get("text", "")]


async def _until(probe: Any, seconds: float = 10) -> Any:
    for _ in range(int(seconds * 20)):
        if result := probe():
            return result
        await asyncio.sleep(0.05)
    return probe()


async def _paged_case(app: ConsoleBot) -> int:
    """Ada and Ben of North, and a HIGH case of North paged to them both."""
    await join(app, ADA, "Dr Ada")
    await join(app, BEN, "Dr Ben")
    _, case = await patient_with_case(app, "P-001")
    assert case.id is not None
    for user in (ADA, BEN):
        await app.sandbox.wait_for_message(user, f"case #{case.id}", timeout=10)
    return case.id


async def test_a_signed_acknowledgement_stops_re_paging_and_a_replay_changes_nothing(
    sandbox: BotApiSandbox, test_db: IsolatedDatabase
) -> None:
    async with console_bot(sandbox, test_db, pagerduty_webhook_secret=SECRET) as app:
        case_id = await _paged_case(app)
        assert (await _case(app, case_id)).next_step_at is not None  # the ladder is running
        body = incident_event("incident.acknowledged", case_id)

        answer = await post(app, body, "wh-ack-1")

        assert answer.status_code == 200 and answer.text == "changed"
        taken = await _case(app, case_id)
        assert taken.status == CaseStatus.ACKNOWLEDGED and taken.acknowledged_at is not None
        assert taken.next_step_at is None  # re-paging stopped
        assert taken.acknowledged_by is None  # "Ada Pd" in PagerDuty is no clinician of ours
        acks = [e for e in await _events(app, case_id) if e[0] == "escalation.acknowledged"]
        assert [(a, d["via"]) for _, a, d in acks] == [("service", "pagerduty")]
        # Every page of the case says it was taken; both paged clinicians are told by whom.
        for user in (ADA, BEN):
            await sandbox.wait_for_message(
                user, f"Case #{case_id} was acknowledged in PagerDuty by Ada Pd", timeout=10
            )
            page = await _until(
                lambda u=user: next(
                    (p for p in _pages(sandbox, u, case_id) if "Acknowledged by" in p["text"]),
                    None,
                )
            )
            assert page is not None, _pages(sandbox, user, case_id)
            buttons = [b["text"] for row in page["reply_markup"]["inline_keyboard"] for b in row]
            assert "Acknowledge" not in buttons and "Resolve" in buttons
        edits = len(sandbox.calls_to("editMessageText"))
        assert edits >= 2
        pages_before = len(_pages(sandbox, ADA, case_id))
        events = await _events(app, case_id)

        # PagerDuty delivers it again (same X-Webhook-Id): nothing changes.
        again = await post(app, body, "wh-ack-1")

        assert again.status_code == 200 and again.text == "duplicate"
        assert await _receipts(app) == 1
        assert await _events(app, case_id) == events  # no second audit row
        await asyncio.sleep(1.0)  # several dispatcher ticks (0.2 s): no page, no edit
        assert len(_pages(sandbox, ADA, case_id)) == pages_before
        assert len(sandbox.calls_to("editMessageText")) == edits
        assert (await _case(app, case_id)).status == CaseStatus.ACKNOWLEDGED


async def test_unacknowledged_pages_again_and_resolved_closes_the_case_with_a_note(
    sandbox: BotApiSandbox, test_db: IsolatedDatabase
) -> None:
    async with console_bot(sandbox, test_db, pagerduty_webhook_secret=SECRET) as app:
        case_id = await _paged_case(app)
        first_page = _pages(sandbox, ADA, case_id)[0]
        assert (await post(app, incident_event("incident.acknowledged", case_id), "a")).text == (
            "changed"
        )

        reopened = await post(app, incident_event("incident.unacknowledged", case_id), "u")

        assert reopened.status_code == 200 and reopened.text == "changed"
        case = await _case(app, case_id)
        assert case.status == CaseStatus.OPEN and case.acknowledged_at is None
        assert ("escalation.unacknowledged", "service", {"level": "high", "via": "pagerduty"}) in (
            await _events(app, case_id)
        )
        # The next tick pages the case again; its older page says to read the newest one.
        again = await sandbox.wait_for_message(
            ADA, f"case #{case_id}", after=int(first_page["message_id"]), timeout=10
        )
        assert "Acknowledge" in [
            b["text"] for row in again["reply_markup"]["inline_keyboard"] for b in row
        ]
        older = await _until(
            lambda: next(
                (p for p in _pages(sandbox, ADA, case_id) if "Raised or re-opened" in p["text"]),
                None,
            )
        )
        assert older is not None and older["message_id"] == first_page["message_id"]
        assert (await _case(app, case_id)).next_step_at is not None  # walking its ladder again

        resolved = await post(app, incident_event("incident.resolved", case_id), "r")

        assert resolved.status_code == 200 and resolved.text == "changed"
        closed = await _case(app, case_id)
        assert closed.status == CaseStatus.RESOLVED and closed.next_step_at is None
        # A paging service cannot be asked whether the patient was reached: done, and marked.
        assert closed.resolution_note == (
            "Resolved in PagerDuty (by Ada Pd)\nResolved without outreach recorded."
        )
        assert closed.resolved_by is None
        resolutions = [e for e in await _events(app, case_id) if e[0] == "escalation.resolved"]
        assert [(a, d["via"]) for _, a, d in resolutions] == [("service", "pagerduty")]
        await sandbox.wait_for_message(BEN, f"Case #{case_id} was resolved in PagerDuty by Ada Pd")
        page = await _until(
            lambda: next(
                (p for p in _pages(sandbox, BEN, case_id) if "Resolved in PagerDuty" in p["text"]),
                None,
            )
        )
        assert page is not None and "✓ Resolved by" in page["text"]
        # A late acknowledgement of the resolved incident changes nothing (recorded, unchanged).
        late = await post(app, incident_event("incident.acknowledged", case_id), "late")
        assert late.status_code == 200 and late.text == "unchanged"
        assert (await _case(app, case_id)).status == CaseStatus.RESOLVED
        assert await _receipts(app) == 4


async def test_the_agents_e_mail_names_the_clinician(
    sandbox: BotApiSandbox, test_db: IsolatedDatabase
) -> None:
    async with console_bot(sandbox, test_db, pagerduty_webhook_secret=SECRET) as app:
        case_id = await _paged_case(app)
        async with app.bot.ctx.db.transaction() as session:
            ada = (
                await session.scalars(
                    select(Clinician).where(col(Clinician.telegram_user_id) == ADA)
                )
            ).one()
            ada.email = "Ada@North.example"
            ada_id = ada.id
        agent = {"type": "user_reference", "summary": "A. Lovelace", "email": "ada@north.example"}

        answer = await post(app, incident_event("incident.acknowledged", case_id, agent=agent), "e")

        assert answer.text == "changed"
        assert (await _case(app, case_id)).acknowledged_by == ada_id
        acks = [e for e in await _events(app, case_id) if e[0] == "escalation.acknowledged"]
        assert [a for _, a, _ in acks] == [f"clinician:{ada_id}"]
        await sandbox.wait_for_message(
            BEN, f"Case #{case_id} was acknowledged in PagerDuty by Dr Ada"
        )
        page = await _until(
            lambda: next(
                (p for p in _pages(sandbox, BEN, case_id) if "Acknowledged by Dr Ada" in p["text"]),
                None,
            )
        )
        assert page is not None


async def test_unsigned_badly_signed_malformed_huge_or_foreign_webhooks_change_nothing(
    sandbox: BotApiSandbox, test_db: IsolatedDatabase, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="bot.channels.pagerduty.webhook_route")
    async with console_bot(sandbox, test_db, pagerduty_webhook_secret=SECRET) as app:
        case_id = await _paged_case(app)
        before = await _events(app, case_id)
        ack = incident_event("incident.acknowledged", case_id)

        unsigned = await post(app, ack, "x1", signature=None)
        wrong_secret = await post(app, ack, "x2", signature=_sign(ack, "guessed"))
        other_body = await post(app, ack, "x3", signature=_sign(ack + b" ", SECRET))
        not_v1 = await post(app, ack, "x4", signature=_sign(ack, SECRET).replace("v1=", "v0="))
        garbage = b"{not json"
        malformed = await post(app, garbage, "x5", signature=_sign(garbage, SECRET))
        no_event = b'{"messages": []}'
        not_v3 = await post(app, no_event, "x6", signature=_sign(no_event, SECRET))
        no_id = await post(app, ack, None)
        huge = b'{"event": {"pad": "' + b"x" * (1024 * 1024) + b'"}}'
        too_large = await post(app, huge, "x7", signature=_sign(huge, SECRET))
        foreign = incident_event("incident.acknowledged", case_id, key="somebody-elses-42")
        not_ours = await post(app, foreign, "x8")
        missing = incident_event("incident.acknowledged", 0, key="aftercare-case-999999")
        no_case = await post(app, missing, "x9")
        unknown = await post(app, incident_event("incident.made_up", case_id), "x10")
        triggered = await post(app, incident_event("incident.triggered", case_id), "x11")

        assert [r.status_code for r in (unsigned, wrong_secret, other_body, not_v1)] == [401] * 4
        assert [r.status_code for r in (malformed, not_v3, no_id)] == [400] * 3
        assert too_large.status_code == 413
        assert [(r.status_code, r.text) for r in (not_ours, no_case, unknown, triggered)] == [
            (200, "ignored")
        ] * 4
        case = await _case(app, case_id)
        assert case.status == CaseStatus.OPEN and case.next_step_at is not None
        assert await _events(app, case_id) == before
        assert await _receipts(app) == 0
        refusals = [r for r in caplog.records if r.name == "bot.channels.pagerduty.webhook_route"]
        reasons = " ".join(r.getMessage() for r in refusals if r.levelno == logging.WARNING)
        for reason in (
            "reason=unsigned",
            "reason=bad_signature",
            "reason=malformed",
            "reason=no_webhook_id",
            "reason=too_large",
            "incident key not ours",
            "no such case",
            "unknown event type",
        ):
            assert reason in reasons, reasons
        assert "incident.triggered" not in reasons  # documented, not acted on: no warning
        assert "Ada Pd" not in " ".join(r.getMessage() for r in refusals)  # never the body


async def test_without_a_secret_the_endpoint_refuses_everything(
    sandbox: BotApiSandbox, test_db: IsolatedDatabase, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="bot.channels.pagerduty.webhook_route")
    async with console_bot(sandbox, test_db) as app:
        case_id = await _paged_case(app)

        answer = await post(app, incident_event("incident.acknowledged", case_id), "n1")

        assert answer.status_code == 503
        assert (await _case(app, case_id)).status == CaseStatus.OPEN
        assert await _receipts(app) == 0
        assert "reason=no_secret_configured" in caplog.text


async def test_stale_events_and_withdrawals_of_a_clinicians_acknowledgement_change_nothing(
    sandbox: BotApiSandbox, test_db: IsolatedDatabase
) -> None:
    async with console_bot(sandbox, test_db, pagerduty_webhook_secret=SECRET) as app:
        case_id = await _paged_case(app)
        # an acknowledgement from before this case's ladder started (an earlier page) is ignored
        old = await post(
            app,
            incident_event("incident.acknowledged", case_id, occurred_at="2020-01-01T00:00:00Z"),
            "old",
        )
        assert old.status_code == 200 and old.text == "ignored"
        assert (await _case(app, case_id)).status == CaseStatus.OPEN
        # Ada takes the case in Telegram; PagerDuty's acknowledgement timing out later must not
        # re-open it and page everyone again
        ada_page = _pages(sandbox, ADA, case_id)[0]
        sandbox.tap(ADA, ada_page["message_id"], button_text="Acknowledge")
        await _until(lambda: _status_is(app, case_id))
        assert (await _case(app, case_id)).status == CaseStatus.ACKNOWLEDGED
        lapsed = await post(app, incident_event("incident.unacknowledged", case_id), "lapse")
        assert lapsed.status_code == 200 and lapsed.text == "unchanged"
        case = await _case(app, case_id)
        assert case.status == CaseStatus.ACKNOWLEDGED and case.acknowledged_by is not None


def _status_is(app: ConsoleBot, case_id: int) -> bool:
    return any(
        "acknowledged" in str(c.params.get("text", "")).lower()
        for c in app.sandbox.calls_to("editMessageText")
    )


def _without(body: bytes, key: str) -> bytes:
    payload = json.loads(body)
    del payload["event"][key]
    return json.dumps(payload).encode()


async def test_a_replay_under_another_webhook_id_or_without_its_signed_facts_changes_nothing(
    sandbox: BotApiSandbox, test_db: IsolatedDatabase, caplog: pytest.LogCaptureFixture
) -> None:
    """X-Webhook-Id is not signed: a captured delivery sent again under a new id is the same
    signed `event.id`, a duplicate; an event without a readable `occurred_at` or `id` cannot
    be told from a replay and is refused (200, so PagerDuty does not retry it; logged)."""
    caplog.set_level(logging.INFO, logger="bot.channels.pagerduty.webhook_route")
    async with console_bot(sandbox, test_db, pagerduty_webhook_secret=SECRET) as app:
        case_id = await _paged_case(app)
        ack = incident_event("incident.acknowledged", case_id)
        no_time = await post(app, _without(ack, "occurred_at"), "t1")
        bad_time = incident_event("incident.acknowledged", case_id, occurred_at="yesterday")
        unreadable = await post(app, bad_time, "t2")
        no_id = await post(app, _without(ack, "id"), "t3")

        assert [(r.status_code, r.text) for r in (no_time, unreadable, no_id)] == [
            (200, "ignored")
        ] * 3
        assert (await _case(app, case_id)).status == CaseStatus.OPEN
        assert await _receipts(app) == 0
        warned = " ".join(r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)
        assert "no readable event.occurred_at" in warned and "no readable event.id" in warned

        assert (await post(app, ack, "first")).text == "changed"
        reopened = await post(app, incident_event("incident.unacknowledged", case_id), "u")
        assert reopened.text == "changed"
        assert (await _case(app, case_id)).status == CaseStatus.OPEN
        events = await _events(app, case_id)

        # the acknowledgement captured earlier, replayed under a fresh X-Webhook-Id
        replayed = await post(app, ack, "fresh-id-from-an-attacker")

        assert replayed.status_code == 200 and replayed.text == "duplicate"
        assert (await _case(app, case_id)).status == CaseStatus.OPEN
        assert await _events(app, case_id) == events
        assert await _receipts(app) == 2

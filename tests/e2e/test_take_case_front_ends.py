"""One way to take a case, whatever the front end: a Telegram page's button, the console, an
e-mailed acknowledge link and a PagerDuty webhook each leave the same case state, the same
audit rows, the same follow-up for the paging service, the same edited Telegram pages and the
same word to the other clinician paged (each front end adds only its own trace: the link's
`ack_link.used`, the webhook's receipt and "via")."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import re
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from bot.services.clinic.team import set_contact
from bot.services.oncall import add_shift
from sandbox import BotApiSandbox
from storage.models import AuditEvent, Case, Clinician, Page, PageEvent
from storage.states import CLI
from tests.auxil.console import (
    ConsoleBot,
    ack_fields,
    console_bot,
    csrf_of,
    join,
    patient_with_case,
    sign_in,
)
from tests.auxil.databases import IsolatedDatabase
from tests.auxil.harness import make_clinics
from tests.auxil.receiver import Receiver
from tests.auxil.smtp import SmtpSink
from tests.channels.test_pagerduty_webhook import incident_event

ADA, BEN = 7101, 7102
ADA_MAIL = "ada@north.example"
SECRET = "pagerduty-webhook-secret-for-tests"
ACK_LINK = re.compile(r"Acknowledge: (http://\S+/console/ack/[A-Za-z0-9_-]+)")


def _clinic(events_url: str) -> str:
    return f"""
[[clinics]]
id = "north"
name = "North Clinic"
timezone = "UTC"
contact_phone = "+1 555 0100"

[clinics.paging]
events_url = "{events_url}/v2/enqueue"
routing_key = "R-north"

[clinics.escalation]
high = [
  {{ after = "PT0S", notify = ["primary", "backup"], channels = ["telegram", "email", "pager"] }},
  {{ after = "PT1H", notify = ["everyone"] }},
]
"""


async def _staff(app: ConsoleBot) -> None:
    """Ada (primary, with an e-mail address) and Ben (backup) on call."""
    ctx = app.bot.ctx
    now = ctx.clock.now()
    await join(app, ADA, "Dr Ada")
    await join(app, BEN, "Dr Ben")
    async with ctx.db.transaction() as session:
        for name, role in (("Dr Ada", "primary"), ("Dr Ben", "backup")):
            _, person = await add_shift(
                session,
                clinic=ctx.clinic("north"),
                clinician_name=name,
                starts_at=now - timedelta(minutes=1),
                ends_at=now + timedelta(hours=8),
                now=now,
                actor=CLI,
                role=role,
            )
            if name == "Dr Ada":
                await set_contact(
                    session, clinician=person, email=ADA_MAIL, pager_key=None, actor=CLI, now=now
                )


async def by_telegram(app: ConsoleBot, case_id: int, mail: Any) -> None:
    page = await app.sandbox.wait_for_message(ADA, f"case #{case_id}", timeout=10)
    app.sandbox.tap(ADA, int(page["message_id"]), button_text="Acknowledge")
    await app.sandbox.wait_for_message(ADA, "You acknowledged", timeout=10)


async def by_console(app: ConsoleBot, case_id: int, mail: Any) -> None:
    client = await sign_in(app, ADA)
    try:
        shown = await client.get(f"{app.base}/cases/{case_id}")
        done = await client.post(
            f"{app.base}/cases/{case_id}/acknowledge",
            data={"csrf": csrf_of(shown.text), "level": "high"},
        )
    finally:
        await client.aclose()
    assert done.status_code == 303, done.text
    assert "done=acknowledged" in done.headers["location"]


async def by_email_link(app: ConsoleBot, case_id: int, mail: Any) -> None:
    body = mail.get_body(preferencelist=("plain",))
    link = ACK_LINK.search(body.get_content())
    assert link is not None
    async with httpx.AsyncClient(timeout=10) as browser:
        form = await browser.get(link.group(1))
        done = await browser.post(link.group(1), data=ack_fields(form.text))
    assert done.status_code == 200 and f"You acknowledged case #{case_id}" in done.text


async def by_pagerduty(app: ConsoleBot, case_id: int, mail: Any) -> None:
    agent = {"summary": "Ada in PagerDuty", "email": ADA_MAIL, "type": "user_reference"}
    body = incident_event("incident.acknowledged", case_id, agent=agent)
    signature = "v1=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    async with httpx.AsyncClient(timeout=10, trust_env=False) as http:
        answer = await http.post(
            app.base.removesuffix("/console") + "/pagerduty/webhook",
            content=body,
            headers={
                "Content-Type": "application/json",
                "X-Webhook-Id": "wh-1",
                "X-PagerDuty-Signature": signature,
            },
        )
    assert (answer.status_code, answer.text) == (200, "changed")


FRONT_ENDS: dict[str, Callable[[ConsoleBot, int, Any], Awaitable[None]]] = {
    "telegram": by_telegram,
    "console": by_console,
    "email": by_email_link,
    "pagerduty": by_pagerduty,
}
# Each front end's own trace beside the acknowledgement, and what Ben is told.
OWN_AUDIT = {"email": ["ack_link.used"]}
VIA = {"pagerduty": {"via": "pagerduty"}}
TOLD = {"pagerduty": "was acknowledged in PagerDuty by Dr Ada."}


async def _until(probe: Callable[[], Awaitable[Any]], seconds: float = 10) -> Any:
    for _ in range(int(seconds * 20)):
        if found := await probe():
            return found
        await asyncio.sleep(0.05)
    return await probe()


@pytest.mark.slow
@pytest.mark.parametrize("front_end", list(FRONT_ENDS))
async def test_every_front_end_takes_a_case_the_same_way(
    sandbox: BotApiSandbox, test_db: IsolatedDatabase, front_end: str
) -> None:
    with SmtpSink() as sink:
        async with (
            Receiver() as service,
            console_bot(
                sandbox,
                test_db,
                clinics=make_clinics(_clinic(service.url)),
                smtp_url=sink.url,
                pagerduty_webhook_secret=SECRET,
            ) as app,
        ):
            ctx = app.bot.ctx
            await _staff(app)
            _, case = await patient_with_case(app, "P-777")
            assert case.id is not None
            case_id = case.id
            mail = await sink.wait_for(ADA_MAIL, timeout=10)
            pages = {
                user: await sandbox.wait_for_message(user, f"case #{case_id}", timeout=10)
                for user in (ADA, BEN)
            }
            assert await _until(lambda: _events(app, case_id, 1)) == [("trigger", "sent")]
            # the rung is recorded (its pages and their audit rows) before the take
            assert await _until(lambda: _pages(app, case_id, 3)) == 3
            async with ctx.db.transaction() as session:
                ada = await session.scalar(select(Clinician).where(Clinician.name == "Dr Ada"))
                before = await _audit(session, case_id)
            assert ada is not None

            await FRONT_ENDS[front_end](app, case_id, mail)

            told = TOLD.get(front_end, "was acknowledged by Dr Ada.")
            await sandbox.wait_for_message(BEN, f"Case #{case_id} {told}", timeout=10)
            assert await _until(lambda: _events(app, case_id, 2)) == [
                ("trigger", "sent"),
                ("acknowledge", "sent"),
            ]
            async with ctx.db.transaction() as session:
                taken = await session.get(Case, case_id, populate_existing=True)
                after = (await _audit(session, case_id))[len(before) :]
            assert taken is not None
            assert (taken.status, taken.acknowledged_by) == ("acknowledged", ada.id)
            assert taken.next_step_at is None and taken.resolved_at is None
            actor = f"clinician:{ada.id}"
            assert [(e.event, e.actor) for e in after] == [
                ("escalation.acknowledged", actor),
                *((name, actor) for name in OWN_AUDIT.get(front_end, [])),
            ]
            detail = json.loads(after[0].detail)
            assert detail["level"] == "high" and detail.get("via") == VIA.get(front_end, {}).get(
                "via"
            )
            # Both Telegram pages now say who took it, and keep only Resolve.
            for user in (ADA, BEN):
                edited = [
                    c
                    for c in sandbox.calls_to("editMessageText")
                    if c.params.get("message_id") == pages[user]["message_id"]
                    and int(c.params.get("chat_id", 0)) == user
                ]
                assert edited, f"the page to {user} was not edited"
                assert "Acknowledged by Dr Ada" in str(edited[-1].params["text"])
                assert "esc:ack" not in str(edited[-1].params.get("reply_markup"))
                assert "esc:res" in str(edited[-1].params.get("reply_markup"))
            # Ben is told once; Ada, who took it, is not told about herself.
            told_ben = [m for m in sandbox.chat(BEN) if f"Case #{case_id} was" in m["text"]]
            assert len(told_ben) == 1
            assert not [m for m in sandbox.chat(ADA) if f"Case #{case_id} was" in m["text"]]
            async with httpx.AsyncClient(timeout=10) as scraper:
                metrics = await scraper.get(app.base.replace("/console", "/metrics"))
            assert 'aftercare_time_to_acknowledge_seconds_count{level="high"} 1.0' in metrics.text


async def _events(app: ConsoleBot, case_id: int, count: int) -> list[tuple[str, str]] | None:
    """The case's outbox events (action, status) once `count` of them are final."""
    async with app.bot.ctx.db.transaction() as session:
        rows = (
            await session.scalars(
                select(PageEvent).where(PageEvent.case_id == case_id).order_by(PageEvent.id)
            )
        ).all()
    found = [(str(r.action), str(r.status)) for r in rows]
    if len(found) < count or any(status == "pending" for _, status in found):
        return None
    return found


async def _pages(app: ConsoleBot, case_id: int, count: int) -> int | None:
    """How many pages of the case are recorded, once there are `count`."""
    async with app.bot.ctx.db.transaction() as session:
        rows = (await session.scalars(select(Page).where(Page.case_id == case_id))).all()
    return len(rows) if len(rows) >= count else None


async def _audit(session: Any, case_id: int) -> list[AuditEvent]:
    rows = await session.scalars(
        select(AuditEvent).where(AuditEvent.case_id == case_id).order_by(AuditEvent.id)
    )
    return [r for r in rows.all() if not r.event.startswith(("page_event.", "patient_notice."))]

"""The whole ladder across channels, with compressed timings: a high case pages the primary in
Telegram and triggers the paging service at once; unacknowledged, the backup is paged in
Telegram and by e-mail two seconds later; the backup's e-mail link acknowledges (the paging
service gets `acknowledge` with the same dedup key, the Telegram pages say who took it, nobody
is paged again); resolving in Telegram sends `resolve`. Real SMTP server, real HTTP receiver
standing in for the Events API, the sandbox Bot API."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from datetime import timedelta

import httpx
from sqlalchemy import select

from bot.services.clinic.team import set_contact
from bot.services.oncall import add_shift
from sandbox import BotApiSandbox
from storage.models import AuditEvent, Case, Page
from storage.states import CLI, CaseStatus
from tests.auxil.console import ConsoleBot, ack_fields, console_bot, join, patient_with_case
from tests.auxil.databases import IsolatedDatabase
from tests.auxil.harness import make_clinics
from tests.auxil.journey import enrolled_patient, log_contact
from tests.auxil.receiver import Received, Receiver
from tests.auxil.smtp import SmtpSink

ADA, BEN, PATIENT = 7001, 7002, 9001
BEN_MAIL = "ben@north.example"
ACK = re.compile(r"Acknowledge: (http://\S+/console/ack/[A-Za-z0-9_-]+)")


def clinic_toml(events_url: str) -> str:
    return f"""
[[clinics]]
id = "north"
name = "North Clinic"
timezone = "UTC"
contact_phone = "+1 555 0100"

[clinics.escalation]
high = [
  {{ after = "PT0S", notify = ["primary"], channels = ["telegram", "pager"] }},
  {{ after = "PT2S", notify = ["backup"], channels = ["telegram", "email"] }},
  {{ after = "PT1H", notify = ["everyone"] }},
]

[clinics.paging]
events_url = "{events_url}"
routing_key = "NORTH-KEY"
"""


async def _roster(app: ConsoleBot) -> None:
    ctx = app.bot.ctx
    now = ctx.clock.now()
    await join(app, ADA, "Dr Ada")
    await join(app, BEN, "Dr Ben")
    async with ctx.db.transaction() as session:
        for name, role in (("Dr Ada", "primary"), ("Dr Ben", "backup")):
            _, clinician = await add_shift(
                session,
                clinic=ctx.clinic("north"),
                clinician_name=name,
                role=role,
                starts_at=now - timedelta(minutes=1),
                ends_at=now + timedelta(hours=8),
                now=now,
                actor=CLI,
            )
            if name == "Dr Ben":
                await set_contact(
                    session, clinician=clinician, email=BEN_MAIL, pager_key=None, actor=CLI, now=now
                )


async def _until(check: Callable[[], list[Received]], within: float = 10.0) -> list[Received]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not (found := check()):
        assert loop.time() < deadline, "timed out"
        await asyncio.sleep(0.05)
    return found


async def test_a_high_case_walks_the_ladder_across_channels(
    sandbox: BotApiSandbox, test_db: IsolatedDatabase
) -> None:
    with SmtpSink() as sink:
        async with Receiver() as receiver:
            events_url = f"{receiver.url}/v2/enqueue"
            async with console_bot(
                sandbox, test_db, clinics=make_clinics(clinic_toml(events_url)), smtp_url=sink.url
            ) as app:
                await _roster(app)
                _, case = await patient_with_case(app, "P-042")
                assert case.id is not None

                # rung 0: the primary in Telegram and the paging service, at once
                await sandbox.wait_for_message(ADA, f"case #{case.id}", timeout=10)
                trigger = (await _until(lambda: receiver.requests))[0].json()
                assert trigger["event_action"] == "trigger"
                assert trigger["routing_key"] == "NORTH-KEY"
                assert trigger["dedup_key"] == f"aftercare-case-{case.id}"
                assert trigger["payload"]["severity"] == "critical"
                assert "I keep thinking" not in str(trigger)  # no patient words to a third party

                # rung 1 after 2 s: the backup in Telegram and by e-mail (the backup only)
                mail = await sink.wait_for(BEN_MAIL, timeout=10)
                await sandbox.wait_for_message(BEN, f"case #{case.id}", timeout=10)
                assert len(receiver.requests) == 1  # the rung did not name the paging service
                body = mail.get_body(preferencelist=("plain",))
                assert body is not None
                link = ACK.search(body.get_content())
                assert link is not None

                async with httpx.AsyncClient(timeout=10) as browser:
                    form = await browser.get(link.group(1))
                    done = await browser.post(link.group(1), data=ack_fields(form.text))
                    assert done.status_code == 200 and "You acknowledged" in done.text

                # the paging service is told, with the same key; Telegram says who took it
                acknowledge = (await _until(lambda: receiver.requests[1:]))[0].json()
                assert acknowledge["event_action"] == "acknowledge"
                assert acknowledge["dedup_key"] == trigger["dedup_key"]
                await sandbox.wait_for_message(ADA, "acknowledged by Dr Ben", timeout=10)

                # nobody is paged again: wait past the next rung's old time
                async with app.bot.ctx.db.transaction() as session:
                    row = await session.get(Case, case.id, populate_existing=True)
                    assert row is not None and row.status == CaseStatus.ACKNOWLEDGED
                    pages_before = len(
                        (await session.scalars(select(Page).where(Page.case_id == case.id))).all()
                    )
                await asyncio.sleep(2.5)
                async with app.bot.ctx.db.transaction() as session:
                    pages = (
                        await session.scalars(select(Page).where(Page.case_id == case.id))
                    ).all()
                assert len(pages) == pages_before == 3
                assert sorted((p.channel, p.step) for p in pages) == [
                    ("email", 1),
                    ("telegram", 0),
                    ("telegram", 1),
                ]

                # Ben calls her and logs it from his Telegram page (a high case is resolved
                # once the patient was reached); resolving (here by command) sends `resolve`
                ben_page = await sandbox.wait_for_message(BEN, f"case #{case.id}")
                await log_contact(sandbox, BEN, ben_page["message_id"], outcome="Reached")
                sandbox.send_text(BEN, f"/resolve {case.id} Called her, safe with family")
                resolve = (await _until(lambda: receiver.requests[2:]))[0].json()
                assert resolve["event_action"] == "resolve"
                assert resolve["dedup_key"] == trigger["dedup_key"]
                assert len(receiver.requests) == 3


async def test_a_page_the_paging_service_refuses_moves_the_ladder_on(
    sandbox: BotApiSandbox, test_db: IsolatedDatabase
) -> None:
    """The first rung pages only through the paging service; it refuses (400, for good): the
    page counts as undeliverable and the next rung (the backup, in Telegram, not due for an
    hour) fires at once."""
    async with Receiver([400]) as receiver:
        toml = (
            clinic_toml(f"{receiver.url}/v2/enqueue")
            .replace('channels = ["telegram", "pager"]', 'channels = ["pager"]')
            .replace(
                '{ after = "PT2S", notify = ["backup"], channels = ["telegram", "email"] }',
                '{ after = "PT1H", notify = ["backup"] }',
            )
        )
        async with console_bot(sandbox, test_db, clinics=make_clinics(toml)) as app:
            await _roster(app)
            _, case = await patient_with_case(app, "P-044")
            await sandbox.wait_for_message(BEN, f"case #{case.id}", timeout=10)
            assert len(receiver.requests) == 1
            assert not [
                c
                for c in sandbox.calls_to("sendMessage")
                if int(c.params["chat_id"]) == ADA and f"case #{case.id}" in str(c.params["text"])
            ]
            async with app.bot.ctx.db.transaction() as session:
                failed = (
                    await session.scalars(
                        select(AuditEvent).where(AuditEvent.event == "page_event.failed")
                    )
                ).all()
            assert len(failed) == 1


async def test_a_webhook_that_answers_is_not_a_page_to_a_person(
    sandbox: BotApiSandbox, test_db: IsolatedDatabase
) -> None:
    """CLINICAL.md §8: the patient hears "paged" only when a page reached someone on call. A
    rung that only posts to the clinic's webhook, which answers 202, reached no person: the
    patient gets the honest notice and the crisis card, and the ladder moves on at once."""
    async with Receiver() as receiver:
        toml = clinic_toml(f"{receiver.url}/v2/enqueue") + (
            f'webhook_url = "{receiver.url}/hook"\n'
        )
        toml = toml.replace(
            "[clinics.paging]",
            'moderate = [\n  { after = "PT0S", notify = ["primary"], channels = ["webhook"] },\n'
            '  { after = "PT1H", notify = ["backup"] },\n]\n\n[clinics.paging]',
        )
        async with console_bot(sandbox, test_db, clinics=make_clinics(toml)) as app:
            await _roster(app)
            await enrolled_patient(app.bot, PATIENT, "P-045", infusion=False)
            sandbox.send_text(PATIENT, "I keep thinking about suicide tonight")
            notice = await sandbox.wait_for_message(PATIENT, "nobody may see this soon", timeout=10)
            assert "988" in notice["text"]  # the crisis card goes with it
            hook = await _until(lambda: receiver.on("/hook"))
            assert hook[0].json()["action"] == "trigger"
            assert "suicide" not in hook[0].body.decode()  # no patient words to a third party
            # nobody was reached, so the next rung (the backup, not due for an hour) pages now
            await sandbox.wait_for_message(BEN, "MODERATE", timeout=10)
            told = [m.get("text", "") for m in sandbox.chat(PATIENT)]
            assert not any("has been paged" in t for t in told)

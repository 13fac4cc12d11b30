"""Pages by e-mail beside Telegram: a real SMTP server on loopback receives the page with the
case's facts and an acknowledge link; a mail scanner's GET acknowledges nothing; the clinician's
confirmation acknowledges once (the Telegram page then says so); a second use and a forged link
change nothing; every delivery is recorded per channel and counted."""

from __future__ import annotations

import asyncio
import re
from datetime import timedelta

import httpx
from sqlalchemy import select

from bot.services.clinic.team import set_contact
from bot.services.oncall import add_shift
from sandbox import BotApiSandbox
from storage.models import AuditEvent, Case, Clinician, Page
from storage.states import CLI, CaseStatus
from tests.auxil.console import ConsoleBot, ack_fields, console_bot, join, patient_with_case
from tests.auxil.databases import IsolatedDatabase
from tests.auxil.harness import make_clinics
from tests.auxil.smtp import SmtpSink

ADA = 7001
ADA_MAIL = "ada@north.example"
CLINIC = """
[[clinics]]
id = "north"
name = "North Clinic"
timezone = "UTC"
contact_phone = "+1 555 0100"

[clinics.escalation]
high = [
  { after = "PT0S", notify = ["primary"], channels = ["telegram", "email"] },
  { after = "PT1H", notify = ["everyone"] },
]
"""
ACK = re.compile(r"Acknowledge: (http://\S+/console/ack/[A-Za-z0-9_-]+)")


async def _on_call_with_mail(app: ConsoleBot) -> None:
    ctx = app.bot.ctx
    now = ctx.clock.now()
    await join(app, ADA, "Dr Ada")
    async with ctx.db.transaction() as session:
        _, ada = await add_shift(
            session,
            clinic=ctx.clinic("north"),
            clinician_name="Dr Ada",
            starts_at=now - timedelta(minutes=1),
            ends_at=now + timedelta(hours=8),
            now=now,
            actor=CLI,
        )
        await set_contact(
            session, clinician=ada, email=ADA_MAIL, pager_key=None, actor=CLI, now=now
        )


async def _case(app: ConsoleBot, case_id: int) -> Case:
    async with app.bot.ctx.db.transaction() as session:
        case = await session.get(Case, case_id, populate_existing=True)
    assert case is not None
    return case


async def test_an_emailed_page_is_acknowledged_once_from_its_link(
    sandbox: BotApiSandbox, test_db: IsolatedDatabase
) -> None:
    with SmtpSink() as sink:
        async with console_bot(
            sandbox,
            test_db,
            clinics=make_clinics(CLINIC),
            smtp_url=sink.url,
            smtp_from="Aftercare North <pages@north.example>",
        ) as app:
            await _on_call_with_mail(app)
            _, case = await patient_with_case(app, "P-042")
            assert case.id is not None
            mail = await sink.wait_for(ADA_MAIL, timeout=10)
            await sandbox.wait_for_message(ADA, f"case #{case.id}", timeout=10)

            assert f"case #{case.id}" in str(mail["Subject"]) and "HIGH" in str(mail["Subject"])
            assert "P-042" in str(mail["Subject"])
            body = mail.get_body(preferencelist=("plain",))
            assert body is not None
            text = body.get_content()
            assert "I keep thinking about it" in text  # the patient's words, as in Telegram
            assert f"{app.base}/cases/{case.id}" in text  # Open in console
            link = ACK.search(text)
            assert link is not None, text

            async with httpx.AsyncClient(timeout=10) as scanner:  # follows every link
                seen = await scanner.get(link.group(1))
                assert seen.status_code == 200 and 'id="ack-button"' in seen.text
                blind = await scanner.post(link.group(1), data={"level": "high"})
                assert blind.status_code == 403
            assert (await _case(app, case.id)).status == CaseStatus.OPEN

            async with httpx.AsyncClient(timeout=10) as stranger:
                forged = await stranger.get(f"{app.base}/ack/forged-token-x")
            assert forged.status_code == 404

            async with httpx.AsyncClient(timeout=10) as browser:
                form = await browser.get(link.group(1))
                done = await browser.post(link.group(1), data=ack_fields(form.text))
                assert done.status_code == 200, done.text
                assert f"You acknowledged case #{case.id}" in done.text
                again = await browser.get(link.group(1))
                assert "Already acknowledged" in again.text and "Dr Ada" in again.text

            taken = await _case(app, case.id)
            assert taken.status == CaseStatus.ACKNOWLEDGED and taken.next_step_at is None
            async with app.bot.ctx.db.transaction() as session:
                ada = await session.scalar(select(Clinician).where(Clinician.name == "Dr Ada"))
                pages = (await session.scalars(select(Page).where(Page.case_id == case.id))).all()
                used = (
                    await session.scalars(
                        select(AuditEvent).where(AuditEvent.event == "ack_link.used")
                    )
                ).all()
            assert ada is not None and taken.acknowledged_by == ada.id
            assert sorted((p.channel, p.status) for p in pages) == [
                ("email", "sent"),
                ("telegram", "sent"),
            ]
            assert len(used) == 1
            # the Telegram page says who took it
            edits = [
                c
                for c in sandbox.calls_to("editMessageText")
                if "acknowledged" in str(c.params.get("text", "")).lower()
            ]
            assert edits, "the Telegram page was not updated"
            async with httpx.AsyncClient(timeout=10) as scraper:
                metrics = await scraper.get(app.base.replace("/console", "/metrics"))
            assert 'aftercare_pages_total{channel="email",outcome="sent"} 1.0' in metrics.text
            assert 'aftercare_pages_total{channel="telegram",outcome="sent"} 1.0' in metrics.text
            assert 'aftercare_time_to_acknowledge_seconds_count{level="high"} 1.0' in metrics.text


async def test_a_refused_address_is_recorded_and_telegram_still_pages(
    sandbox: BotApiSandbox, test_db: IsolatedDatabase
) -> None:
    with SmtpSink() as sink:
        sink.refuse.add(ADA_MAIL)
        async with console_bot(
            sandbox, test_db, clinics=make_clinics(CLINIC), smtp_url=sink.url
        ) as app:
            await _on_call_with_mail(app)
            _, case = await patient_with_case(app, "P-043")
            await sandbox.wait_for_message(ADA, f"case #{case.id}", timeout=10)
            pages: list[Page] = []
            for _ in range(50):
                async with app.bot.ctx.db.transaction() as session:
                    pages = list(
                        (await session.scalars(select(Page).where(Page.case_id == case.id))).all()
                    )
                if len(pages) == 2:
                    break
                await asyncio.sleep(0.1)
            by_channel = {p.channel: p for p in pages}
            assert by_channel["telegram"].status == "sent"
            assert by_channel["email"].status == "failed"
            assert "550" in (by_channel["email"].error or "")
            assert sink.messages == []

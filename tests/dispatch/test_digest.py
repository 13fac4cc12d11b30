"""The daily e-mail digest of open cases: sent at the clinic's digest time to every active
clinician with an address, once a day across instances, listing the open cases."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from bot.channels.email.channel import mailer_for
from bot.context import AppContext
from bot.dispatch.digest import Digests, due_day
from bot.domain.levels import Level
from bot.services.clinic.team import set_contact
from sandbox import BotApiSandbox
from storage.models import AuditEvent, Clinician
from storage.states import CLI
from tests.auxil.console import console_bot, join, patient_with_case
from tests.auxil.databases import IsolatedDatabase
from tests.auxil.harness import make_clinics
from tests.auxil.smtp import SmtpSink

CLINIC = """
[[clinics]]
id = "north"
name = "North Clinic"
timezone = "America/New_York"
contact_phone = "+1 555 0100"
"""


def test_the_digest_is_due_from_its_local_time_on() -> None:
    zone = ZoneInfo("America/New_York")
    morning = datetime(2026, 5, 4, 12, 59, tzinfo=UTC)  # 08:59 in New York
    assert due_day(morning, at=time(9, 0), zone=zone) is None
    assert due_day(morning + timedelta(minutes=1), at=time(9, 0), zone=zone) == "2026-05-04"
    late = datetime(2026, 5, 5, 3, 30, tzinfo=UTC)  # still 4 May, 23:30 in New York
    assert due_day(late, at=time(9, 0), zone=zone) == "2026-05-04"


async def test_open_cases_are_e_mailed_once_a_day(
    sandbox: BotApiSandbox, test_db: IsolatedDatabase
) -> None:
    with SmtpSink() as sink:
        async with console_bot(
            sandbox, test_db, clinics=make_clinics(CLINIC), smtp_url=sink.url
        ) as app:
            ctx = app.bot.ctx
            await join(app, 7001, "Dr Ada")
            await join(app, 7002, "Dr Ben")  # no address: no digest
            async with ctx.db.transaction() as session:
                ada = await session.scalar(select(Clinician).where(Clinician.name == "Dr Ada"))
                assert ada is not None
                await set_contact(
                    session,
                    clinician=ada,
                    email="ada@north.example",
                    pager_key=None,
                    actor=CLI,
                    now=ctx.clock.now(),
                )
            _, case = await patient_with_case(app, "P-LOW", level=Level.LOW)
            # the clinic now wants a digest at midnight: due at once (the dispatcher's rounds
            # send it; a second instance's Digests finds the day taken)
            north = ctx.clinic("north")
            paging = north.paging.model_copy(update={"digest_time": time(0, 0)})
            ctx.clinics = ctx.clinics.model_copy(
                update={"clinics": [north.model_copy(update={"paging": paging})]}
            )
            mail = await sink.wait_for("ada@north.example", timeout=10)
            dispatcher = ctx.dispatcher
            assert dispatcher is not None
            second = Digests(ctx, mailer_for(ctx.settings))
            assert await second.run_due(ctx.clock.now()) == 0
            assert "1 open case(s), daily digest" in str(mail["Subject"])
            body = mail.get_body(preferencelist=("plain",))
            assert body is not None
            assert f"case #{case.id} LOW P-LOW" in body.get_content()
            assert [m["To"] for m in sink.messages] == ["ada@north.example"]  # not Ben
            events = await _digests_recorded(ctx, expected=1)  # recorded after the send
            assert len(events) == 1


async def _digests_recorded(ctx: AppContext, *, expected: int) -> list[AuditEvent]:
    """The `digest.sent` audit rows, once `expected` are there (or after 10 s)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10
    while True:
        async with ctx.db.transaction() as session:
            query = select(AuditEvent).where(AuditEvent.event == "digest.sent")
            events = list((await session.scalars(query)).all())
        if len(events) >= expected or loop.time() > deadline:
            return events
        await asyncio.sleep(0.05)

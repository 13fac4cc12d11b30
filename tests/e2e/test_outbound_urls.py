"""A clinic's webhook and paging service that lead inside the network, end to end (issue 25).

The clinic's URLs name `hooks.north.example`, which the (fake) DNS resolves to the loopback
receiver: as if the name had been public when saved and was pointed inside since. A crisis
in that clinic posts nothing to the receiver; each page event is recorded as failed with the
reason, audited and logged, and the ladder moves on to the next rung at once. With the name in
AFTERCARE_OUTBOUND_ALLOW the same receiver gets the posts. A clinic file naming an inside
address itself does not start at all."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlalchemy import select

from bot.app import StartupError, prepare
from bot.services.oncall import add_shift
from sandbox import BotApiSandbox
from storage.models import AuditEvent, PageEvent
from storage.states import CLI, PageEventStatus
from tests.auxil.console import ConsoleBot, console_bot, join
from tests.auxil.databases import IsolatedDatabase
from tests.auxil.fake_dns import fake_dns
from tests.auxil.harness import make_clinics, make_settings
from tests.auxil.journey import enrolled_patient
from tests.auxil.receiver import Received, Receiver

ADA, BEN, PATIENT = 7001, 7002, 9001
NAME = "hooks.north.example"
REASON = f"refused: {NAME} resolves to a loopback address 127.0.0.1"


def clinic_toml(base: str) -> str:
    """North: a moderate case posts to the webhook and the paging service only, then pages the
    backup in Telegram an hour later (at once when nobody was reached)."""
    return f"""
[[clinics]]
id = "north"
name = "North Clinic"
timezone = "UTC"
contact_phone = "+1 555 0100"

[clinics.escalation]
moderate = [
  {{ after = "PT0S", notify = ["primary"], channels = ["webhook", "pager"] }},
  {{ after = "PT1H", notify = ["backup"] }},
]

[clinics.paging]
events_url = "{base}/v2/enqueue"
routing_key = "NORTH-KEY"
webhook_url = "{base}/hook"
"""


async def _roster(app: ConsoleBot) -> None:
    ctx = app.bot.ctx
    now = ctx.clock.now()
    await join(app, ADA, "Dr Ada")
    await join(app, BEN, "Dr Ben")
    async with ctx.db.transaction() as session:
        for name, role in (("Dr Ada", "primary"), ("Dr Ben", "backup")):
            await add_shift(
                session,
                clinic=ctx.clinic("north"),
                clinician_name=name,
                role=role,
                starts_at=now - timedelta(minutes=1),
                ends_at=now + timedelta(hours=8),
                now=now,
                actor=CLI,
            )


async def _until(check: Callable[[], list[Received]], within: float = 10.0) -> list[Received]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not (found := check()):
        assert loop.time() < deadline, "timed out"
        await asyncio.sleep(0.05)
    return found


async def test_a_webhook_whose_name_leads_inside_gets_nothing_and_the_ladder_moves_on(
    sandbox: BotApiSandbox,
    test_db: IsolatedDatabase,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    fake_dns(monkeypatch).answer(NAME, ["127.0.0.1"])
    caplog.set_level(logging.WARNING)
    async with Receiver() as receiver:
        toml = clinic_toml(f"http://{NAME}:{receiver.port}")
        # http allowed (as the harness does), nothing inside allowed
        async with console_bot(
            sandbox, test_db, clinics=make_clinics(toml), outbound_allow=""
        ) as app:
            # the start says so, and starts: a clinic's DNS must not stop the bot
            assert f"{REASON.removeprefix('refused: ')}; its pages will be refused" in caplog.text
            await _roster(app)
            await enrolled_patient(app.bot, PATIENT, "P-046", infusion=False)
            sandbox.send_text(PATIENT, "I keep thinking about suicide tonight")

            # nobody was reached, so the backup (not due for an hour) is paged now
            await sandbox.wait_for_message(BEN, "MODERATE", timeout=10)
            notice = await sandbox.wait_for_message(PATIENT, "nobody may see this soon", timeout=10)
            assert "988" in notice["text"]
            async with app.bot.ctx.db.transaction() as session:
                events = (await session.scalars(select(PageEvent))).all()
                failed = (
                    await session.scalars(
                        select(AuditEvent).where(AuditEvent.event == "page_event.failed")
                    )
                ).all()
            assert sorted(e.channel for e in events) == ["pager", "webhook"]
            for event in events:
                assert event.status == PageEventStatus.FAILED  # at once: no retry
                assert event.attempts == 1 and event.error == REASON
            details = [json.loads(a.detail) for a in failed]
            assert sorted(d["channel"] for d in details) == ["pager", "webhook"]
            assert {d["error"] for d in details} == {REASON}
            assert receiver.requests == []
    warned = [r for r in caplog.records if r.levelno == logging.WARNING and REASON in r.message]
    assert {r.message.split()[0] for r in warned} == {"page_event.failed"}
    assert len(warned) == 2
    assert not any("/hook" in r.message or "NORTH-KEY" in r.message for r in warned)


async def test_with_the_name_allowed_the_same_receiver_gets_the_posts(
    sandbox: BotApiSandbox, test_db: IsolatedDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_dns(monkeypatch).answer(NAME, ["127.0.0.1"])
    async with Receiver() as receiver:
        toml = clinic_toml(f"http://{NAME}:{receiver.port}")
        async with console_bot(
            sandbox, test_db, clinics=make_clinics(toml), outbound_allow=NAME
        ) as app:
            await _roster(app)
            await enrolled_patient(app.bot, PATIENT, "P-047", infusion=False)
            sandbox.send_text(PATIENT, "I keep thinking about suicide tonight")
            hook = await _until(lambda: receiver.on("/hook"))
            trigger = await _until(lambda: receiver.on("/v2/enqueue"))
            assert hook[0].json()["action"] == "trigger"
            assert trigger[0].json()["routing_key"] == "NORTH-KEY"
            assert hook[0].header("Host") == f"{NAME}:{receiver.port}"


async def test_a_clinic_file_naming_an_inside_address_does_not_start(
    sandbox: BotApiSandbox, test_db: IsolatedDatabase
) -> None:
    settings = make_settings(sandbox, test_db.url, outbound_allow="")
    with pytest.raises(StartupError) as refused:
        await prepare(
            settings, clinics=make_clinics(clinic_toml("http://127.0.0.1:9")), db=test_db.open()
        )
    assert refused.value.exit_code == 2
    assert str(refused.value) == (
        "test.toml: clinics[0].paging.events_url: points inside the network: 127.0.0.1 is a "
        "loopback address (and 1 more problems)"
    )
    relay = make_settings(sandbox, test_db.url, outbound_allow="", smtp_url="smtp://127.0.0.1:25")
    with pytest.raises(StartupError, match=r"^AFTERCARE_SMTP_URL: SMTP 127.0.0.1:25 refused: "):
        await prepare(relay, clinics=make_clinics(), db=test_db.open())

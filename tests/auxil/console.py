"""The bot with its console on a free local port, and a signed-in browser-like HTTP client."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx

from bot.clinic_config import ClinicsConfig
from bot.domain.levels import Level
from bot.domain.triage import Finding
from bot.services.cases import raise_case
from bot.services.enrollment import create_clinician_invite, enroll_patient
from sandbox import BotApiSandbox
from storage.models import Case, Patient
from storage.states import CaseTrigger
from tests.auxil.databases import IsolatedDatabase
from tests.auxil.harness import RunningBot, free_port, make_clinics, running_bot

TWO_CLINICS = """
[[clinics]]
id = "north"
name = "North Clinic"
timezone = "America/New_York"
contact_phone = "+1 555 0100"

[[clinics]]
id = "south"
name = "South Clinic"
timezone = "Europe/Berlin"
contact_phone = "+49 30 0100"
"""
LINK = re.compile(r"(http://127\.0\.0\.1:\d+/console/signin/[A-Za-z0-9_-]+)")
GUARD = re.compile(r'name="guard" value="([^"]+)"')
CSRF = re.compile(r'name="csrf" value="([0-9a-f]{64})"')
HIDDEN = re.compile(r'<input type="hidden" name="([a-z]+)" value="([^"]*)">')


def ack_fields(html: str) -> dict[str, str]:
    """What an acknowledge page's form posts (guard, the level and escalation it shows)."""
    fields = dict(HIDDEN.findall(html))
    assert {"guard", "level", "ladder"} <= fields.keys(), html[:500]
    return fields


@dataclass
class ConsoleBot:
    bot: RunningBot
    base: str  # http://127.0.0.1:PORT/console

    @property
    def sandbox(self) -> BotApiSandbox:
        return self.bot.sandbox


@asynccontextmanager
async def console_bot(
    sandbox: BotApiSandbox,
    database: IsolatedDatabase,
    *,
    clinics: ClinicsConfig | None = None,
    **settings: object,
) -> AsyncIterator[ConsoleBot]:
    """The bot (long polling) serving HTTP, the console included, on a free local port."""
    port = free_port()
    base = f"http://127.0.0.1:{port}/console"
    values: dict[str, object] = {
        "health_port": port,
        "webhook_listen": "127.0.0.1",
        "console_url": base,
        **settings,
    }
    async with running_bot(
        sandbox, database, clinics=clinics or make_clinics(TWO_CLINICS), **values
    ) as bot:
        yield ConsoleBot(bot, base)


async def join(app: ConsoleBot, user_id: int, name: str, clinic: str = "north") -> None:
    """Register a clinician of `clinic` through an invite, as in Telegram."""
    ctx = app.bot.ctx
    async with ctx.db.transaction() as session:
        token = await create_clinician_invite(
            session,
            clinic=ctx.clinic(clinic),
            name=name,
            is_admin=name.startswith("Admin"),
            now=ctx.clock.now(),
            actor="cli",
        )
    app.sandbox.add_user(user_id, name)
    app.sandbox.send_text(user_id, f"/start {token}")
    await app.sandbox.wait_for_message(user_id, "registered as a clinician", timeout=10)


async def link_for(app: ConsoleBot, user_id: int) -> str:
    """Send /console as this clinician and take the link from the bot's answer."""
    last = app.sandbox.last_message(user_id)
    after = int(last["message_id"]) if last else 0
    app.sandbox.send_text(user_id, "/console")
    reply = await app.sandbox.wait_for_message(
        user_id, "Your sign-in link", after=after, timeout=10
    )
    match = LINK.search(reply["text"])
    assert match, reply["text"]
    return match.group(1)


async def sign_in(app: ConsoleBot, user_id: int) -> httpx.AsyncClient:
    """A client signed in through a fresh /console link (the caller closes it)."""
    client = httpx.AsyncClient(timeout=10)
    link = await link_for(app, user_id)
    form = await client.get(link)
    assert form.status_code == 200, form.text
    guard = GUARD.search(form.text)
    assert guard is not None
    done = await client.post(link, data={"guard": guard.group(1)}, follow_redirects=True)
    assert done.status_code == 200, done.text
    return client


def csrf_of(html: str) -> str:
    match = CSRF.search(html)
    assert match, html[:500]
    return match.group(1)


async def patient_with_case(
    app: ConsoleBot, ref: str, *, clinic: str = "north", level: Level = Level.HIGH
) -> tuple[Patient, Case]:
    """An invited patient of `clinic` with an open case (the pager pages it at its next tick)."""
    ctx = app.bot.ctx
    now = ctx.clock.now()
    async with ctx.db.transaction() as session:
        patient, _ = await enroll_patient(
            session,
            clinic=ctx.clinic(clinic),
            ref=ref,
            timezone="Europe/Berlin",
            baseline_mood=6,
            emergency_contact=None,
            now=now,
            actor="cli",
        )
        raised = await raise_case(
            session,
            patient=patient,
            level=level,
            findings=[Finding(level, "C-SSRS item 4 yes: some intention of acting")],
            trigger=CaseTrigger.NON_RESPONSE,
            now=now,
            quote="I keep thinking about it",
        )
    assert raised is not None
    return patient, raised.case

"""Run the real application in-process against the sandbox Bot API, as `aftercare run` does."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass

from bot.app import prepare, serve
from bot.clinic_config import ClinicConfig, ClinicsConfig, parse_clinics
from bot.clock import Clock
from bot.context import AppContext
from bot.domain.outbound import OutboundPolicy
from bot.settings import Settings
from sandbox import BotApiSandbox
from sandbox.helpers import free_port
from tests.auxil.databases import IsolatedDatabase

TOKEN = "123456:TEST-TOKEN-abcdefghijklmnopqrstuvwxyz"
# The tests' HTTP receivers and SMTP sink are on this machine, over plain http: the outbound
# rules (bot/domain/outbound.py) refuse that unless allowed, so the tests allow it explicitly,
# as an on-premise operator allows a local relay (AFTERCARE_OUTBOUND_ALLOW[_HTTP]).
LOCAL_ALLOW = "127.0.0.0/8,::1"
LOCAL_OUTBOUND = OutboundPolicy.parse(LOCAL_ALLOW, allow_http=True)
WEBHOOK_SECRET = "s3cr3t-Webhook_token"

TEST_CLINIC_TOML = """
[[clinics]]
id = "north"
name = "North Clinic"
timezone = "America/New_York"
contact_phone = "+1 555 0100"
"""


def north_clinic(extra: str = "") -> ClinicConfig:
    """One UTC clinic, "north", with the CLINICAL.md defaults and `extra` TOML appended."""
    toml = '[[clinics]]\nid = "north"\nname = "North"\ntimezone = "UTC"\ncontact_phone = "+1 555"\n'
    return parse_clinics(toml + extra, source="test.toml").clinic("north")


def make_clinics(toml: str = TEST_CLINIC_TOML) -> ClinicsConfig:
    return parse_clinics(toml, source="test.toml")


def clinic_file(managed_by: str = "file", offsets: str = '["PT4H", "PT24H"]') -> ClinicsConfig:
    """A clinic file of one clinic, "north", managed by `managed_by`, whose one protocol has
    these check-in offsets and two dailies."""
    return parse_clinics(
        f"""
[[clinics]]
id = "north"
name = "North"
timezone = "UTC"
contact_phone = "+1 555"
managed_by = "{managed_by}"

[clinics.protocols.standard]
offsets = {offsets}
daily_days = 2
""",
        source="clinic.toml",
    )


def make_settings(sandbox: BotApiSandbox, database_url: str, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "telegram_token": TOKEN,
        "telegram_api_url": sandbox.url,
        "database_url": database_url,
        "dispatch_interval_seconds": 0.2,
        "outbound_allow": LOCAL_ALLOW,
        "outbound_allow_http": True,
        **overrides,
    }
    return Settings(_env_file=None, **values)  # type: ignore[call-arg, arg-type]


@dataclass
class RunningBot:
    sandbox: BotApiSandbox
    ctx: AppContext
    stop: asyncio.Event
    task: asyncio.Task[None]

    async def shutdown(self) -> None:
        self.stop.set()
        await asyncio.wait_for(self.task, timeout=15)


@asynccontextmanager
async def running_bot(
    sandbox: BotApiSandbox,
    database: IsolatedDatabase,
    *,
    clinics: ClinicsConfig | None = None,
    clock: Clock | None = None,
    **settings: object,
) -> AsyncIterator[RunningBot]:
    """Prepare and serve the bot in a task; stop it cleanly afterwards."""
    settings_ = make_settings(sandbox, database.url, **settings)
    ctx = await prepare(
        settings_, clinics=clinics or make_clinics(), clock=clock, db=database.open()
    )
    stop = asyncio.Event()
    task = asyncio.create_task(serve(ctx, stop))
    running = RunningBot(sandbox=sandbox, ctx=ctx, stop=stop, task=task)
    try:
        before = len(sandbox.calls_to("deleteWebhook"))
        await sandbox.wait_for_call(
            "deleteWebhook", lambda c: len(sandbox.calls_to("deleteWebhook")) > before, timeout=10
        )
        yield running
    finally:
        stop.set()
        with suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, timeout=15)
        await ctx.db.dispose()


@asynccontextmanager
async def webhook_bot(
    sandbox: BotApiSandbox,
    database: IsolatedDatabase,
    *,
    clinics: ClinicsConfig | None = None,
    clock: Clock | None = None,
    **settings: object,
) -> AsyncIterator[tuple[RunningBot, str]]:
    """The bot in webhook mode on a free local port; yields it and its webhook URL."""
    port = free_port()
    url = f"http://127.0.0.1:{port}/telegram"
    values: dict[str, object] = {
        "webhook_url": url,
        "webhook_secret": WEBHOOK_SECRET,
        "webhook_listen": "127.0.0.1",
        "webhook_port": port,
        **settings,
    }
    ctx = await prepare(
        make_settings(sandbox, database.url, **values),
        clinics=clinics or make_clinics(),
        clock=clock,
        db=database.open(),
    )
    stop = asyncio.Event()
    task = asyncio.create_task(serve(ctx, stop))
    try:
        await sandbox.wait_for_call("setWebhook", timeout=10)
        yield RunningBot(sandbox=sandbox, ctx=ctx, stop=stop, task=task), url
    finally:
        stop.set()
        with suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, timeout=15)
        await ctx.db.dispose()


def rehearsal_clinic(
    *,
    clinic_id: str = "north",
    name: str = "North Clinic",
    phone: str = "+1 555 0100",
    offset: str = "PT1S",
    red_flags: bool = True,
    extra: str = "",
) -> str:
    """One clinic block for end-to-end tests: UTC, quiet hours off, one offset check-in, no
    dailies; `extra` appends that clinic's own sections (ladders, windows)."""
    return f"""
[[clinics]]
id = "{clinic_id}"
name = "{name}"
timezone = "UTC"
contact_phone = "{phone}"
quiet_hours = {{ start = "00:00", end = "00:00" }}

[clinics.protocols.standard]
offsets = ["{offset}"]
red_flags_at = {f'"{offset}"' if red_flags else '"PT4H"'}
daily_days = 0
{extra}"""

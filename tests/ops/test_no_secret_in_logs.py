"""No secret in any log line (issue 25): every secret the product knows is set, the failures
that log are driven, and the log, as production writes it (its handler and redaction filter,
at INFO) and as our own loggers emit it (raw records, at DEBUG), is searched for each."""

from __future__ import annotations

import asyncio
import io
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import httpx
import pytest
from cryptography.fernet import Fernet
from sqlalchemy import select

from bot.console import ack as ack_route
from bot.ops.logs import configure_logging, log_secrets
from bot.services.clinic.team import set_contact
from bot.services.oncall import add_shift
from bot.services.paging.ack_links import issue_ack_link
from bot.settings import LogFormat
from sandbox import BotApiSandbox
from storage.models import Clinician
from storage.states import CLI
from tests.auxil.console import GUARD, ConsoleBot, console_bot, join, link_for, patient_with_case
from tests.auxil.databases import IsolatedDatabase
from tests.auxil.harness import TOKEN, free_port, make_clinics
from tests.auxil.receiver import Receiver

ADA = 7001
ADA_MAIL = "ada@north.example"
SMTP_PASSWORD = "smtp-Pa55-word-q7"
PAGE_WEBHOOK_SECRET = "page-webhook-secret-x1"
PAGERDUTY_SECRET = "pagerduty-webhook-secret-y2"
ROUTING_KEY = "R0UTING-KEY-north-z3"
SECRET_KEY = Fernet.generate_key().decode()
OURS = ("bot", "handlers", "storage")


def clinic_toml(events_url: str) -> str:
    return f"""
[[clinics]]
id = "north"
name = "North Clinic"
timezone = "UTC"
contact_phone = "+1 555 0100"

[clinics.escalation]
high = [
  {{ after = "PT0S", notify = ["primary"], channels = ["telegram", "email", "pager"] }},
  {{ after = "PT1H", notify = ["everyone"] }},
]

[clinics.paging]
events_url = "{events_url}"
routing_key = "{ROUTING_KEY}"
"""


@contextmanager
def production_logging(
    secrets: list[str], caplog: pytest.LogCaptureFixture
) -> Iterator[io.StringIO]:
    """The product's own handler and filter (as `aftercare run` installs them) into a buffer,
    plus pytest's handler for the raw records; the test's logging restored afterwards."""
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    noisy = {name: logging.getLogger(name).level for name in ("httpx", "httpcore", "alembic")}
    out = io.StringIO()
    configure_logging("INFO", LogFormat.PLAIN, secrets=secrets, stream=out)
    root.addHandler(caplog.handler)
    for name in OURS:
        logging.getLogger(name).setLevel(logging.DEBUG)
    caplog.handler.setLevel(logging.DEBUG)
    try:
        yield out
    finally:
        root.handlers[:], _ = saved[0], root.setLevel(saved[1])
        for name, level in noisy.items():
            logging.getLogger(name).setLevel(level)
        for name in OURS:
            logging.getLogger(name).setLevel(logging.NOTSET)


async def _on_call(app: ConsoleBot) -> None:
    ctx = app.bot.ctx
    now = ctx.clock.now()
    await join(app, ADA, "Admin Ada")
    async with ctx.db.transaction() as session:
        _, ada = await add_shift(
            session,
            clinic=ctx.clinic("north"),
            clinician_name="Admin Ada",
            starts_at=now - timedelta(minutes=1),
            ends_at=now + timedelta(hours=8),
            now=now,
            actor=CLI,
        )
        await set_contact(
            session, clinician=ada, email=ADA_MAIL, pager_key=None, actor=CLI, now=now
        )


async def _logged(out: io.StringIO, *events: str, within: float = 15.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not all(event in out.getvalue() for event in events):
        missing = [e for e in events if e not in out.getvalue()]
        assert loop.time() < deadline, f"never logged: {missing}\n{out.getvalue()}"
        await asyncio.sleep(0.05)


async def test_no_secret_reaches_a_log_line(
    sandbox: BotApiSandbox,
    test_db: IsolatedDatabase,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    smtp_url = f"smtp://pages:{SMTP_PASSWORD}@127.0.0.1:{free_port()}"  # nobody listens
    async with (
        Receiver(default=500) as receiver,
        console_bot(
            sandbox,
            test_db,
            clinics=make_clinics(clinic_toml(f"{receiver.url}/v2/enqueue")),
            smtp_url=smtp_url,
            page_webhook_secret=PAGE_WEBHOOK_SECRET,
            pagerduty_webhook_secret=PAGERDUTY_SECRET,
            secret_key=SECRET_KEY,
        ) as app,
    ):
        secrets = log_secrets(app.bot.ctx.settings)
        assert {TOKEN, SMTP_PASSWORD, PAGERDUTY_SECRET, SECRET_KEY} <= set(secrets)
        with production_logging(secrets, caplog) as out:
            found = await _drive_failures(app, sandbox, monkeypatch, out)
    text = out.getvalue() + "\n".join(
        f"{r.getMessage()} {r.exc_text or ''}" for r in caplog.records
    )
    for name, secret in {
        "bot token": TOKEN,
        "bot token's secret part": TOKEN.split(":", 1)[1],
        "SMTP password": SMTP_PASSWORD,
        "page webhook secret": PAGE_WEBHOOK_SECRET,
        "PagerDuty webhook secret": PAGERDUTY_SECRET,
        "routing key": ROUTING_KEY,
        "encryption key": SECRET_KEY,
        **found,
    }.items():
        assert secret not in text, f"the {name} is in the log"
    assert "console.error path=/console/ack/<token>" in out.getvalue()


async def _drive_failures(
    app: ConsoleBot, sandbox: BotApiSandbox, monkeypatch: pytest.MonkeyPatch, out: io.StringIO
) -> dict[str, str]:
    """Every failure that logs; the per-request secrets it used (links, session)."""
    ctx = app.bot.ctx
    await _on_call(app)
    sandbox.fail_next("sendMessage", status=500, chat_id=ADA)  # the Telegram page fails
    _, case = await patient_with_case(app, "P-042")
    assert case.id is not None
    await _logged(out, "email.", "page_event.retry")

    root = app.base.removesuffix("/console")
    async with httpx.AsyncClient(timeout=10) as browser:
        link = await link_for(app, ADA)
        form = await browser.get(link)
        guard = GUARD.search(form.text)
        assert guard is not None
        signed = await browser.post(link, data={"guard": guard.group(1)})
        assert signed.status_code == 303
        session = browser.cookies["aftercare_console"]
        again = await browser.post(link, data={"guard": guard.group(1)})
        assert again.status_code in (403, 410)
        refused = await browser.post(f"{app.base}/team/invite", data={"csrf": "forged"})
        assert refused.status_code == 403
        async with ctx.db.transaction() as db:
            ada = await db.scalar(select(Clinician).where(Clinician.name == "Admin Ada"))
            assert ada is not None and ada.id is not None
            ack = await issue_ack_link(
                db, case_id=case.id, clinician_id=ada.id, now=ctx.clock.now()
            )

        async def crash(*args: object, **kwargs: object) -> None:
            raise RuntimeError("an injected fault")

        monkeypatch.setattr(ack_route, "check_ack_link", crash)
        crashed = await browser.get(f"{app.base}/ack/{ack}")
        assert crashed.status_code == 500
        hook = await browser.post(
            f"{root}/pagerduty/webhook",
            content=b'{"event": {}}',
            headers={"X-PagerDuty-Signature": "v1=forged", "Content-Type": "application/json"},
        )
        assert hook.status_code in (400, 401, 403)
        for n in range(35):
            await browser.get(f"{app.base}/signin/guess-{n}")
    await _logged(
        out,
        "console.signin_refused",
        "console.csrf_refused",
        "console.error",
        "pagerduty.refused",
        "console.lookups_limited",
    )
    return {"sign-in link": link.rsplit("/", 1)[1], "acknowledge link": ack, "session": session}

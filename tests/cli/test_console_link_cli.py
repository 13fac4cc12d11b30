"""`aftercare console link`: a sign-in link minted where Telegram is not at hand, by the rules of
`/console` (an active clinician of that clinic; once; audited as the operator's, no token in
the log), printed once on stdout and redeemable once through the console's sign-in route."""

from __future__ import annotations

import asyncio
import json
import re
from datetime import UTC, datetime
from pathlib import Path

import httpx
from sqlalchemy import select
from starlette.applications import Starlette
from telegram import Bot

from bot.app import prepare
from bot.console.app import console_mount
from bot.settings import Settings
from storage.crypto.keyring import open_database
from storage.models import AuditEvent, Clinician
from tests.auxil.cli import MINIMAL_CLINIC, aftercare, cli_env
from tests.auxil.console import GUARD

BASE = "http://console.test/console"
URL = {"AFTERCARE_CONSOLE_URL": BASE}
LINK = re.compile(rf"{re.escape(BASE)}/signin/([A-Za-z0-9_-]+)")


def _link(tmp_path: Path, name: str, clinic: str = "north", **extra: str) -> tuple[int, str, str]:
    done = aftercare(tmp_path, "console", "link", "--clinic", clinic, "--name", name, **extra)
    return done.returncode, done.stdout, done.stderr


async def _register(tmp_path: Path) -> None:
    """Registrations as redeeming an invite in Telegram leaves them (written directly here)."""
    db = open_database(cli_env(tmp_path)["AFTERCARE_DATABASE_URL"])
    now = datetime.now(UTC)
    people = [
        ("Dr Ada", 1, True),
        ("Dr Gone", 2, False),
        ("Dr Twin", 3, True),
        ("Dr Twin", 4, True),
    ]
    try:
        async with db.transaction() as session:
            for name, user, active in people:
                session.add(
                    Clinician(
                        clinic_id="north",
                        name=name,
                        telegram_user_id=user,
                        chat_id=user,
                        active=active,
                        created_at=now,
                    )
                )
    finally:
        await db.dispose()


async def _redeem_twice(tmp_path: Path, token: str) -> tuple[httpx.Response, httpx.Response]:
    """Sign in with the link through the console's own routes, then open it again."""
    settings = Settings(
        _env_file=None,
        database_url=cli_env(tmp_path)["AFTERCARE_DATABASE_URL"],
        config=tmp_path / "clinic.toml",
        console_url=BASE,
    )
    ctx = await prepare(settings, apply_file=False)
    app = Starlette(routes=[console_mount(ctx, Bot("1:unused"))])  # at /console, as served
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url=BASE) as browser:
            form = await browser.get(f"{BASE}/signin/{token}")
            assert form.status_code == 200, form.text
            guard = GUARD.search(form.text)
            assert guard is not None
            signed_in = await browser.post(f"{BASE}/signin/{token}", data={"guard": guard.group(1)})
            again = await browser.get(f"{BASE}/signin/{token}")
        return signed_in, again
    finally:
        await ctx.db.dispose()


async def _link_events(tmp_path: Path) -> list[AuditEvent]:
    db = open_database(cli_env(tmp_path)["AFTERCARE_DATABASE_URL"])
    try:
        async with db.transaction() as session:
            rows = await session.scalars(select(AuditEvent).order_by(AuditEvent.id))
            return list(rows.all())
    finally:
        await db.dispose()


def test_a_link_is_printed_once_redeemed_once_and_audited(tmp_path: Path) -> None:
    (tmp_path / "clinic.toml").write_text(MINIMAL_CLINIC, encoding="utf-8")
    code, out, err = _link(tmp_path, "Dr Ada", clinic="nowhere", **URL)
    assert code == 2 and "no clinic 'nowhere' (known: north)" in err and out == ""
    asyncio.run(_register(tmp_path))

    code, out, err = _link(tmp_path, "dr ada", **URL)  # names match as /console end's do
    assert code == 0, err
    found = LINK.fullmatch(out.strip())
    assert found is not None, out
    token = found.group(1)
    assert "Dr Ada" in err and "once, within 10 minutes" in err and token not in err

    signed_in, again = asyncio.run(_redeem_twice(tmp_path, token))
    assert signed_in.status_code == 303, signed_in.text
    assert signed_in.headers["location"].startswith("/console/clinic")
    assert "aftercare_console=" in signed_in.headers.get("set-cookie", "")
    assert again.status_code == 410 and "already used" in again.text

    events = asyncio.run(_link_events(tmp_path))
    issued = [e for e in events if e.event == "console.link_issued"]
    assert len(issued) == 1
    assert issued[0].actor == "cli" and issued[0].clinic_id == "north"
    assert json.loads(issued[0].detail) == {"clinician": 1, "minted_by": "cli"}
    assert [e.actor for e in events if e.event == "console.signed_in"] == ["clinician:1"]
    assert all(token not in e.detail for e in events)


def test_unknown_deactivated_or_ambiguous_names_mint_nothing(tmp_path: Path) -> None:
    (tmp_path / "clinic.toml").write_text(MINIMAL_CLINIC, encoding="utf-8")
    code, _, err = _link(tmp_path, "Dr Ada")  # AFTERCARE_CONSOLE_URL unset
    assert code == 2 and "AFTERCARE_CONSOLE_URL is not set" in err
    asyncio.run(_register(tmp_path))
    for name, message in [
        ("Dr Nobody", "no active clinician 'Dr Nobody' in clinic north"),
        ("Dr Gone", "no active clinician 'Dr Gone' in clinic north"),
        ("Dr Twin", "2 active clinicians of clinic north are named 'Dr Twin'"),
    ]:
        code, out, err = _link(tmp_path, name, **URL)
        assert code == 2 and message in err and "nothing was minted" in err, name
        assert out == "" and "aftercare: error:" in err, name
    missing = aftercare(tmp_path, "console", "link", "--clinic", "north", **URL)
    assert missing.returncode == 2 and "--name" in missing.stderr
    events = asyncio.run(_link_events(tmp_path))
    assert not [e for e in events if e.event == "console.link_issued"]


def test_the_cli_makes_and_revokes_an_admin_and_keeps_the_last_one(tmp_path: Path) -> None:
    """`aftercare clinician admin`: the operator's way to make the clinic's first admin (the
    offline demo, a clinic set up from the command line); audited, and the last admin stays."""
    (tmp_path / "clinic.toml").write_text(MINIMAL_CLINIC, encoding="utf-8")

    def admin(name: str, *more: str, clinic: str = "north") -> tuple[int, str]:
        done = aftercare(tmp_path, "clinician", "admin", "--clinic", clinic, "--name", name, *more)
        return done.returncode, done.stdout + done.stderr

    code, said = admin("Dr Ada", clinic="nowhere")  # (this also makes the database)
    assert code == 2 and "no clinic 'nowhere'" in said, said
    asyncio.run(_register(tmp_path))

    assert admin("Dr Ada") == (0, "Dr Ada is now an admin of clinic north.\n")
    assert admin("Dr Ada") == (0, "Dr Ada is already an admin of clinic north.\n")
    code, said = admin("Dr Ada", "--revoke")
    assert code == 2 and "last active admin" in said, said
    code, said = admin("Dr Gone")
    assert code == 2 and "no active clinician 'Dr Gone'" in said, said

    async def state() -> tuple[bool, list[str]]:
        db = open_database(cli_env(tmp_path)["AFTERCARE_DATABASE_URL"])
        try:
            async with db.transaction() as session:
                ada = (
                    await session.scalars(select(Clinician).where(Clinician.name == "Dr Ada"))
                ).one()
                events = (await session.scalars(select(AuditEvent.event))).all()
                return ada.is_admin, list(events)
        finally:
            await db.dispose()

    is_admin, events = asyncio.run(state())
    assert is_admin and events.count("clinician.promoted") == 1
    assert "clinician.demoted" not in events

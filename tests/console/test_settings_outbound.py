"""A clinic admin cannot point the clinic's webhook or paging service inside the operator's
network from the console (issue 25): a URL naming an inside address, or a changed name that
resolves to one, is refused beside its field on preview and save, and nothing is saved; a
version with such a URL is not restored. The operator's allow list lets it through."""

from __future__ import annotations

import re
from datetime import time
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from sqlalchemy import select

from bot.clinic_config import ClinicConfig
from bot.console.forms.settings import form_values
from sandbox import BotApiSandbox
from storage.models import ClinicSettings
from tests.auxil.console import ConsoleBot, console_bot, csrf_of, join, sign_in
from tests.auxil.databases import IsolatedDatabase
from tests.auxil.fake_dns import fake_dns
from tests.auxil.harness import make_clinics

ADMIN = 7001
CLINICS = """
[[clinics]]
id = "north"
name = "North Clinic"
timezone = "America/New_York"
contact_phone = "+1 555 0100"
managed_by = "console"
"""
FORM = {"content-type": "application/x-www-form-urlencoded"}
INSIDE = "http://127.0.0.1:9/x"
FIELDS = ("paging.webhook_url", "paging.events_url")


def _posted(clinic: ClinicConfig, csrf: str, based_on: int, **changes: str) -> str:
    """The settings form as the browser posts it, with `changes` (field names as shown)."""
    values: dict[str, Any] = {**form_values(clinic), **changes}
    fields = [("csrf", csrf), ("based_on", str(based_on))]
    for key, value in values.items():
        if isinstance(value, bool):
            fields += [(key, "on")] if value else []
        elif isinstance(value, list):
            fields += [(key, str(item)) for item in value]
        elif isinstance(value, time):
            fields.append((key, value.strftime("%H:%M")))
        else:
            fields.append((key, str(value)))
    return urlencode(fields)


def _error(html: str, field: str) -> str | None:
    found = re.search(rf'id="err-{field.replace(".", "-")}" role="alert">([^<]*)<', html)
    return found.group(1) if found else None


async def _admin(app: ConsoleBot) -> tuple[httpx.AsyncClient, str]:
    await join(app, ADMIN, "Admin Ada")
    client = await sign_in(app, ADMIN)
    page = await client.get(f"{app.base}/settings")
    assert page.status_code == 200, page.text
    return client, csrf_of(page.text)


async def _versions(app: ConsoleBot) -> list[int]:
    async with app.bot.ctx.db.transaction() as session:
        rows = await session.scalars(
            select(ClinicSettings.version).where(ClinicSettings.clinic_id == "north")
        )
        return sorted(rows.all())


async def _post(app: ConsoleBot, client: httpx.AsyncClient, body: str) -> httpx.Response:
    return await client.post(f"{app.base}/settings", headers=FORM, content=body)


async def test_a_url_inside_the_network_is_refused_beside_its_field_and_nothing_is_saved(
    sandbox: BotApiSandbox, test_db: IsolatedDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    dns = fake_dns(monkeypatch)
    dns.answer("hooks.evil.example", ["93.184.215.14", "10.0.0.5"])
    dns.answer("gone.north.example", [])
    # http allowed (the harness's), nothing inside: what is refused is the address
    async with console_bot(
        sandbox, test_db, clinics=make_clinics(CLINICS), outbound_allow=""
    ) as app:
        ctx = app.bot.ctx
        client, csrf = await _admin(app)
        north = ctx.clinic("north")
        expected = {
            INSIDE: "points inside the network: 127.0.0.1 is a loopback address",
            "https://0x7f.1/x": "points inside the network: 127.0.0.1 is a loopback address",
            "https://169.254.169.254/latest/meta-data/": (
                "points inside the network: 169.254.169.254 is a link-local address"
            ),
            "https://metadata.google.internal/": (
                "points inside the network: metadata.google.internal is a local name"
            ),
            "https://hooks.evil.example/x": (
                "points inside the network: hooks.evil.example resolves to a private address "
                "10.0.0.5"
            ),
            "https://gone.north.example/x": (
                "gone.north.example does not resolve (Name or service not known): check the "
                "name (pages cannot reach it)"
            ),
        }
        for field in FIELDS:
            for url, said in expected.items():
                for action in ("preview", "save"):
                    answer = await _post(
                        app, client, _posted(north, csrf, 1, action=action, **{field: url})
                    )
                    assert answer.status_code == 400, (field, url, action)
                    assert _error(answer.text, field) == said, (field, url, action)
                    assert "Not saved: 1 problem." in answer.text
        assert await _versions(app) == [1]
        assert ctx.clinic("north").paging == north.paging
        await client.aclose()


async def test_the_operators_allow_list_lets_a_local_receiver_be_saved(
    sandbox: BotApiSandbox, test_db: IsolatedDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The harness allows 127.0.0.0/8 over http (as an on-premise operator may); a changed name
    is resolved when saved, an unchanged one is not looked up again."""
    dns = fake_dns(monkeypatch)
    dns.answer("hooks.north.example", ["93.184.215.14"])
    async with console_bot(sandbox, test_db, clinics=make_clinics(CLINICS)) as app:
        ctx = app.bot.ctx
        client, csrf = await _admin(app)
        saved = await _post(
            app,
            client,
            _posted(
                ctx.clinic("north"),
                csrf,
                1,
                action="save",
                **{
                    "paging.webhook_url": INSIDE,
                    "paging.events_url": "https://hooks.north.example/e",
                },
            ),
        )
        assert saved.status_code == 303, saved.text
        assert ctx.clinic("north").paging.webhook_url == INSIDE
        assert dns.asked == ["hooks.north.example"]
        again = await _post(
            app, client, _posted(ctx.clinic("north"), csrf, 2, action="save", name="North, too")
        )
        assert again.status_code == 303
        assert dns.asked == ["hooks.north.example"]  # unchanged: checked at every send instead
        await client.aclose()


async def test_a_version_whose_url_is_now_refused_is_not_restored(
    sandbox: BotApiSandbox, test_db: IsolatedDatabase
) -> None:
    """Saved while the operator allowed it; after the allow list is narrowed (a restart with
    other settings), restoring that version is refused and nothing changes."""
    async with console_bot(sandbox, test_db, clinics=make_clinics(CLINICS)) as app:
        ctx = app.bot.ctx
        client, csrf = await _admin(app)
        north = ctx.clinic("north")
        first = await _post(
            app, client, _posted(north, csrf, 1, action="save", **{"paging.webhook_url": INSIDE})
        )
        assert first.status_code == 303
        ctx.settings = ctx.settings.model_copy(update={"outbound_allow": ""})
        cleared = await _post(
            app,
            client,
            _posted(ctx.clinic("north"), csrf, 2, action="save", **{"paging.webhook_url": ""}),
        )
        assert cleared.status_code == 303
        restored = await client.post(
            f"{app.base}/settings/versions/2/restore", data={"csrf": csrf, "based_on": "3"}
        )
        assert restored.status_code == 400
        assert (
            "Version 2 cannot be restored: paging.webhook_url points inside the network: "
            "127.0.0.1 is a loopback address. Nothing was changed."
        ) in restored.text
        assert await _versions(app) == [1, 2, 3]
        assert ctx.clinic("north").paging.webhook_url is None
        await client.aclose()

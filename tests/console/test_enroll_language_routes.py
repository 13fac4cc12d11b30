"""Enrolling in a language from the console (issue 29): the form offers the clinic's default,
English and each language with an installed C-SSRS translation; a language without one is
refused beside the field, naming what is missing; en-XA once its test file is installed."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from bot.domain import instruments
from bot.services.clinic.instruments import install, load_installed
from sandbox import BotApiSandbox
from storage.models import Patient
from tests.auxil.console import ConsoleBot, console_bot, csrf_of, join, sign_in
from tests.auxil.databases import IsolatedDatabase

ADA = 7001
PSEUDO_FILE = (
    Path(__file__).resolve().parents[1]
    / "fixtures"
    / "instruments"
    / "cssrs_screener_slc.en-XA.toml"
)


@pytest.fixture(autouse=True)
def no_translations() -> Iterator[None]:
    """Every test starts and ends with English only in the process's instrument registry."""
    for language in instruments.cssrs_languages():
        instruments.forget_cssrs(language)
    yield
    for language in instruments.cssrs_languages():
        instruments.forget_cssrs(language)


async def _enroll(
    client: httpx.AsyncClient, app: ConsoleBot, ref: str, language: str
) -> httpx.Response:
    form = await client.get(f"{app.base}/enroll")
    data = {
        "csrf": csrf_of(form.text),
        "ref": ref,
        "timezone": "Europe/London",
        "language": language,
    }
    return await client.post(f"{app.base}/enroll", data=data)


def _options(page: str) -> list[str]:
    select_ = re.search(r'<select id="f-language" name="language"[^>]*>(.*?)</select>', page, re.S)
    assert select_ is not None, page[:2000]
    return re.findall(r'<option value="([^"]*)"', select_.group(1))


async def test_enrolling_in_a_language_needs_its_installed_translation(
    sandbox: BotApiSandbox, test_db: IsolatedDatabase
) -> None:
    async with console_bot(sandbox, test_db) as app:
        await join(app, ADA, "Dr Ada")
        client = await sign_in(app, ADA)
        form = await client.get(f"{app.base}/enroll")
        assert _options(form.text) == ["", "en"]
        assert "the clinic&#39;s default (English (en))" in form.text or (
            "the clinic's default (English (en))" in form.text
        )
        for tag, name in (("es", "Spanish (es)"), ("en-XA", "Pseudo-locale (en-XA)")):
            refused = await _enroll(client, app, "P-1", tag)
            assert refused.status_code == 400
            shown = html.unescape(refused.text)
            assert 'id="err-language"' in refused.text
            assert f"{name} cannot be offered: no C-SSRS translation is installed" in shown
            assert "t.me" not in refused.text
        async with app.bot.ctx.db.transaction() as session:
            assert list((await session.scalars(select(Patient))).all()) == []
            await install(
                session,
                content=PSEUDO_FILE.read_text(encoding="utf-8"),
                installed_by="Dr Ada",
                now=app.bot.ctx.clock.now(),
            )
        async with app.bot.ctx.db.transaction() as session:
            await load_installed(session)  # what the settings poll does on every instance
        form = await client.get(f"{app.base}/enroll")
        assert _options(form.text) == ["", "en", "en-XA"]
        assert ">Pseudo-locale (en-XA)</option>" in form.text
        done = await _enroll(client, app, "P-1", "en-XA")
        assert done.status_code == 200, done.text[:2000]
        default = await _enroll(client, app, "P-2", "")
        assert default.status_code == 200
        async with app.bot.ctx.db.transaction() as session:
            patients = (await session.scalars(select(Patient).order_by(Patient.ref))).all()
        assert [(p.ref, p.language) for p in patients] == [("P-1", "en-XA"), ("P-2", None)]
        await client.aclose()

"""The patients list a page at a time: filters and sorting kept across pages, the first, a
middle and the last page, and a page that does not exist answered, not crashed on."""

from __future__ import annotations

import html
import re

import pytest

from bot.console import patients
from bot.services.enrollment import enroll_patient
from sandbox import BotApiSandbox
from storage.states import Level
from tests.auxil.console import ConsoleBot, console_bot, join, patient_with_case, sign_in
from tests.auxil.databases import IsolatedDatabase

ADA = 7001


async def _enroll(app: ConsoleBot, refs: list[str]) -> None:
    ctx = app.bot.ctx
    async with ctx.db.transaction() as session:
        for ref in refs:
            await enroll_patient(
                session,
                clinic=ctx.clinic("north"),
                ref=ref,
                timezone="UTC",
                baseline_mood=6,
                emergency_contact=None,
                now=ctx.clock.now(),
                actor="cli",
            )


def _listed(page: str) -> list[str]:
    return re.findall(r'<th scope="row"><a [^>]*>([^<]+)</a>', page)


def _link(page: str, rel: str) -> str | None:
    found = re.search(rf'<a rel="{rel}" href="([^"]+)"', page)
    return html.unescape(found.group(1)) if found else None


async def test_the_list_pages_through_every_patient_keeping_sort_and_filter(
    sandbox: BotApiSandbox, test_db: IsolatedDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(patients, "PAGE_SIZE", 2)
    async with console_bot(sandbox, test_db) as app:
        await join(app, ADA, "Dr Ada")
        await _enroll(app, ["P-01", "P-02", "P-03", "P-04"])
        await patient_with_case(app, "P-05", level=Level.HIGH)
        await patient_with_case(app, "P-06", level=Level.LOW)
        await patient_with_case(app, "P-07", level=Level.MODERATE)
        client = await sign_in(app, ADA)
        base = f"{app.base}/patients"

        first = (await client.get(base, params={"sort": "ref"})).text
        assert _listed(first) == ["P-01", "P-02"]
        assert "7 of 7 patients match" in first and "Page 1 of 4: patients 1–2." in first
        assert _link(first, "prev") is None
        following = _link(first, "next")
        assert following == "?sort=ref&risk=&status=&page=2"

        second = await client.get(base + following)
        assert second.status_code == 200
        assert _listed(second.text) == ["P-03", "P-04"]
        assert _link(second.text, "prev") == "?sort=ref&risk=&status=&page=1"

        last = (await client.get(base, params={"sort": "ref", "page": "4"})).text
        assert _listed(last) == ["P-07"] and "Page 4 of 4: patients 7–7." in last
        assert _link(last, "next") is None and _link(last, "prev") is not None

        # A filter pages within what it keeps, and the links keep it and the order.
        risky = (await client.get(base, params={"risk": "low", "sort": "risk"})).text
        assert "3 of 7 patients match" in risky and "Page 1 of 2" in risky
        assert _listed(risky) == ["P-05", "P-07"]  # highest open case first
        following = _link(risky, "next")
        assert following == "?sort=risk&risk=low&status=&page=2"
        rest = (await client.get(base + following)).text
        assert _listed(rest) == ["P-06"] and _link(rest, "next") is None
        await client.aclose()


@pytest.mark.parametrize("asked", ["5", "0", "-1", "two", "9" * 20])
async def test_a_page_that_does_not_exist_says_so(
    sandbox: BotApiSandbox, test_db: IsolatedDatabase, monkeypatch: pytest.MonkeyPatch, asked: str
) -> None:
    monkeypatch.setattr(patients, "PAGE_SIZE", 2)
    async with console_bot(sandbox, test_db) as app:
        await join(app, ADA, "Dr Ada")
        await _enroll(app, ["P-01", "P-02", "P-03"])
        client = await sign_in(app, ADA)
        got = await client.get(f"{app.base}/patients", params={"page": asked, "risk": ""})
        assert got.status_code == 404
        text = html.unescape(got.text)
        assert f"There is no page {asked[:12]} of this list: it has 2 pages." in text
        assert _listed(got.text) == []
        assert "?sort=risk&risk=&status=&page=2" in text  # the last page, a link away
        await client.aclose()


async def test_an_empty_list_is_one_page(sandbox: BotApiSandbox, test_db: IsolatedDatabase) -> None:
    async with console_bot(sandbox, test_db) as app:
        await join(app, ADA, "Dr Ada")
        client = await sign_in(app, ADA)
        got = await client.get(f"{app.base}/patients", params={"page": "1"})
        assert got.status_code == 200
        assert "0 of 0 patients match" in got.text and "No patients match." in got.text
        assert _link(got.text, "next") is None and _link(got.text, "prev") is None
        await client.aclose()

"""A long timeline is shown a page of entries at a time, newest first: together the pages are
the whole timeline in order, each numbered as in the whole list, with links between them."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from bot.console import patients
from bot.services.enrollment import enroll_patient
from bot.services.messages import FREE_TEXT_ITEM
from sandbox import BotApiSandbox
from storage.crypto.sealed import owned
from storage.models import Answer
from tests.auxil.console import console_bot, join, sign_in
from tests.auxil.databases import IsolatedDatabase

ADA = 7001


def _written(page: str) -> list[str]:
    return re.findall(r"<blockquote>(note \d+)</blockquote>", page)


def _link(page: str, rel: str) -> str | None:
    found = re.search(rf'<a rel="{rel}" href="([^"]+)"', page)
    return found.group(1) if found else None


async def test_the_pages_together_are_the_whole_timeline(
    sandbox: BotApiSandbox, test_db: IsolatedDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(patients, "ENTRIES_PAGE", 3)
    async with console_bot(sandbox, test_db) as app:
        await join(app, ADA, "Dr Ada")
        ctx = app.bot.ctx
        now = ctx.clock.now()
        async with ctx.db.transaction() as session:
            patient, _ = await enroll_patient(
                session,
                clinic=ctx.clinic("north"),
                ref="P-1",
                timezone="UTC",
                baseline_mood=6,
                emergency_contact=None,
                now=now,
                actor="cli",
            )
            assert patient.id is not None
            for k in range(7):  # note 6 the newest
                session.add(
                    Answer(
                        patient_id=patient.id,
                        item_id=FREE_TEXT_ITEM,
                        value=owned(patient.id, f"note {k}"),
                        instrument_id="aftercare-checkin",
                        instrument_version="1",
                        answered_at=now - timedelta(hours=10 - k),
                    )
                )
        client = await sign_in(app, ADA)
        base = f"{app.base}/patients/P-1"
        first = (await client.get(base)).text
        assert _written(first) == ["note 6", "note 5", "note 4"]
        assert "Entries 1–3 of 7, newest first." in first
        assert '<ol class="timeline" reversed start="7">' in first
        assert _link(first, "prev") is None
        shown = _written(first)
        following = _link(first, "next")
        while following is not None:
            assert following.startswith("?page=")
            got = await client.get(base + following)
            assert got.status_code == 200
            shown += _written(got.text)
            last, following = got.text, _link(got.text, "next")
        assert shown == [f"note {k}" for k in range(6, -1, -1)]  # all, in order, once
        assert "Entries 7–7 of 7, newest first." in last
        assert '<ol class="timeline" reversed start="1">' in last
        assert _link(last, "prev") == "?page=2#timeline-title"
        beyond = (await client.get(base, params={"page": "9"})).text  # the newest instead
        assert _written(beyond) == ["note 6", "note 5", "note 4"]
        await client.aclose()


async def test_a_short_timeline_has_no_pages(
    sandbox: BotApiSandbox, test_db: IsolatedDatabase
) -> None:
    async with console_bot(sandbox, test_db) as app:
        await join(app, ADA, "Dr Ada")
        ctx = app.bot.ctx
        async with ctx.db.transaction() as session:
            await enroll_patient(
                session,
                clinic=ctx.clinic("north"),
                ref="P-1",
                timezone="UTC",
                baseline_mood=6,
                emergency_contact=None,
                now=ctx.clock.now(),
                actor="cli",
            )
        client = await sign_in(app, ADA)
        page = (await client.get(f"{app.base}/patients/P-1")).text
        assert "Pages of the timeline" not in page and "Entries " not in page
        await client.aclose()

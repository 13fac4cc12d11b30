"""Retention in the console settings (`[clinics.retention]`): the periods and the nightly run's
time previewed and saved into the stored settings, an empty period kept as unset, a records
period shorter than the words' refused beside its field, and the fields read-only to
non-admins."""

from __future__ import annotations

import json
import re
from datetime import time

from sqlalchemy import select

from sandbox import BotApiSandbox
from storage.models import ClinicSettings
from tests.auxil.console import console_bot, join, sign_in
from tests.auxil.databases import IsolatedDatabase
from tests.auxil.harness import make_clinics
from tests.console.test_settings_routes import BEN, CLINICS, FORM, _admin, _versions, posted

FIELDS = ("retention.words_days", "retention.records_days", "retention.run_at")
CHANGE = {
    "retention__words_days": "30",
    "retention__records_days": "365",
    "retention__run_at": "04:15",
}


async def test_the_retention_fields_are_previewed_and_saved(
    sandbox: BotApiSandbox, test_db: IsolatedDatabase
) -> None:
    async with console_bot(sandbox, test_db, clinics=make_clinics(CLINICS)) as app:
        ctx = app.bot.ctx
        client, csrf = await _admin(app)
        page = await client.get(f"{app.base}/settings")
        assert 'id="retention"' in page.text and "aftercare retention preview" in page.text
        assert 'name="retention.words_days" value=""' in page.text, "unset: an empty field"
        assert 'name="retention.run_at" value="03:30"' in page.text

        north = ctx.clinic("north")
        previewed = await client.post(
            f"{app.base}/settings",
            headers=FORM,
            content=posted(north, csrf, 1, action="preview", **CHANGE),
        )
        assert previewed.status_code == 200, previewed.text[:500]
        changes = re.search(r'<ul id="preview-changes">(.*?)</ul>', previewed.text, re.S)
        assert changes, previewed.text[:800]
        listed = changes.group(1)
        assert "<strong>Erase free text and contacts after</strong>: none → 30 days" in listed
        assert "<strong>Delete structured records after</strong>: none → 365 days" in listed
        assert "<strong>Nightly retention run at</strong>: 03:30 → 04:15" in listed
        assert await _versions(app) == [1], "a preview saves nothing"

        saved = await client.post(
            f"{app.base}/settings",
            headers=FORM,
            content=posted(north, csrf, 1, action="save", **CHANGE),
        )
        assert saved.status_code == 303, saved.text[:800]
        retention = ctx.clinic("north").retention
        assert (retention.words_days, retention.records_days) == (30, 365)
        assert retention.run_at == time(4, 15)
        async with ctx.db.transaction() as session:
            stored = await session.scalar(
                select(ClinicSettings.settings).where(
                    ClinicSettings.clinic_id == "north", ClinicSettings.version == 2
                )
            )
        assert stored is not None
        assert json.loads(stored)["retention"] == {
            "words_days": 30,
            "records_days": 365,
            "run_at": "04:15:00",
        }
        shown = await client.get(f"{app.base}/settings")
        assert 'name="retention.words_days" value="30"' in shown.text
        assert 'name="retention.run_at" value="04:15"' in shown.text

        emptied = await client.post(
            f"{app.base}/settings",
            headers=FORM,
            content=posted(
                ctx.clinic("north"),
                csrf,
                2,
                action="save",
                retention__words_days="",
                retention__records_days=" ",
            ),
        )
        assert emptied.status_code == 303, emptied.text[:800]
        retention = ctx.clinic("north").retention
        assert (retention.words_days, retention.records_days) == (None, None)
        assert retention.run_at == time(4, 15)
        assert await _versions(app) == [1, 2, 3]
        await client.aclose()


async def test_empty_periods_stay_unset_when_other_settings_are_saved(
    sandbox: BotApiSandbox, test_db: IsolatedDatabase
) -> None:
    async with console_bot(sandbox, test_db, clinics=make_clinics(CLINICS)) as app:
        ctx = app.bot.ctx
        client, csrf = await _admin(app)
        saved = await client.post(
            f"{app.base}/settings",
            headers=FORM,
            content=posted(ctx.clinic("north"), csrf, 1, action="save", name="North Care"),
        )
        assert saved.status_code == 303, saved.text[:800]
        north = ctx.clinic("north")
        assert north.name == "North Care"
        assert (north.retention.words_days, north.retention.records_days) == (None, None)
        assert north.retention.run_at == time(3, 30)
        await client.aclose()


async def test_bad_retention_is_refused_beside_its_field_and_nothing_is_saved(
    sandbox: BotApiSandbox, test_db: IsolatedDatabase
) -> None:
    async with console_bot(sandbox, test_db, clinics=make_clinics(CLINICS)) as app:
        ctx = app.bot.ctx
        client, csrf = await _admin(app)
        north = ctx.clinic("north")
        cases = [
            (
                {"retention__words_days": "30", "retention__records_days": "10"},
                "retention-records_days",
                "must be at least words_days",
            ),
            ({"retention__words_days": "a month"}, "retention-words_days", "enter a whole number"),
            ({"retention__records_days": "0"}, "retention-records_days", "at least 1 day"),
            ({"retention__words_days": "36501"}, "retention-words_days", "at most 36500 days"),
            ({"retention__run_at": "25:00"}, "retention-run_at", "enter a time such as 22:00"),
        ]
        for change, field, message in cases:
            answer = await client.post(
                f"{app.base}/settings",
                headers=FORM,
                content=posted(north, csrf, 1, action="save", **change),
            )
            assert answer.status_code == 400, (change, answer.text[:300])
            beside = re.search(
                rf'<span class="field-error" id="err-{field}"[^>]*>(.*?)</span>', answer.text
            )
            assert beside and message in beside.group(1), (change, field)
            assert f'aria-describedby="err-{field}"' in answer.text, change
        assert await _versions(app) == [1]
        assert ctx.clinic("north").retention == north.retention
        await client.aclose()


async def test_a_non_admin_sees_the_retention_fields_disabled(
    sandbox: BotApiSandbox, test_db: IsolatedDatabase
) -> None:
    async with console_bot(sandbox, test_db, clinics=make_clinics(CLINICS)) as app:
        await join(app, BEN, "Ben")
        ben = await sign_in(app, BEN)
        page = await ben.get(f"{app.base}/settings")
        assert page.status_code == 200
        for name in FIELDS:
            found = re.search(rf'<input [^>]*name="{re.escape(name)}"[^>]*>', page.text)
            assert found and " disabled" in found.group(0), name
        await ben.aclose()

"""Export in the console: admins only, CSRF, a bad date shown beside its field, a ZIP of the
CSV files of the viewer's clinic only, free text only when ticked, every download audited."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from datetime import timedelta

import httpx
from sqlalchemy import select

from sandbox import BotApiSandbox
from storage.models import AuditEvent, Clinician
from tests.auxil.console import ConsoleBot, console_bot, csrf_of, join, patient_with_case, sign_in
from tests.auxil.databases import IsolatedDatabase
from tests.auxil.wall_clock import clock_at

# Noon in the North clinic's zone, whatever the hour: the file's date and "since today" name
# the day the case was raised on.
NOON, ZONE = "12:00", "America/New_York"

ADMIN, BEN, SOL = 7001, 7002, 7101  # an admin and a clinician at North, an admin at South
QUOTE = "I keep thinking about it"  # the case's quote, from patient_with_case


async def _exports(app: ConsoleBot) -> list[AuditEvent]:
    async with app.bot.ctx.db.transaction() as session:
        rows = await session.scalars(select(AuditEvent).where(AuditEvent.event == "export.csv"))
        return list(rows.all())


def _files(response: httpx.Response) -> dict[str, list[dict[str, str]]]:
    with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
        files = {}
        for name in archive.namelist():
            with archive.open(name) as raw:
                text = io.TextIOWrapper(raw, encoding="utf-8", newline="")
                files[name] = list(csv.DictReader(text))
    return files


async def test_an_admin_downloads_the_clinics_files_and_it_is_audited(
    sandbox: BotApiSandbox, test_db: IsolatedDatabase
) -> None:
    async with console_bot(sandbox, test_db, clock=clock_at(NOON, ZONE)) as app:
        await join(app, ADMIN, "Admin Ada")
        await join(app, SOL, "Admin Sol", clinic="south")
        _, case = await patient_with_case(app, "NORTH-1")
        await patient_with_case(app, "SOUTH-1", clinic="south")
        client = await sign_in(app, ADMIN)
        form = await client.get(f"{app.base}/export")
        assert form.status_code == 200 and 'id="export-form"' in form.text
        csrf = csrf_of(form.text)
        # Without the token: refused, nothing exported.
        refused = await client.post(f"{app.base}/export", data={"since": ""})
        assert refused.status_code == 403 and await _exports(app) == []
        # A bad date, or one after now: shown beside the field, the value kept, nothing exported.
        today = app.bot.ctx.clock.now().astimezone(app.bot.ctx.clinic("north").zone)
        tomorrow = today + timedelta(days=1)
        for since, message in [
            ("31/12/2025", "Not a date"),
            ("9999-12-31T23:59", "too far in the past or future"),  # past year 9999 in UTC
            (f"{tomorrow:%Y-%m-%d}", f"That is after now (today is {today:%a %d %b %Y} in"),
            (f"{today:%Y-%m-%d}T13:00", "the export would be empty"),  # an hour from now
        ]:
            bad = await client.post(f"{app.base}/export", data={"csrf": csrf, "since": since})
            assert bad.status_code == 400, since
            assert 'id="err-since"' in bad.text and message in bad.text
            assert f'value="{since}"' in bad.text and await _exports(app) == []
            # The GOV.UK error summary at the top names the field and links to it.
            assert 'id="error-summary"' in bad.text and '<a href="#f-since">Since: ' in bad.text
            assert bad.text.index('id="error-summary"') < bad.text.index('id="export-form"')
        done = await client.post(f"{app.base}/export", data={"csrf": csrf, "since": ""})
        assert done.status_code == 200
        assert done.headers["content-type"] == "application/zip"
        assert done.headers["content-disposition"] == (
            f'attachment; filename="aftercare-north-{today:%Y-%m-%d}.zip"'
        )
        assert done.headers["cache-control"] == "no-store"
        files = _files(done)
        assert sorted(files) == [
            "cases.csv",
            "checkins.csv",
            "infusions.csv",
            "messages.csv",
            "patients.csv",
            "safety_plans.csv",
        ]
        assert [p["patient_ref"] for p in files["patients.csv"]] == ["NORTH-1"]
        (row,) = files["cases.csv"]
        assert (row["case_id"], row["patient_ref"], row["level"]) == (
            str(case.id),
            "NORTH-1",
            "high",
        )
        assert "quote" not in row and QUOTE not in json.dumps(files)
        assert "SOUTH-1" not in json.dumps(files)
        # With free text ticked, and since today: the quote is there.
        with_text = await client.post(
            f"{app.base}/export",
            data={"csrf": csrf, "since": f"{today:%Y-%m-%d}", "free_text": "yes"},
        )
        assert _files(with_text)["cases.csv"][0]["quote"] == QUOTE
        first, second = await _exports(app)
        assert (first.actor, first.clinic_id, first.patient_id) == (
            f"clinician:{await _clinician(app, 'Admin Ada')}",
            "north",
            None,
        )
        assert json.loads(first.detail) == {
            "since": None,
            "free_text": False,
            "one_patient": False,
            "rows": {
                "patients.csv": 1,
                "infusions.csv": 0,
                "checkins.csv": 0,
                "cases.csv": 1,
                "messages.csv": 0,
                "safety_plans.csv": 0,
            },
            "via": "console",
        }
        assert json.loads(second.detail)["free_text"] is True
        assert json.loads(second.detail)["since"] is not None
        await client.aclose()


async def _clinician(app: ConsoleBot, name: str) -> int:
    async with app.bot.ctx.db.transaction() as session:
        found = (await session.scalars(select(Clinician).where(Clinician.name == name))).one()
    assert found.id is not None
    return found.id


async def test_a_clinician_who_is_not_an_admin_cannot_export(
    sandbox: BotApiSandbox, test_db: IsolatedDatabase
) -> None:
    async with console_bot(sandbox, test_db) as app:
        await join(app, BEN, "Dr Ben")
        await patient_with_case(app, "NORTH-1")
        client = await sign_in(app, BEN)
        csrf = csrf_of((await client.get(f"{app.base}/")).text)
        seen = await client.get(f"{app.base}/export")
        assert seen.status_code == 403 and "Only an admin" in seen.text
        posted = await client.post(f"{app.base}/export", data={"csrf": csrf, "since": ""})
        assert posted.status_code == 403 and posted.headers["content-type"].startswith("text/html")
        assert await _exports(app) == []
        await client.aclose()
        async with httpx.AsyncClient() as anonymous:
            nobody = await anonymous.post(f"{app.base}/export", data={"since": ""})
        assert nobody.status_code == 401

"""One patient's CSV record from the console (issue 31, export before erasure): the erase page
offers it (free text included, with the CSRF token); posting it returns a ZIP of that patient's
rows only, audited as one patient; without the token, for another clinic's patient or an
unknown reference, or by a clinician who is not an admin: refused, nothing exported."""

from __future__ import annotations

import csv
import io
import json
import re
import zipfile

import httpx
from sqlalchemy import select

from sandbox import BotApiSandbox
from storage.models import AuditEvent
from tests.auxil.console import ConsoleBot, console_bot, csrf_of, join, patient_with_case, sign_in
from tests.auxil.databases import IsolatedDatabase

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


def _hidden(form: str) -> dict[str, str]:
    """The hidden fields of the erase page's CSV form, as a browser would post them."""
    start = form.index('id="export-csv-first-form"')
    block = form[start : form.index("</form>", start)]
    return dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', block))


async def test_the_erase_page_offers_the_patients_csv_record_and_it_holds_only_them(
    sandbox: BotApiSandbox, test_db: IsolatedDatabase
) -> None:
    async with console_bot(sandbox, test_db) as app:
        await join(app, ADMIN, "Admin Ada")
        await join(app, SOL, "Admin Sol", clinic="south")
        await patient_with_case(app, "NORTH-1")
        await patient_with_case(app, "NORTH-2")
        await patient_with_case(app, "SOUTH-1", clinic="south")
        client = await sign_in(app, ADMIN)
        page = await client.get(f"{app.base}/patients/NORTH-1/erase")
        assert page.status_code == 200
        assert 'action="/console/export" id="export-csv-first-form"' in page.text
        assert "Download NORTH-1's record (CSV, free text included)" in page.text
        fields = _hidden(page.text)
        assert fields == {"csrf": csrf_of(page.text), "csv_patient": "NORTH-1", "free_text": "yes"}
        # Without the token: refused as every form is, nothing exported.
        no_token = {k: v for k, v in fields.items() if k != "csrf"}
        refused = await client.post(f"{app.base}/export", data=no_token)
        assert refused.status_code == 403 and await _exports(app) == []
        done = await client.post(f"{app.base}/export", data=fields)
        assert done.status_code == 200, done.text[:500]
        assert done.headers["content-type"] == "application/zip"
        assert 'filename="aftercare-north-NORTH-1-' in done.headers["content-disposition"]
        files = _files(done)
        assert len(files) == 6
        for name, rows in files.items():
            assert {row["patient_ref"] for row in rows} <= {"NORTH-1"}, name
        assert [row["patient_ref"] for row in files["patients.csv"]] == ["NORTH-1"]
        assert [row["quote"] for row in files["cases.csv"]] == [QUOTE]  # free text included
        (event,) = await _exports(app)
        detail = json.loads(event.detail)
        assert detail["one_patient"] is True and detail["free_text"] is True
        assert "NORTH-1" not in event.detail
        # Another clinic's patient, or a reference nobody has: refused beside the field.
        for ref in ("SOUTH-1", "NOBODY-9"):
            bad = await client.post(f"{app.base}/export", data={**fields, "csv_patient": ref})
            assert bad.status_code == 400 and bad.headers["content-type"].startswith("text/html")
            assert 'id="err-csv_patient"' in bad.text
            assert f"No patient of this clinic has the reference {ref}." in bad.text
            assert f'value="{ref}"' in bad.text
        assert len(await _exports(app)) == 1
        # The export page's CSV form offers the same choice.
        form = await client.get(f"{app.base}/export")
        assert 'name="csv_patient"' in form.text
        await client.aclose()


async def test_a_clinician_who_is_not_an_admin_cannot_export_a_patients_record(
    sandbox: BotApiSandbox, test_db: IsolatedDatabase
) -> None:
    async with console_bot(sandbox, test_db) as app:
        await join(app, BEN, "Dr Ben")
        await patient_with_case(app, "NORTH-1")
        client = await sign_in(app, BEN)
        csrf = csrf_of((await client.get(f"{app.base}/")).text)
        data = {"csrf": csrf, "csv_patient": "NORTH-1", "free_text": "yes"}
        posted = await client.post(f"{app.base}/export", data=data)
        assert posted.status_code == 403 and await _exports(app) == []
        await client.aclose()

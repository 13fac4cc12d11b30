"""The FHIR export in the console: admins only, CSRF, an unknown patient or a bad date shown
beside its field, a valid R4B Bundle of the viewer's clinic only (one patient when asked, PUTs
in transaction mode), every download audited with counts and `via: console`."""

from __future__ import annotations

import json
from datetime import timedelta

import httpx
from fhir.resources.R4B.bundle import Bundle
from sqlalchemy import select

from sandbox import BotApiSandbox
from storage.models import AuditEvent, Clinician
from tests.auxil.console import ConsoleBot, console_bot, csrf_of, join, patient_with_case, sign_in
from tests.auxil.databases import IsolatedDatabase
from tests.auxil.wall_clock import clock_at

# Noon in the North clinic's zone: the file's date is the clinic's today.
NOON, ZONE = "12:00", "America/New_York"

ADMIN, BEN, SOL = 7001, 7002, 7101  # an admin and a clinician at North, an admin at South
QUOTE = "I keep thinking about it"  # the case's quote, from patient_with_case


async def _exports(app: ConsoleBot) -> list[AuditEvent]:
    async with app.bot.ctx.db.transaction() as session:
        rows = await session.scalars(
            select(AuditEvent).where(AuditEvent.event == "export.fhir").order_by(AuditEvent.id)
        )
        return list(rows.all())


async def _clinician(app: ConsoleBot, name: str) -> int:
    async with app.bot.ctx.db.transaction() as session:
        found = (await session.scalars(select(Clinician).where(Clinician.name == name))).one()
    assert found.id is not None
    return found.id


def _bundle(response: httpx.Response) -> Bundle:
    assert response.status_code == 200, response.text[:500]
    return Bundle.model_validate_json(response.content)


def _refs(bundle: Bundle) -> list[str]:
    """The patients' references in the Bundle."""
    refs = []
    for entry in bundle.entry or []:
        resource = entry.resource
        if resource.get_resource_type() == "Patient":
            refs.extend(i.value for i in resource.identifier or [])
    return sorted(refs)


async def test_an_admin_downloads_the_clinics_bundle_and_it_is_audited(
    sandbox: BotApiSandbox, test_db: IsolatedDatabase
) -> None:
    async with console_bot(sandbox, test_db, clock=clock_at(NOON, ZONE)) as app:
        await join(app, ADMIN, "Admin Ada")
        await join(app, SOL, "Admin Sol", clinic="south")
        await patient_with_case(app, "NORTH-1")
        await patient_with_case(app, "NORTH-2")
        await patient_with_case(app, "SOUTH-1", clinic="south")
        client = await sign_in(app, ADMIN)
        form = await client.get(f"{app.base}/export")
        assert form.status_code == 200 and 'id="fhir-form"' in form.text
        assert "Download FHIR bundle (JSON)" in form.text
        csrf = csrf_of(form.text)
        # Without the token: refused, nothing exported.
        refused = await client.post(f"{app.base}/export/fhir", data={"patient": ""})
        assert refused.status_code == 403 and await _exports(app) == []

        done = await client.post(f"{app.base}/export/fhir", data={"csrf": csrf})
        today = app.bot.ctx.clock.now().astimezone(app.bot.ctx.clinic("north").zone)
        assert done.headers["content-type"].startswith("application/fhir+json")
        assert done.headers["content-disposition"] == (
            f'attachment; filename="aftercare-north-fhir-{today:%Y-%m-%d}.json"'
        )
        assert done.headers["cache-control"] == "no-store"
        bundle = _bundle(done)
        assert bundle.type == "collection"
        assert _refs(bundle) == ["NORTH-1", "NORTH-2"]  # south's patient never
        assert "SOUTH-1" not in done.text and QUOTE not in done.text
        kinds = [e.resource.get_resource_type() for e in bundle.entry or []]
        assert kinds.count("Flag") == 2

        # One patient, as a transaction: conditional PUTs, that patient's resources only.
        one = await client.post(
            f"{app.base}/export/fhir",
            data={
                "csrf": csrf,
                "patient": "NORTH-2",
                "fhir_since": f"{today:%Y-%m-%d}",
                "bundle_type": "transaction",
            },
        )
        bundle = _bundle(one)
        assert bundle.type == "transaction" and _refs(bundle) == ["NORTH-2"]
        assert "NORTH-1" not in one.text
        methods = {e.request.method for e in bundle.entry or [] if e.request is not None}
        assert methods == {"PUT"} and all(e.request for e in bundle.entry or [])

        first, second = await _exports(app)
        assert (first.actor, first.clinic_id, first.patient_id) == (
            f"clinician:{await _clinician(app, 'Admin Ada')}",
            "north",
            None,
        )
        assert json.loads(first.detail) == {
            "since": None,
            "one_patient": False,
            "transaction": False,
            "names": False,
            "resources": {"Flag": 2, "Patient": 2},
            "via": "console",
        }
        detail = json.loads(second.detail)
        assert detail["one_patient"] is True and detail["transaction"] is True
        assert detail["since"] is not None and detail["via"] == "console"
        assert "NORTH-2" not in second.detail  # counts and options, never a reference
        await client.aclose()


async def test_an_unknown_patient_or_a_bad_date_is_shown_beside_its_field(
    sandbox: BotApiSandbox, test_db: IsolatedDatabase
) -> None:
    async with console_bot(sandbox, test_db, clock=clock_at(NOON, ZONE)) as app:
        await join(app, ADMIN, "Admin Ada")
        await join(app, SOL, "Admin Sol", clinic="south")
        await patient_with_case(app, "NORTH-1")
        await patient_with_case(app, "SOUTH-1", clinic="south")
        client = await sign_in(app, ADMIN)
        csrf = csrf_of((await client.get(f"{app.base}/export")).text)
        today = app.bot.ctx.clock.now().astimezone(app.bot.ctx.clinic("north").zone)
        tomorrow = today + timedelta(days=1)
        for field, data, message in [
            ("patient", {"patient": "NOBODY-9"}, "No patient of this clinic has the reference"),
            ("patient", {"patient": "SOUTH-1"}, "No patient of this clinic"),  # another clinic's
            ("fhir_since", {"fhir_since": "31/12/2025"}, "Not a date"),
            ("fhir_since", {"fhir_since": f"{tomorrow:%Y-%m-%d}"}, "That is after now"),
        ]:
            bad = await client.post(
                f"{app.base}/export/fhir",
                data={"csrf": csrf, "bundle_type": "transaction", **data},
            )
            assert bad.status_code == 400, data
            assert bad.headers["content-type"].startswith("text/html")
            assert f'id="err-{field}"' in bad.text and message in bad.text
            (value,) = data.values()
            assert f'value="{value}"' in bad.text  # what was typed is kept
            assert 'value="transaction" id="f-bundle_type-transaction" checked' in bad.text
            assert f'<a href="#f-{field}">' in bad.text  # the error summary links to it
            assert bad.text.index('id="error-summary"') < bad.text.index('id="fhir-form"')
            assert await _exports(app) == []
        await client.aclose()


async def test_a_clinician_who_is_not_an_admin_cannot_export_fhir(
    sandbox: BotApiSandbox, test_db: IsolatedDatabase
) -> None:
    async with console_bot(sandbox, test_db) as app:
        await join(app, BEN, "Dr Ben")
        await patient_with_case(app, "NORTH-1")
        client = await sign_in(app, BEN)
        csrf = csrf_of((await client.get(f"{app.base}/")).text)
        posted = await client.post(f"{app.base}/export/fhir", data={"csrf": csrf})
        assert posted.status_code == 403 and posted.headers["content-type"].startswith("text/html")
        assert "Only an admin" in posted.text and "NORTH-1" not in posted.text
        assert await _exports(app) == []
        await client.aclose()

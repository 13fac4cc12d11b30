"""`aftercare export fhir`: the Bundle in --out, resources per type printed, an existing file
refused unless --force, a bad clinic, --since or --patient refused with one line, audited."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from pathlib import Path

from fhir.resources.R4B.bundle import Bundle
from sqlalchemy import select

from storage.crypto.keyring import open_database
from storage.models import Answer, AuditEvent, Checkin, Patient
from storage.states import CheckinKind, CheckinStatus, Level, PatientStatus
from tests.auxil.cli import MINIMAL_CLINIC, aftercare, cli_env
from tests.fhir.seed import T0


async def _patient_with_answers(url: str) -> None:
    db = open_database(url)
    try:
        async with db.transaction() as session:
            patient = Patient(
                clinic_id="north",
                ref="P-7",
                timezone="UTC",
                status=PatientStatus.ACTIVE,
                display_name="Pat Seven",
                created_at=T0,
            )
            session.add(patient)
            await session.flush()
            assert patient.id is not None
            checkin = Checkin(
                patient_id=patient.id,
                kind=CheckinKind.DAILY,
                nominal_at=T0,
                due_at=T0,
                status=CheckinStatus.COMPLETED,
                risk_level=Level.LOW,
                created_at=T0,
            )
            session.add(checkin)
            await session.flush()
            assert checkin.id is not None
            for n, (item, value) in enumerate((("mood", "4"), ("s1", "yes"), ("s2", "no"))):
                session.add(
                    Answer(
                        patient_id=patient.id,
                        checkin_id=checkin.id,
                        item_id=item,
                        value=value,
                        instrument_id="cssrs-screener-slc",
                        instrument_version="2008-01-14",
                        answered_at=T0 + timedelta(minutes=n),
                    )
                )
    finally:
        await db.dispose()


async def _audited(url: str) -> list[dict[str, object]]:
    db = open_database(url)
    try:
        async with db.transaction() as session:
            rows = await session.scalars(
                select(AuditEvent).where(AuditEvent.event == "export.fhir").order_by("id")
            )
            return [json.loads(e.detail) for e in rows.all()]
    finally:
        await db.dispose()


def test_export_fhir_writes_the_bundle(tmp_path: Path) -> None:
    (tmp_path / "clinic.toml").write_text(MINIMAL_CLINIC, encoding="utf-8")
    assert aftercare(tmp_path, "db", "upgrade").returncode == 0
    url = cli_env(tmp_path)["AFTERCARE_DATABASE_URL"]
    empty = aftercare(tmp_path, "export", "fhir", "--clinic", "north", "--out", "empty.json")
    assert empty.returncode == 0, empty.stderr  # the clinic row exists from now on
    assert "entry" not in json.loads((tmp_path / "empty.json").read_text(encoding="utf-8"))
    asyncio.run(_patient_with_answers(url))
    out = tmp_path / "deep" / "bundle.json"
    done = aftercare(tmp_path, "export", "fhir", "--clinic", "north", "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        f"{out}: 4 resources",
        "  Observation: 2",
        "  Patient: 1",
        "  QuestionnaireResponse: 1",
    ]
    bundle = Bundle.model_validate_json(out.read_text(encoding="utf-8"))
    assert bundle.type == "collection"
    assert "Pat Seven" not in out.read_text(encoding="utf-8")
    assert not list(out.parent.glob(".*.partial"))

    again = aftercare(tmp_path, "export", "fhir", "--clinic", "north", "--out", str(out))
    assert again.returncode == 1 and "--force" in again.stderr
    forced = aftercare(
        tmp_path,
        *("export", "fhir", "--clinic", "north", "--out", str(out), "--force"),
        *("--transaction", "--patient", "P-7", "--since", "2026-05-01"),
    )
    assert forced.returncode == 0, forced.stderr
    data = json.loads(out.read_text(encoding="utf-8"))
    assert data["type"] == "transaction"
    assert (
        data["entry"][0]["request"]["url"] == "Patient?identifier=urn:aftercare:north:patient|P-7"
    )
    audited = asyncio.run(_audited(url))
    assert [a["transaction"] for a in audited] == [False, False, True]
    assert audited[-1]["resources"] == {"Observation": 2, "Patient": 1, "QuestionnaireResponse": 1}


def test_export_fhir_refuses_bad_options(tmp_path: Path) -> None:
    (tmp_path / "clinic.toml").write_text(MINIMAL_CLINIC, encoding="utf-8")
    assert aftercare(tmp_path, "db", "upgrade").returncode == 0
    base = ("export", "fhir", "--out", "b.json")
    clinic = aftercare(tmp_path, *base, "--clinic", "nowhere")
    assert clinic.returncode == 2 and "known: north" in clinic.stderr
    since = aftercare(tmp_path, *base, "--clinic", "north", "--since", "soon")
    assert since.returncode == 2 and "--since" in since.stderr
    patient = aftercare(tmp_path, *base, "--clinic", "north", "--patient", "P-404")
    assert patient.returncode == 2 and "P-404" in patient.stderr
    assert not (tmp_path / "b.json").exists()
    assert not list(tmp_path.glob(".*.partial"))

"""The CSV export of one patient (issue 31, the record to take before an erasure): every file
holds that patient's rows only, with their free text when asked; a reference the clinic does
not have (unknown, or another clinic's patient) is refused with nothing written or audited;
the audit says it was one patient, never which."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from bot.domain.safety_plan import read_plan
from bot.services.clinic.export import (
    FILES,
    DirectoryTarget,
    UnknownPatient,
    export_clinic,
    export_zip,
    zip_name,
)
from bot.services.safety.plans import save_plan
from storage.engine import Database
from storage.models import (
    Answer,
    AuditEvent,
    Case,
    CaseMessage,
    Checkin,
    Infusion,
    Patient,
)
from storage.states import (
    CLI,
    CaseStatus,
    CaseTrigger,
    CheckinKind,
    CheckinStatus,
    Level,
    MessageDirection,
    MessageStatus,
)
from tests.services.test_export import NOW, T0, _known, read_dir

UTC = ZoneInfo("UTC")
WORDS = {"P-1": "north one's words", "P-2": "north two's words", "S-9": "south's words"}


async def _second_patient(db: Database) -> None:
    """North's P-2 with an infusion, an answered check-in and a case; a message in each
    patient's case thread (South's too) and a safety plan for every patient."""
    async with db.transaction() as session:
        two = Patient(
            clinic_id="north", ref="P-2", timezone="UTC", display_name="Bob Second", created_at=T0
        )
        session.add(two)
        await session.flush()
        assert two.id is not None
        session.add(
            Infusion(
                patient_id=two.id,
                ended_at=T0,
                protocol="standard",
                recorded_at=T0,
                recorded_by="cli",
            )
        )
        checkin = Checkin(
            patient_id=two.id,
            kind=CheckinKind.ADHOC,
            nominal_at=T0,
            due_at=T0 + timedelta(hours=2),
            status=CheckinStatus.COMPLETED,
            created_at=T0,
        )
        session.add(checkin)
        await session.flush()
        assert checkin.id is not None
        session.add(
            Answer(
                patient_id=two.id,
                checkin_id=checkin.id,
                item_id="note",
                value="Bob's note",
                instrument_id="x",
                instrument_version="1",
                answered_at=T0 + timedelta(hours=2),
            )
        )
        session.add(
            Case(
                clinic_id="north",
                patient_id=two.id,
                level=Level.LOW,
                trigger=CaseTrigger.MESSAGE,
                reason="north two reason",
                quote="Bob's quote",
                status=CaseStatus.OPEN,
                opened_at=T0 + timedelta(hours=3),
                ladder_started_at=T0 + timedelta(hours=3),
            )
        )
        await session.flush()
        patients = {p.ref: p for p in (await session.scalars(select(Patient))).all()}
        steps = {f"step{n}": "" for n in range(1, 7)}
        for ref, patient in patients.items():
            assert patient.id is not None
            (case,) = (
                await session.scalars(select(Case).where(Case.patient_id == patient.id))
            ).all()
            assert case.id is not None
            session.add(
                CaseMessage(
                    case_id=case.id,
                    clinic_id=patient.clinic_id,
                    patient_id=patient.id,
                    direction=MessageDirection.FROM_PATIENT,
                    text=WORDS[ref],
                    status=MessageStatus.RECEIVED,
                    at=T0 + timedelta(days=2),
                )
            )
            plan, errors = read_plan({**steps, "step1": f"{ref} sign"}, country_code="1")
            assert plan is not None, errors
            await save_plan(session, patient=patient, steps=plan, actor=CLI, now=NOW)


async def _export_one(db: Database, out: Path, ref: str) -> dict[str, list[dict[str, str]]]:
    target = DirectoryTarget(out, force=False)
    async with db.transaction() as session:
        await export_clinic(
            session,
            clinic_id="north",
            since=None,
            free_text=True,
            opener=target.open,
            actor=CLI,
            now=NOW,
            via="cli",
            patient_ref=ref,
        )
    target.finish()
    return read_dir(out)


async def test_one_patients_export_holds_only_their_rows_in_every_file(
    db: Database, tmp_path: Path
) -> None:
    await _known(db)
    await _second_patient(db)
    for ref, name, note, quote, checkins in (
        ("P-1", "Alice Example", "Feeling calm", "'=I want it to stop", 3),
        ("P-2", "Bob Second", "Bob's note", "Bob's quote", 1),
    ):
        files = await _export_one(db, tmp_path / ref, ref)
        for file in FILES:  # every file has rows, and only this patient's
            assert files[file], (ref, file)
            assert {row["patient_ref"] for row in files[file]} == {ref}, (ref, file)
        assert [row["display_name"] for row in files["patients.csv"]] == [name]
        assert len(files["checkins.csv"]) == checkins
        assert note in [row["note"] for row in files["checkins.csv"]]
        assert [row["quote"] for row in files["cases.csv"]] == [quote]
        assert [row["text"] for row in files["messages.csv"]] == [WORDS[ref]]
        assert f"{ref} sign" in [row["text"] for row in files["safety_plans.csv"]]


async def test_an_unknown_or_other_clinics_patient_is_refused_and_nothing_written(
    db: Database, tmp_path: Path
) -> None:
    await _known(db)
    await _second_patient(db)
    for ref in ("P-404", "S-9", ""):  # S-9 is South's
        out = tmp_path / (ref or "empty")
        with pytest.raises(UnknownPatient, match="no patient"):
            await _export_one(db, out, ref)
        assert not out.exists()
        with pytest.raises(UnknownPatient):
            async with db.transaction() as session:
                await export_zip(
                    session,
                    clinic_id="north",
                    since=None,
                    free_text=True,
                    actor=CLI,
                    now=NOW,
                    patient_ref=ref,
                )
    async with db.transaction() as session:
        events = (
            await session.scalars(select(AuditEvent).where(AuditEvent.event == "export.csv"))
        ).all()
    assert events == []


async def test_one_patients_zip_is_audited_as_one_patient_without_naming_them(
    db: Database, tmp_path: Path
) -> None:
    await _known(db)
    await _second_patient(db)
    async with db.transaction() as session:
        data, exported = await export_zip(
            session,
            clinic_id="north",
            since=None,
            free_text=True,
            actor=CLI,
            now=NOW,
            patient_ref="P-2",
        )
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert archive.namelist() == list(FILES)
        assert "Alice Example" not in archive.read("patients.csv").decode()
    assert exported.rows["patients.csv"] == 1
    async with db.transaction() as session:
        (event,) = (
            await session.scalars(select(AuditEvent).where(AuditEvent.event == "export.csv"))
        ).all()
    detail = json.loads(event.detail)
    assert detail["one_patient"] is True and detail["free_text"] is True
    assert detail["rows"] == exported.rows and detail["via"] == "console"
    assert "P-2" not in event.detail and event.patient_id is None
    assert zip_name("north", NOW, UTC, "P-2/x") == "aftercare-north-P-2_x-2026-05-11.zip"

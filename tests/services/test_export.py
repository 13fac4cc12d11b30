"""The CSV export against known data: each file read back with `csv.DictReader` carries exactly
what is stored; free text only when asked; `since`; another clinic's rows never; audited."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from bot.domain.instruments import cssrs
from bot.domain.safety_plan import read_plan
from bot.services.clinic.export import (
    FILES,
    DirectoryTarget,
    ExportError,
    export_clinic,
    export_zip,
    parse_since,
)
from bot.services.safety.plans import save_plan
from storage.engine import Database
from storage.models import (
    Answer,
    AuditEvent,
    Case,
    Checkin,
    Clinic,
    Clinician,
    Infusion,
    Page,
    Patient,
)
from storage.states import (
    CLI,
    CaseStatus,
    CaseTrigger,
    CheckinKind,
    CheckinStatus,
    InfusionStatus,
    Level,
    PageStatus,
    PatientStatus,
)

T0 = datetime(2026, 5, 1, 10, 0, tzinfo=UTC)
NOW = T0 + timedelta(days=10)
FIRST = {"mood": "7", "s1": "no", "s2": "no", "s6": "no", "rf": "no", "note": "Feeling calm"}
SECOND = {
    "mood": "2",
    "s1": "yes",
    "s2": "yes",
    "s3": "yes",
    "s4": "yes",
    "s5": "no",
    "s6": "no",
    "note": "skip",
}
CSSRS = cssrs()
ITEMS = ("mood", "s1", "s2", "s3", "s4", "s5", "s6", "rf")


async def _known(db: Database) -> dict[str, int]:
    """North: patient P-1 with an infusion, two answered check-ins and a planned one, a case
    paged (a failed page first) and acknowledged; South: a patient with the same kinds."""
    ids: dict[str, int] = {}
    async with db.transaction() as session:
        for cid in ("north", "south"):
            session.add(Clinic(id=cid, name=cid, timezone="Europe/Berlin", updated_at=T0))
        await session.flush()
        ada = Clinician(
            clinic_id="north", name="Dr Ada", telegram_user_id=1, chat_id=1, created_at=T0
        )
        session.add(ada)
        patient = Patient(
            clinic_id="north",
            ref="P-1",
            timezone="Europe/Berlin",
            baseline_mood=6,
            display_name="Alice Example",
            emergency_contact="+1 555 0199",
            protocol="standard",
            status=PatientStatus.ACTIVE,
            consented_at=T0 - timedelta(days=1, hours=1),
            created_at=T0 - timedelta(days=2),
        )
        other = Patient(
            clinic_id="south", ref="S-9", timezone="UTC", display_name="Sam", created_at=T0
        )
        session.add_all([patient, other])
        await session.flush()
        assert patient.id and other.id and ada.id
        ids.update(patient=patient.id, ada=ada.id)
        infusion = Infusion(
            patient_id=patient.id,
            ended_at=T0,
            protocol="standard",
            recorded_at=T0 + timedelta(minutes=3),
            recorded_by="clinician:1",
        )
        south_infusion = Infusion(
            patient_id=other.id, ended_at=T0, protocol="standard", recorded_at=T0, recorded_by="cli"
        )
        session.add_all([infusion, south_infusion])
        await session.flush()
        checkins = []
        for n, (kind, due, status, level) in enumerate(
            [
                (CheckinKind.OFFSET, T0 + timedelta(hours=4), CheckinStatus.COMPLETED, Level.NONE),
                (CheckinKind.DAILY, T0 + timedelta(days=1), CheckinStatus.COMPLETED, Level.HIGH),
                (CheckinKind.DAILY, T0 + timedelta(days=5), CheckinStatus.SCHEDULED, Level.NONE),
            ]
        ):
            checkin = Checkin(
                patient_id=patient.id,
                infusion_id=infusion.id,
                kind=kind,
                offset_seconds=4 * 3600 if kind is CheckinKind.OFFSET else None,
                day=n if kind is CheckinKind.DAILY else None,
                asks_red_flags=n == 0,
                nominal_at=due,
                due_at=due,
                sent_at=due + timedelta(seconds=30) if n < 2 else None,
                status=status,
                risk_level=level,
                created_at=T0,
            )
            checkins.append(checkin)
        south_checkin = Checkin(
            patient_id=other.id,
            kind=CheckinKind.ADHOC,
            nominal_at=T0,
            due_at=T0 + timedelta(hours=4),
            status=CheckinStatus.COMPLETED,
            created_at=T0,
        )
        session.add_all([*checkins, south_checkin])
        await session.flush()
        for checkin, answers in zip(checkins, (FIRST, SECOND), strict=False):
            for minute, (item, value) in enumerate(answers.items(), start=1):
                session.add(
                    Answer(
                        patient_id=patient.id,
                        checkin_id=checkin.id,
                        item_id=item,
                        value=value,
                        instrument_id=CSSRS.id if item.startswith("s") else "x",
                        instrument_version=CSSRS.version if item.startswith("s") else "1",
                        answered_at=checkin.due_at + timedelta(minutes=minute),
                        language=None if checkin is checkins[0] else "es",  # before / after 0011
                    )
                )
        session.add(
            Answer(
                patient_id=other.id,
                checkin_id=south_checkin.id,
                item_id="mood",
                value="9",
                instrument_id="x",
                instrument_version="1",
                answered_at=T0 + timedelta(hours=4),
            )
        )
        opened = T0 + timedelta(days=1, minutes=5)
        case = Case(
            clinic_id="north",
            patient_id=patient.id,
            checkin_id=checkins[1].id,
            level=Level.HIGH,
            trigger=CaseTrigger.CHECKIN,
            reason="C-SSRS item 4 yes: some intention of acting",
            quote="=I want it to stop",
            status=CaseStatus.RESOLVED,
            opened_at=opened,
            ladder_started_at=opened,
            acknowledged_at=opened + timedelta(minutes=7, seconds=13, microseconds=900),
            acknowledged_by=ada.id,
            resolved_at=opened + timedelta(hours=1),
            resolved_by=ada.id,
            resolution_note="Called; safe at home",
        )
        south_case = Case(
            clinic_id="south",
            patient_id=other.id,
            level=Level.LOW,
            trigger=CaseTrigger.MESSAGE,
            reason="south reason",
            opened_at=opened,
            ladder_started_at=opened,
        )
        session.add_all([case, south_case])
        await session.flush()
        assert case.id and checkins[0].id and checkins[1].id and checkins[2].id and infusion.id
        for seconds, status in (
            (10, PageStatus.FAILED),
            (20, PageStatus.SENT),
            (300, PageStatus.SENT),
        ):
            session.add(
                Page(
                    case_id=case.id,
                    clinician_id=ada.id,
                    step=0,
                    status=status,
                    sent_at=opened + timedelta(seconds=seconds),
                )
            )
        ids.update(
            case=case.id,
            infusion=infusion.id,
            c1=checkins[0].id,
            c2=checkins[1].id,
            c3=checkins[2].id,
        )
    return ids


async def _export(
    db: Database, out: Path, *, since: datetime | None = None, free_text: bool = False
) -> dict[str, list[dict[str, str]]]:
    target = DirectoryTarget(out, force=False)
    target.check()
    async with db.transaction() as session:
        await export_clinic(
            session,
            clinic_id="north",
            since=since,
            free_text=free_text,
            opener=target.open,
            actor=CLI,
            now=NOW,
            via="cli",
        )
    target.finish()
    return read_dir(out)


def read_dir(out: Path) -> dict[str, list[dict[str, str]]]:
    files: dict[str, list[dict[str, str]]] = {}
    for name in FILES:
        with (out / name).open(encoding="utf-8", newline="") as stream:
            files[name] = list(csv.DictReader(stream))
    return files


async def test_the_files_carry_exactly_the_stored_values(db: Database, tmp_path: Path) -> None:
    ids = await _known(db)
    files = await _export(db, tmp_path / "out")
    assert files["patients.csv"] == [
        {
            "patient_ref": "P-1",
            "status": "active",
            "enrolled_at": "2026-04-29T10:00:00Z",
            "consented_at": "2026-04-30T09:00:00Z",
            "opted_out_at": "",
            "timezone": "Europe/Berlin",
            "protocol": "standard",
            "baseline_mood": "6",
        }
    ]
    assert files["infusions.csv"] == [
        {
            "infusion_id": str(ids["infusion"]),
            "patient_ref": "P-1",
            "ended_at": "2026-05-01T10:00:00Z",
            "protocol": "standard",
            "status": InfusionStatus.ACTIVE.value,
            "recorded_at": "2026-05-01T10:03:00Z",
            "recorded_by": "clinician:1",
        }
    ]
    first, second, planned = files["checkins.csv"]
    assert list(first) == [
        "checkin_id",
        "patient_ref",
        "infusion_id",
        "kind",
        "day",
        "offset_seconds",
        "due_at",
        "sent_at",
        "answered_at",
        "status",
        "risk_level",
        "language",
        "cssrs_version",
        *ITEMS,
    ]
    assert first == {
        "checkin_id": str(ids["c1"]),
        "patient_ref": "P-1",
        "infusion_id": str(ids["infusion"]),
        "kind": "offset",
        "day": "",
        "offset_seconds": "14400",
        "due_at": "2026-05-01T14:00:00Z",
        "sent_at": "2026-05-01T14:00:30Z",
        "answered_at": "2026-05-01T14:06:00Z",  # the last answer (the note)
        "status": "completed",
        "risk_level": "none",
        "language": "",
        "cssrs_version": CSSRS.version,  # items s1, s2, s6 answered
        **{item: FIRST.get(item, "") for item in ITEMS},
    }
    assert {k: second[k] for k in ITEMS} == {item: SECOND.get(item, "") for item in ITEMS}
    assert second["rf"] == "" and second["s3"] == "yes" and second["s5"] == "no"
    assert (second["kind"], second["day"], second["risk_level"]) == ("daily", "1", "high")
    assert second["answered_at"] == "2026-05-02T10:08:00Z"
    assert second["language"] == "es"
    assert second["cssrs_version"] == CSSRS.version
    assert planned["status"] == "scheduled" and planned["sent_at"] == ""
    assert planned["answered_at"] == "" and all(planned[item] == "" for item in ITEMS)
    assert files["cases.csv"] == [
        {
            "case_id": str(ids["case"]),
            "patient_ref": "P-1",
            "checkin_id": str(ids["c2"]),
            "opened_at": "2026-05-02T10:05:00Z",
            "level": "high",
            "trigger": "checkin",
            "status": "resolved",
            "first_paged_at": "2026-05-02T10:05:20Z",  # the first delivered page
            "acknowledged_at": "2026-05-02T10:12:13Z",
            "acknowledged_by": str(ids["ada"]),
            "resolved_at": "2026-05-02T11:05:00Z",
            "resolved_by": str(ids["ada"]),
            "seconds_to_acknowledge": "433",
        }
    ]
    text = "".join((tmp_path / "out" / name).read_text(encoding="utf-8") for name in FILES)
    for secret in ("Alice", "+1 555", "Feeling calm", "I want it", "Called", "intention"):
        assert secret not in text
    for other in ("S-9", "Sam", "south reason", ",9,"):
        assert other not in text  # nothing of the other clinic
    assert not list((tmp_path / "out").glob(".*.partial"))


async def test_free_text_only_when_asked(db: Database, tmp_path: Path) -> None:
    await _known(db)
    files = await _export(db, tmp_path, free_text=True)
    (patient,) = files["patients.csv"]
    assert patient["display_name"] == "Alice Example"
    assert patient["emergency_contact"] == "'+1 555 0199"  # never read as a formula
    first, second, _ = files["checkins.csv"]
    assert (first["note"], second["note"]) == ("Feeling calm", "skip")
    assert first["mood"] == "7"
    (case,) = files["cases.csv"]
    assert case["quote"] == "'=I want it to stop"
    assert case["resolution_note"] == "Called; safe at home"
    assert case["reason"] == "C-SSRS item 4 yes: some intention of acting"
    assert "S-9" not in json.dumps(files)


async def test_since_keeps_later_rows_and_every_patient(db: Database, tmp_path: Path) -> None:
    ids = await _known(db)
    files = await _export(db, tmp_path, since=T0 + timedelta(hours=12))
    assert [p["patient_ref"] for p in files["patients.csv"]] == ["P-1"]
    assert files["infusions.csv"] == []
    assert [c["checkin_id"] for c in files["checkins.csv"]] == [str(ids["c2"]), str(ids["c3"])]
    assert [c["case_id"] for c in files["cases.csv"]] == [str(ids["case"])]
    later = await _export(db, tmp_path / "later", since=T0 + timedelta(days=2))
    assert [c["checkin_id"] for c in later["checkins.csv"]] == [str(ids["c3"])]
    assert later["cases.csv"] == []


async def test_every_export_is_audited_without_patient_data(db: Database, tmp_path: Path) -> None:
    await _known(db)
    await _export(db, tmp_path, since=T0, free_text=True)
    async with db.transaction() as session:
        (event,) = (
            await session.scalars(select(AuditEvent).where(AuditEvent.event == "export.csv"))
        ).all()
    assert (event.actor, event.clinic_id, event.patient_id) == ("cli", "north", None)
    assert json.loads(event.detail) == {
        "since": "2026-05-01T10:00:00Z",
        "free_text": True,
        "one_patient": False,
        "rows": {
            "patients.csv": 1,
            "infusions.csv": 1,
            "checkins.csv": 3,
            "cases.csv": 1,
            "messages.csv": 0,
            "safety_plans.csv": 0,
        },
        "via": "cli",
    }


async def test_the_zip_holds_the_same_four_files(db: Database, tmp_path: Path) -> None:
    await _known(db)
    on_disk = await _export(db, tmp_path)
    async with db.transaction() as session:
        data, exported = await export_zip(
            session, clinic_id="north", since=None, free_text=False, actor=CLI, now=NOW
        )
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert archive.namelist() == list(FILES)
        for name in FILES:
            with archive.open(name) as raw:
                rows = list(csv.DictReader(io.TextIOWrapper(raw, encoding="utf-8", newline="")))
            assert rows == on_disk[name]
    assert exported.rows["checkins.csv"] == 3


def test_existing_files_are_refused_unless_forced(tmp_path: Path) -> None:
    (tmp_path / "cases.csv").write_text("old", encoding="utf-8")
    with pytest.raises(ExportError, match=r"cases\.csv already exists; use --force"):
        DirectoryTarget(tmp_path, force=False).check()
    DirectoryTarget(tmp_path, force=True).check()


def test_since_is_a_day_in_the_clinics_zone_or_a_time() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    assert parse_since("2026-05-02", berlin) == datetime(2026, 5, 1, 22, 0, tzinfo=UTC)
    assert parse_since("2026-05-02T08:00+00:00", berlin) == datetime(2026, 5, 2, 8, tzinfo=UTC)
    assert parse_since("2026-05-02T08:00", berlin) == datetime(2026, 5, 2, 6, tzinfo=UTC)
    assert parse_since("  ", berlin) is None
    with pytest.raises(ExportError, match="Not a date"):
        parse_since("last tuesday", berlin)


def test_since_at_the_calendars_ends_is_a_message_not_a_crash() -> None:
    berlin, new_york = ZoneInfo("Europe/Berlin"), ZoneInfo("America/New_York")
    for text, zone in [
        ("9999-12-31T23:59", new_york),
        ("0001-01-01T00:00", berlin),
        ("0001-01-01", berlin),
    ]:
        with pytest.raises(ExportError, match="too far in the past or future"):
            parse_since(text, zone)
    assert parse_since("9999-12-31", new_york) == datetime(9999, 12, 31, 5, tzinfo=UTC)


async def test_the_current_safety_plan_one_row_per_item_words_only_with_free_text(
    db: Database, tmp_path: Path
) -> None:
    await _known(db)
    steps = {f"step{n}": "" for n in range(1, 7)}
    first, errors = read_plan({**steps, "step1": "Not sleeping"}, country_code="1")
    current, errors = read_plan(
        {**steps, "step1": "=Not sleeping", "step4": "Sam +44 20 7946 0000", "step5": "988"},
        country_code="1",
    )
    assert first is not None and current is not None, errors
    async with db.transaction() as session:
        patients = (await session.scalars(select(Patient).order_by(Patient.id))).all()
        for patient in patients:  # north's and south's: only north's is exported
            await save_plan(session, patient=patient, steps=first, actor=CLI, now=T0)
            await save_plan(session, patient=patient, steps=current, actor=CLI, now=NOW)
    north = next(p.ref for p in patients if p.clinic_id == "north")
    plain = (await _export(db, tmp_path / "plain"))["safety_plans.csv"]
    assert [(r["patient_ref"], r["step"], r["item"], r["has_number"]) for r in plain] == [
        (north, "1", "1", "0"),
        (north, "4", "1", "1"),
        (north, "5", "1", "1"),
    ]
    assert {(r["plan_version"], r["plan_active"]) for r in plain} == {("2", "1")}
    assert plain[1]["step_title"] == "People to ask for help"
    assert plain[0]["saved_at"] == NOW.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert "text" not in plain[0] and "number" not in plain[0]
    words = (await _export(db, tmp_path / "words", free_text=True))["safety_plans.csv"]
    assert [(r["text"], r["number"]) for r in words] == [
        ("'=Not sleeping", ""),
        ("Sam +44 20 7946 0000", "'+442079460000"),
        ("988", "988"),
    ]

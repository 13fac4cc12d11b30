"""The FHIR R4B export against known data: a golden Bundle, every resource valid and coded as
the README says, unanswered items absent, no risk Observation for none, another clinic's rows
never, --patient and --since, transaction mode, free text never, audited."""

from __future__ import annotations

import json
import os
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fhir.resources.R4B.bundle import Bundle
from sqlalchemy import select

from bot.services.clinic.fhir_export import UnknownPatient, build_bundle, export_fhir
from storage.engine import Database
from storage.models import AuditEvent
from storage.states import CLI
from tests.fhir.seed import FREE_TEXT, NOW, T0, seed

GOLDEN = Path(__file__).parent / "golden" / "north_bundle.json"
LOINC = "http://loinc.org"


async def _export(db: Database, **options: Any) -> tuple[str, dict[str, Any]]:
    args: dict[str, Any] = {
        "clinic_id": "north",
        "names": False,
        "patient_ref": None,
        "since": None,
        "transaction": False,
        "now": NOW,
    }
    args.update(options)
    async with db.transaction() as session:
        exported = await build_bundle(session, **args)
    Bundle.model_validate_json(exported.json)  # every resource validates
    return exported.json, json.loads(exported.json)


def _resources(data: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [e["resource"] for e in data["entry"] if e["resource"]["resourceType"] == kind]


def _ident(resource: dict[str, Any]) -> str:
    found = resource["identifier"]
    found = found[0] if isinstance(found, list) else found
    return f"{found['system']}|{found['value']}"


def _codes(concept: dict[str, Any]) -> list[tuple[str, str]]:
    return [(c["system"], c["code"]) for c in concept["coding"]]


async def test_the_bundle_matches_the_golden_file(db: Database) -> None:
    await seed(db)
    text, _ = await _export(db)
    if os.environ.get("AFTERCARE_UPDATE_GOLDEN") == "1":
        GOLDEN.write_text(text, encoding="utf-8")
    assert text == GOLDEN.read_text(encoding="utf-8")


async def test_every_resource_carries_the_codes(db: Database) -> None:
    ids = await seed(db)
    text, data = await _export(db)
    assert data["type"] == "collection"
    patients = _resources(data, "Patient")
    assert [_ident(p) for p in patients] == [
        "urn:aftercare:north:patient|P-1",
        "urn:aftercare:north:patient|P-2",
    ]
    assert "name" not in patients[0]
    assert patients[0]["communication"][0]["language"]["coding"][0]["code"] == "en"
    responses = _resources(data, "QuestionnaireResponse")
    assert len(responses) == 3  # the planned check-in has none
    worse = responses[1]
    assert worse["questionnaire"] == "http://loinc.org/q/93373-9"
    assert worse["status"] == "completed"
    assert worse["language"] == "en"
    assert worse["meta"]["tag"] == [
        {"system": "urn:aftercare:instrument", "code": "cssrs-screener-slc|2008-01-14"}
    ]
    links = [i["linkId"] for i in worse["item"]]
    assert links == ["93246-7", "93247-5", "93248-3", "93249-1", "93250-9", "93267-3"]
    answers = [i["answer"][0]["valueCoding"] for i in worse["item"]]
    assert [(a["system"], a["code"]) for a in answers[:3]] == [(LOINC, "LA33-6")] * 3
    assert [(a["system"], a["code"]) for a in answers[3:]] == [(LOINC, "LA32-8")] * 3
    assert worse["authored"] == (T0 + timedelta(days=1, minutes=7)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert "93269-9" not in text
    risks = [
        o for o in _resources(data, "Observation") if _codes(o["code"]) == [(LOINC, "93374-7")]
    ]
    assert [_ident(o) for o in risks] == [
        f"urn:aftercare:north:risk-level|{ids['checkin1']}",
        f"urn:aftercare:north:risk-level|{ids['checkin2']}",
    ]
    moderate = risks[0]
    assert _codes(moderate["valueCodeableConcept"]) == [(LOINC, "LA6751-7")]
    assert _codes(moderate["category"][0]) == [
        ("http://terminology.hl7.org/CodeSystem/observation-category", "survey")
    ]
    response_url = next(
        e["fullUrl"] for e in data["entry"] if e["resource"] is not None and e["resource"] == worse
    )
    assert moderate["derivedFrom"] == [{"reference": response_url}]
    assert moderate["status"] == "final"
    moods = [o for o in _resources(data, "Observation") if o not in risks]
    assert [(m["valueInteger"], _codes(m["code"])) for m in moods] == [
        (v, [("urn:aftercare:codes", "mood-0-10")]) for v in (7, 2, 5)
    ]
    (flag,) = _resources(data, "Flag")
    assert flag["status"] == "inactive"
    assert _codes(flag["code"]) == [("http://snomed.info/sct", "225444004")]
    assert _codes(flag["category"][0]) == [
        ("http://terminology.hl7.org/CodeSystem/flag-category", "safety")
    ]
    assert set(flag["period"]) == {"start", "end"}
    extensions = {e["url"].rsplit("/", 1)[1] for e in flag["extension"]}
    assert extensions == {"case-level", "case-acknowledged", "case-reached", "case-outreach"}
    for words in FREE_TEXT:
        assert words not in text


async def test_unanswered_items_are_absent_and_none_gives_no_risk(db: Database) -> None:
    ids = await seed(db)
    _, data = await _export(db)
    calm, _, part_way = _resources(data, "QuestionnaireResponse")
    assert [i["linkId"] for i in calm["item"]] == ["93246-7", "93247-5", "93267-3"]
    assert part_way["status"] == "stopped"
    assert [i["linkId"] for i in part_way["item"]] == ["93246-7"]  # 2 and 6 absent, never No
    idents = [_ident(o) for o in _resources(data, "Observation")]
    assert f"urn:aftercare:north:risk-level|{ids['checkin0']}" not in idents  # level none
    assert f"urn:aftercare:north:mood|{ids['checkin0']}" in idents


async def test_a_patient_without_answers_is_a_patient_and_nothing_else(db: Database) -> None:
    await seed(db)
    _, data = await _export(db, patient_ref="P-2")
    assert [e["resource"]["resourceType"] for e in data["entry"]] == ["Patient"]
    _, one = await _export(db, patient_ref="P-1")
    assert {_ident(p) for p in _resources(one, "Patient")} == {"urn:aftercare:north:patient|P-1"}
    assert len(_resources(one, "Flag")) == 1
    with pytest.raises(UnknownPatient):
        await _export(db, patient_ref="S-9")  # south's patient is not north's


async def test_another_clinics_rows_never_appear(db: Database) -> None:
    await seed(db)
    text, _ = await _export(db)
    assert "S-9" not in text and "south" not in text and "LA9193-9" not in text
    south_text, south = await _export(db, clinic_id="south")
    assert "P-1" not in south_text and "north" not in south_text
    assert [_ident(p) for p in _resources(south, "Patient")] == ["urn:aftercare:south:patient|S-9"]
    assert len(_resources(south, "Flag")) == 1


async def test_since_keeps_later_checkins_and_cases(db: Database) -> None:
    ids = await seed(db)
    _, data = await _export(db, since=T0 + timedelta(days=1))
    assert len(_resources(data, "Patient")) == 2  # every patient is listed
    assert [_ident(r) for r in _resources(data, "QuestionnaireResponse")] == [
        f"urn:aftercare:north:questionnaire-response|{ids['checkin1']}",
        f"urn:aftercare:north:questionnaire-response|{ids['checkin2']}",
    ]
    _, late = await _export(db, since=T0 + timedelta(days=3))
    assert [e["resource"]["resourceType"] for e in late["entry"]] == ["Patient", "Patient"]


async def test_names_only_when_the_clinic_shows_them(db: Database) -> None:
    await seed(db)
    _, data = await _export(db, names=True)
    assert _resources(data, "Patient")[0]["name"] == [{"text": "Alice Example"}]


async def test_transaction_entries_are_conditional_puts(db: Database) -> None:
    await seed(db)
    _, data = await _export(db, transaction=True)
    assert data["type"] == "transaction"
    for entry in data["entry"]:
        kind = entry["resource"]["resourceType"]
        assert entry["request"] == {
            "method": "PUT",
            "url": f"{kind}?identifier={_ident(entry['resource'])}",
        }
    assert data["entry"][0]["request"]["url"] == (
        "Patient?identifier=urn:aftercare:north:patient|P-1"
    )


async def test_the_export_is_audited_with_counts_only(db: Database) -> None:
    await seed(db)
    async with db.transaction() as session:
        exported = await export_fhir(
            session,
            clinic_id="north",
            names=False,
            patient_ref="P-1",
            since=None,
            transaction=False,
            actor=CLI,
            now=NOW,
            via="cli",
        )
    assert exported.resources == {
        "Flag": 1,
        "Observation": 5,
        "Patient": 1,
        "QuestionnaireResponse": 3,
    }
    async with db.transaction() as session:
        event = (
            await session.scalars(select(AuditEvent).where(AuditEvent.event == "export.fhir"))
        ).one()
    detail = json.loads(event.detail)
    assert detail["resources"] == exported.resources
    assert detail["one_patient"] is True
    assert "P-1" not in event.detail

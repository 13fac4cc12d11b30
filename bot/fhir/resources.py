"""One FHIR R4B resource from the export's rows: Patient, QuestionnaireResponse (the C-SSRS
screener), Observation (the screener's risk level; mood), Flag (a case). Pure: each takes the
rows, the clinic and the references it needs, and returns a validated `fhir.resources` model.
Nothing here is free text: no notes, quotes, reasons; a name only when the caller passes it."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from fhir.resources.R4B.flag import Flag
from fhir.resources.R4B.observation import Observation
from fhir.resources.R4B.patient import Patient
from fhir.resources.R4B.questionnaireresponse import QuestionnaireResponse

from bot.domain import instruments
from bot.domain.checkin_flow import CSSRS_ITEMS, MOOD, MOOD_VALUES, NO, YES
from bot.domain.levels import Level, highest
from bot.domain.triage import triage_cssrs
from bot.fhir import codes
from storage.states import CaseStatus, CheckinStatus
from storage.views.fhir import AnswerRow, CaseRow, OutreachRow, PatientRow


def _coding(system: str, code: tuple[str, str]) -> dict[str, str]:
    return {"system": system, "code": code[0], "display": code[1]}


def _concept(system: str, code: tuple[str, str]) -> dict[str, Any]:
    return {"coding": [_coding(system, code)], "text": code[1]}


def _identifier(clinic_id: str, kind: str, value: object) -> dict[str, str]:
    return {"system": codes.identifier_system(clinic_id, kind), "value": str(value)}


def _at(moment: datetime) -> datetime:
    return moment.astimezone(UTC)


def patient(row: PatientRow, *, clinic_id: str) -> Patient:
    """Pseudonymous: the clinic's reference as identifier; the name only when `row` has one
    (the caller reads names only for a clinic that shows them, `alerts_include_name`)."""
    fields: dict[str, Any] = {"identifier": [_identifier(clinic_id, "patient", row.ref)]}
    if row.display_name:
        fields["name"] = [{"text": row.display_name}]
    if row.language:
        fields["communication"] = [
            {"language": {"coding": [{"system": codes.BCP47, "code": row.language}]}}
        ]
    return Patient(**fields)


def screener_answers(rows: Sequence[AnswerRow]) -> dict[str, AnswerRow]:
    """The check-in's yes/no C-SSRS answers by item (the last one given wins); anything else,
    and every unanswered item, absent."""
    return {r.item_id: r for r in rows if r.item_id in CSSRS_ITEMS and r.value in (YES, NO)}


def link_id(item_id: str) -> str:
    """The item's LOINC code (item 6, our since-last-contact behaviour item: 93267-3)."""
    item = instruments.cssrs().item(item_id)
    return item.loinc or codes.S6_LOINC


def questionnaire_response(
    rows: Sequence[AnswerRow], *, clinic_id: str, checkin_id: int, subject: str
) -> QuestionnaireResponse | None:
    """The check-in's screener answers, or None when it has none (nothing is made up)."""
    answered = screener_answers(rows)
    if not answered:
        return None
    source = instruments.cssrs()
    ordered = [answered[i] for i in CSSRS_ITEMS if i in answered]
    last = max(ordered, key=lambda r: r.answered_at)
    items = [
        {
            "linkId": link_id(r.item_id),
            "text": source.item(r.item_id).text,
            "answer": [
                {"valueCoding": _coding(codes.LOINC, codes.YES if r.value == YES else codes.NO)}
            ],
        }
        for r in ordered
    ]
    completed = ordered[0].checkin_status == CheckinStatus.COMPLETED
    fields: dict[str, Any] = {
        "meta": {
            "tag": [
                {
                    "system": codes.INSTRUMENT_TAG,
                    "code": f"{last.instrument_id}|{last.instrument_version}",
                }
            ]
        },
        "identifier": _identifier(clinic_id, "questionnaire-response", checkin_id),
        "questionnaire": codes.CSSRS_QUESTIONNAIRE,
        "status": "completed" if completed else "stopped",
        "subject": {"reference": subject},
        "authored": _at(last.answered_at),
        "item": items,
    }
    if last.language:
        fields["language"] = last.language
    return QuestionnaireResponse(**fields)


def screener_level(rows: Sequence[AnswerRow]) -> Level:
    """The suicide risk level from the screener's answers alone (bot.domain.triage): not the
    check-in's level, which also counts red flags, mood and the note's words."""
    answered = {i: r.value for i, r in screener_answers(rows).items()}
    closed = bool(rows) and rows[0].checkin_status != CheckinStatus.COMPLETED
    return highest(*(f.level for f in triage_cssrs(answered, closed=closed)))


def risk_observation(
    rows: Sequence[AnswerRow], *, clinic_id: str, checkin_id: int, subject: str, response: str
) -> Observation | None:
    """The screener's risk level, derived from its QuestionnaireResponse; None for none."""
    level = screener_level(rows)
    if level is Level.NONE:
        return None
    last = max(screener_answers(rows).values(), key=lambda r: r.answered_at)
    return Observation(
        identifier=[_identifier(clinic_id, "risk-level", checkin_id)],
        status="final",
        category=[_concept(codes.OBSERVATION_CATEGORY, codes.SURVEY)],
        code=_concept(codes.LOINC, codes.RISK_LEVEL),
        subject={"reference": subject},
        effectiveDateTime=_at(last.answered_at),
        valueCodeableConcept=_concept(codes.LOINC, codes.RISK_VALUES[level]),
        derivedFrom=[{"reference": response}],
    )


def mood_observation(
    rows: Sequence[AnswerRow], *, clinic_id: str, checkin_id: int, subject: str
) -> Observation | None:
    """The check-in's mood, 0 to 10 (Aftercare's own code), or None when not given."""
    moods = [r for r in rows if r.item_id == MOOD and r.value in MOOD_VALUES]
    if not moods:
        return None
    mood = moods[-1]
    return Observation(
        identifier=[_identifier(clinic_id, "mood", checkin_id)],
        status="final",
        category=[_concept(codes.OBSERVATION_CATEGORY, codes.SURVEY)],
        code=_concept(codes.AFTERCARE_CODES, codes.MOOD),
        subject={"reference": subject},
        effectiveDateTime=_at(mood.answered_at),
        valueInteger=int(mood.value),
    )


def _case_extensions(case: CaseRow, attempts: Sequence[OutreachRow]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = [{"url": codes.EXT_LEVEL, "valueCode": case.level}]
    if case.acknowledged_at is not None:
        out.append({"url": codes.EXT_ACKNOWLEDGED, "valueDateTime": _at(case.acknowledged_at)})
    if case.reached_at is not None:
        out.append({"url": codes.EXT_REACHED, "valueDateTime": _at(case.reached_at)})
    for attempt in attempts:
        parts = [
            {"url": "method", "valueCode": attempt.method},
            {"url": "outcome", "valueCode": attempt.outcome},
            {"url": "at", "valueDateTime": _at(attempt.at)},
        ]
        out.append({"url": codes.EXT_OUTREACH, "extension": parts})
    return out


def flag(case: CaseRow, attempts: Sequence[OutreachRow], *, clinic_id: str, subject: str) -> Flag:
    """A case: active until resolved; its level, acknowledgement, reaching the patient and
    each outreach attempt's method and outcome as extensions (no notes, no quotes)."""
    period: dict[str, datetime] = {"start": _at(case.opened_at)}
    resolved = case.status == CaseStatus.RESOLVED
    if resolved and case.resolved_at is not None:
        period["end"] = _at(case.resolved_at)
    return Flag(
        identifier=[_identifier(clinic_id, "case", case.id)],
        extension=_case_extensions(case, attempts),
        status="inactive" if resolved else "active",
        category=[_concept(codes.FLAG_CATEGORY, codes.SAFETY)],
        code=_concept(codes.SNOMED, codes.AT_RISK_FOR_SUICIDE),
        subject={"reference": subject},
        period=period,
    )

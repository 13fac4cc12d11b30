"""The export's Bundle: a `collection` (default) or a `transaction` whose entries are each a
conditional PUT by the resource's own identifier, so sending it twice updates, never doubles.

Every entry's fullUrl is `urn:uuid:` + a uuid5 of the clinic, the resource's kind and its row
id: the same data always gives the same Bundle (the golden file test pins it), and resources
point at each other by those urn:uuids."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.resource import Resource

from bot.fhir import resources
from storage.views.fhir import AnswerRow, CaseRow, OutreachRow, PatientRow


def full_url(clinic_id: str, kind: str, row_id: int) -> str:
    return "urn:uuid:" + str(
        uuid.uuid5(uuid.NAMESPACE_URL, f"urn:aftercare:{clinic_id}:{kind}:{row_id}")
    )


def _identifier(resource: Resource) -> Any:
    found = getattr(resource, "identifier", None)
    return found[0] if isinstance(found, list) else found


class BundleBuilder:
    """Collects the entries one row (or one check-in's answers) at a time."""

    def __init__(self, clinic_id: str, *, transaction: bool = False) -> None:
        self.clinic_id = clinic_id
        self.transaction = transaction
        self.entries: list[dict[str, Any]] = []
        self.counts: Counter[str] = Counter()
        self._subjects: dict[int, str] = {}

    def _add(self, url: str, resource: Resource) -> None:
        entry: dict[str, Any] = {"fullUrl": url, "resource": resource}
        if self.transaction:
            ident = _identifier(resource)
            kind = resource.get_resource_type()
            entry["request"] = {
                "method": "PUT",
                "url": f"{kind}?identifier={ident.system}|{ident.value}",
            }
        self.entries.append(entry)
        self.counts[resource.get_resource_type()] += 1

    def add_patient(self, row: PatientRow) -> None:
        url = full_url(self.clinic_id, "patient", row.id)
        self._subjects[row.id] = url
        self._add(url, resources.patient(row, clinic_id=self.clinic_id))

    def add_checkin(self, checkin_id: int, rows: Sequence[AnswerRow]) -> None:
        """The check-in's QuestionnaireResponse and risk level (if it has screener answers)
        and its mood (if given). A patient not added first is skipped."""
        subject = self._subjects.get(rows[0].patient_id) if rows else None
        if subject is None:
            return
        clinic_id = self.clinic_id
        response = resources.questionnaire_response(
            rows, clinic_id=clinic_id, checkin_id=checkin_id, subject=subject
        )
        if response is not None:
            response_url = full_url(self.clinic_id, "questionnaire-response", checkin_id)
            self._add(response_url, response)
            risk = resources.risk_observation(
                rows,
                clinic_id=clinic_id,
                checkin_id=checkin_id,
                subject=subject,
                response=response_url,
            )
            if risk is not None:
                self._add(full_url(self.clinic_id, "risk-level", checkin_id), risk)
        mood = resources.mood_observation(
            rows, clinic_id=clinic_id, checkin_id=checkin_id, subject=subject
        )
        if mood is not None:
            self._add(full_url(self.clinic_id, "mood", checkin_id), mood)

    def add_case(self, case: CaseRow, attempts: Sequence[OutreachRow]) -> None:
        subject = self._subjects.get(case.patient_id)
        if subject is None:
            return
        made = resources.flag(case, attempts, clinic_id=self.clinic_id, subject=subject)
        self._add(full_url(self.clinic_id, "case", case.id), made)

    def bundle(self, now: datetime) -> Bundle:
        return Bundle(
            type="transaction" if self.transaction else "collection",
            timestamp=now.astimezone(UTC),
            entry=self.entries or None,
        )

"""A clinic's data as one FHIR R4B Bundle (bot/fhir builds it), read in the caller's
transaction and audited (`export.fhir`: the options and the resources of each type; nothing of
a patient). Patients are named by the clinic's pseudonymous reference, by name only when the
clinic's pages carry names (`alerts_include_name`). Every patient of the clinic (or the one
asked for) is exported; `since` keeps check-ins due and cases opened on or after it. A patient
without answers exports a Patient and nothing else."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain.checkin_flow import CSSRS_ITEMS, MOOD
from bot.fhir.bundle import BundleBuilder
from bot.services.clinic.export import UnknownPatient, iso
from storage import audit
from storage.states import Actor
from storage.views import fhir as queries
from storage.views.fhir import AnswerRow, OutreachRow

EVENT = "export.fhir"


@dataclass(frozen=True)
class FhirExported:
    json: str  # the Bundle: sorted keys, indented, one trailing newline
    resources: dict[str, int]  # resource type → resources in the Bundle


async def _by_checkin(rows: AsyncIterator[AnswerRow]) -> AsyncIterator[list[AnswerRow]]:
    """The answers grouped by check-in (they arrive in check-in order)."""
    group: list[AnswerRow] = []
    async for row in rows:
        if group and group[0].checkin_id != row.checkin_id:
            yield group
            group = []
        group.append(row)
    if group:
        yield group


def bundle_name(clinic_id: str, now: datetime, zone: ZoneInfo) -> str:
    """The file a console download is saved as: the clinic and the day in its zone."""
    return f"aftercare-{clinic_id}-fhir-{now.astimezone(zone):%Y-%m-%d}.json"


def bundle_json(data: str) -> str:
    """Stable text for a Bundle: sorted keys, 2-space indent (diffs and golden files)."""
    return json.dumps(json.loads(data), sort_keys=True, indent=2, ensure_ascii=False) + "\n"


async def build_bundle(
    session: AsyncSession,
    *,
    clinic_id: str,
    names: bool,
    patient_ref: str | None,
    since: datetime | None,
    transaction: bool,
    now: datetime,
) -> FhirExported:
    """The Bundle of the clinic's patients, screener answers, risk levels, moods and cases."""
    builder = BundleBuilder(clinic_id, transaction=transaction)
    patients = await queries.patients(
        session, clinic_id=clinic_id, patient_ref=patient_ref, names=names
    )
    if patient_ref is not None and not patients:
        raise UnknownPatient(f"no patient {patient_ref!r} in clinic {clinic_id!r}")
    for patient in patients:
        builder.add_patient(patient)
    scope = queries.Scope(clinic_id=clinic_id, patient_ref=patient_ref, since=since)
    answers = queries.answers(session, scope, items=(MOOD, *CSSRS_ITEMS))
    async for group in _by_checkin(answers):
        builder.add_checkin(group[0].checkin_id, group)
    attempts: dict[int, list[OutreachRow]] = defaultdict(list)
    for attempt in await queries.outreach(session, scope):
        attempts[attempt.case_id].append(attempt)
    for case in await queries.cases(session, scope):
        builder.add_case(case, attempts.get(case.id, []))
    bundle = builder.bundle(now)
    text = bundle_json(bundle.model_dump_json(exclude_none=True))
    return FhirExported(json=text, resources=dict(sorted(builder.counts.items())))


async def export_fhir(
    session: AsyncSession,
    *,
    clinic_id: str,
    names: bool,
    patient_ref: str | None,
    since: datetime | None,
    transaction: bool,
    actor: Actor,
    now: datetime,
    via: str,
) -> FhirExported:
    """Build the Bundle and audit the export, in the caller's transaction (one snapshot)."""
    exported = await build_bundle(
        session,
        clinic_id=clinic_id,
        names=names,
        patient_ref=patient_ref,
        since=since,
        transaction=transaction,
        now=now,
    )
    await audit.append(
        session,
        at=now,
        actor=actor,
        event=EVENT,
        clinic_id=clinic_id,
        detail={
            "since": iso(since) if since else None,
            "one_patient": patient_ref is not None,
            "transaction": transaction,
            "names": names,
            "resources": exported.resources,
            "via": via,
        },
    )
    return exported

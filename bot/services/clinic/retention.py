"""A clinic's retention carried out (issue 31; `[clinics.retention]`, README "Privacy"): what the
next run removes (`plan_retention`, the preview) and the run itself (`run_retention`), which
applies exactly that plan in batches: words due are erased as an erasure on request is
(`erasure.erase_patient`, basis `retention`; a patient it refuses is skipped and counted), records
due are deleted after the words, and after each batch commits the batch's data keys are
destroyed. Audited: each erasure by itself, each deletion as `patient.records_deleted` with
counts, the run as `retention.run` with counts; no audit row holds words. Retention never
messages the patient: they have not been in touch for the whole period. The nightly run is
claimed once per clinic and local day across every instance (`nightly`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from bot.clinic_config import ClinicConfig
from bot.domain.privacy.retention import Removal, Standing, due
from bot.i18n import NC_
from bot.services.clinic.erasure import (
    ErasureRefused,
    LegalBasis,
    erase_patient,
    shred_keys,
    shred_pending,
)
from storage import audit
from storage.engine import Database
from storage.patients import lock_patient
from storage.privacy.retention import PatientActivity, activity_of_clinic, claim_run, delete_records
from storage.states import Actor

BATCH = 50  # patients per transaction
RUN_EVENT = "retention.run"
RECORDS_EVENT = "patient.records_deleted"

REMOVALS = {
    Removal.WORDS: NC_("free text and contacts"),
    Removal.RECORDS: NC_("free text, contacts and structured records"),
}


@dataclass(frozen=True)
class Planned:
    """One patient in a plan: what goes, their last activity and since when it is due."""

    patient_id: int
    ref: str
    removal: Removal
    last_activity: datetime
    since: datetime
    erased: bool  # their words were erased already (only the records remain to go)


@dataclass(frozen=True)
class Plan:
    """What the next run removes, and who a legal hold keeps (with what would otherwise go)."""

    clinic_id: str
    due: list[Planned]
    held: list[Planned]


@dataclass
class RunReport:
    """What a run did, as counts (the `retention.run` audit's detail)."""

    words: int = 0  # patients whose words were erased
    records: int = 0  # patients whose records were deleted
    refused: int = 0  # patients the erasure refused (in care since the plan was made)
    changed: int = 0  # patients no longer due when their batch ran
    held: int = 0
    batches: int = 0
    shredded: int = 0  # data keys destroyed (pending ones from earlier runs included)
    deleted: dict[str, int] = field(default_factory=dict)  # records deleted, by kind

    def detail(self) -> dict[str, object]:
        return {**{k: v for k, v in vars(self).items() if k != "deleted"}, "deleted": self.deleted}


def _standing(found: PatientActivity) -> Standing:
    return Standing(
        last_activity=found.last_activity,
        legal_hold=found.legal_hold,
        in_care=found.in_care,
        words_erased=found.erased,
        has_records=found.has_records,
    )


def _planned(found: PatientActivity, clinic: ClinicConfig, now: datetime) -> Planned | None:
    rules = clinic.retention.rule()
    owed = due(_standing(found), rules, now=now, held_too=True)
    if owed is None:
        return None
    return Planned(
        patient_id=found.patient_id,
        ref=found.ref,
        removal=owed.removal,
        last_activity=found.last_activity,
        since=owed.since,
        erased=found.erased,
    )


async def plan_retention(
    session: AsyncSession,
    *,
    clinic: ClinicConfig,
    now: datetime,
    only: Sequence[int] | None = None,
) -> Plan:
    """What a run at `now` removes, oldest activity first (nothing while both periods are unset)."""
    plan = Plan(clinic_id=clinic.id, due=[], held=[])
    if not clinic.retention.active:
        return plan
    for found in await activity_of_clinic(session, clinic_id=clinic.id, only=only):
        planned = _planned(found, clinic, now)
        if planned is not None:
            (plan.held if found.legal_hold else plan.due).append(planned)
    return plan


async def _remove(
    session: AsyncSession,
    planned: Planned,
    *,
    clinic: ClinicConfig,
    actor: Actor,
    now: datetime,
    report: RunReport,
) -> bool:
    """Remove what is due of one patient in the batch's transaction; whether anything went."""
    if not planned.erased:
        try:
            await erase_patient(
                session,
                clinic=clinic,
                ref=planned.ref,
                basis=LegalBasis.RETENTION,
                actor=actor,
                now=now,
            )
        except ErasureRefused:
            report.refused += 1
            return False
        report.words += planned.removal is Removal.WORDS
    if planned.removal is Removal.RECORDS:
        await lock_patient(session, patient_id=planned.patient_id)
        counts = await delete_records(session, patient_id=planned.patient_id)
        for kind, n in counts.items():
            report.deleted[kind] = report.deleted.get(kind, 0) + n
        report.records += 1
        await audit.append(
            session,
            at=now,
            actor=actor,
            event=RECORDS_EVENT,
            clinic_id=clinic.id,
            patient_id=planned.patient_id,
            detail={"basis": LegalBasis.RETENTION.value, "deleted": counts},
        )
    return True


async def _run_batch(
    db: Database,
    batch: list[Planned],
    *,
    clinic: ClinicConfig,
    actor: Actor,
    now: datetime,
    report: RunReport,
) -> list[int]:
    """One transaction: each patient still due as planned loses what the plan said."""
    removed: list[int] = []
    async with db.transaction() as session:
        ids = [p.patient_id for p in batch]
        still = await plan_retention(session, clinic=clinic, now=now, only=ids)
        now_due = {p.patient_id: p for p in still.due}
        for planned in batch:
            if now_due.get(planned.patient_id) != planned:
                report.changed += 1  # active, held or erased since the plan: left for next time
                continue
            if await _remove(session, planned, clinic=clinic, actor=actor, now=now, report=report):
                removed.append(planned.patient_id)
    report.batches += 1
    return removed


async def run_retention(
    db: Database, *, clinic: ClinicConfig, actor: Actor, now: datetime, batch: int = BATCH
) -> tuple[Plan, RunReport]:
    """Apply the clinic's plan at `now` (see the module): the plan and what the run did."""
    report = RunReport(shredded=await shred_pending(db, now=now))
    async with db.transaction() as session:
        plan = await plan_retention(session, clinic=clinic, now=now)
    report.held = len(plan.held)
    for start in range(0, len(plan.due), batch):
        removed = await _run_batch(
            db, plan.due[start : start + batch], clinic=clinic, actor=actor, now=now, report=report
        )
        report.shredded += await shred_keys(db, patient_ids=removed, now=now)
    async with db.transaction() as session:
        await audit.append(
            session,
            at=now,
            actor=actor,
            event=RUN_EVENT,
            clinic_id=clinic.id,
            detail=report.detail(),
        )
    return plan, report


async def nightly(
    db: Database,
    *,
    clinic: ClinicConfig,
    day: str,
    day_began: datetime,
    actor: Actor,
    now: datetime,
) -> RunReport | None:
    """The clinic's nightly run for its local `day`, if no instance has claimed it yet."""
    if not clinic.retention.active:
        return None
    async with db.transaction() as session:
        claimed = await claim_run(
            session, clinic_id=clinic.id, day=day, day_began=day_began, actor=actor, now=now
        )
    if not claimed:
        return None
    _, report = await run_retention(db, clinic=clinic, actor=actor, now=now)
    return report

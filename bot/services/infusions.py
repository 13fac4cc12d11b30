"""Recording infusions and keeping each patient's planned check-ins in step with them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from bot.clinic_config import ClinicConfig
from bot.domain.schedule import PlannedCheckin, plan_checkins
from bot.i18n import C_
from bot.services import checkin_states
from bot.services.wording.checkin_labels import staff_checkin_label
from storage import audit
from storage.checkins import add_checkins, checkins_of_patients, scheduled_for_patient
from storage.infusions import active_infusions_of_patients, add_infusion, get_infusion
from storage.models import Checkin, Infusion, Patient
from storage.states import Actor, CheckinKind, CheckinStatus, InfusionStatus, PatientStatus

PlanKey = tuple[int, str, int | None, int | None]
AHEAD = timedelta(minutes=5)  # an infusion "ended" this far ahead of now is a clock's drift


class InfusionError(Exception):
    """A request about an infusion that cannot be carried out; the message says why."""


class UnknownProtocol(InfusionError):
    """The protocol asked for (or the patient's own) is not one of the clinic's."""


def _check_ended(ended_at: datetime, now: datetime) -> None:
    if ended_at > now + AHEAD:
        raise InfusionError(C_("an infusion is recorded when it has ended, not in the future"))


@dataclass(frozen=True)
class ReplanResult:
    added: int
    moved: int
    cancelled: int
    superseded: int


def _key(infusion_id: int, item: PlannedCheckin) -> PlanKey:
    seconds = int(item.offset.total_seconds()) if item.offset is not None else None
    return (infusion_id, item.kind, seconds, item.day)


def _row_key(row: Checkin) -> PlanKey:
    assert row.infusion_id is not None
    return (row.infusion_id, row.kind, row.offset_seconds, row.day)


def desired_plan(
    infusions: list[Infusion], *, clinic: ClinicConfig, zone: ZoneInfo
) -> tuple[dict[PlanKey, tuple[Infusion, PlannedCheckin]], set[PlanKey]]:
    """Every check-in the active infusions call for, and the dailies a later infusion replaced.

    A new infusion replaces the previous infusion's remaining daily check-ins.
    """
    wanted: dict[PlanKey, tuple[Infusion, PlannedCheckin]] = {}
    replaced: set[PlanKey] = set()
    ordered = sorted(infusions, key=lambda i: i.ended_at)
    for index, infusion in enumerate(ordered):
        assert infusion.id is not None
        later = ordered[index + 1].ended_at if index + 1 < len(ordered) else None
        for item in plan_checkins(
            infusion_at=infusion.ended_at,
            protocol=clinic.protocol(infusion.protocol),
            zone=zone,
            quiet=clinic.quiet(),
        ):
            key = _key(infusion.id, item)
            if item.kind == CheckinKind.DAILY and later is not None and item.due_at >= later:
                replaced.add(key)
            else:
                wanted[key] = (infusion, item)
    return wanted, replaced


async def replan_patient(
    session: AsyncSession, *, patient: Patient, clinic: ClinicConfig, now: datetime, actor: Actor
) -> ReplanResult:
    """Bring the patient's not-yet-sent check-ins in line with their active infusions."""
    assert patient.id is not None
    results = await replan_patients(
        session, patients=[patient], clinic=clinic, now=now, actor=actor
    )
    return results[patient.id]


async def replan_patients(
    session: AsyncSession,
    *,
    patients: Sequence[Patient],
    clinic: ClinicConfig,
    now: datetime,
    actor: Actor,
) -> dict[int, ReplanResult]:
    """`replan_patient` for many patients of one clinic with two reads and one audit append
    (a clinic's schedule change re-plans all of them in one transaction). The caller holds
    the audit chain already, before any row it changed (the dispatcher's order)."""
    ids = [p.id for p in patients if p.id is not None]
    infusions = await active_infusions_of_patients(session, patient_ids=ids)
    checkins = await checkins_of_patients(session, patient_ids=ids)
    results: dict[int, ReplanResult] = {}
    new_rows: list[Checkin] = []
    entries: list[audit.Entry] = []
    for patient in patients:
        assert patient.id is not None
        result, added = _reconcile(
            patient, infusions[patient.id], checkins[patient.id], clinic=clinic, now=now
        )
        results[patient.id] = result
        new_rows.extend(added)
        if any((result.added, result.moved, result.cancelled, result.superseded)):
            entries.append(
                audit.Entry(
                    at=now,
                    actor=actor,
                    event="plan.updated",
                    clinic_id=patient.clinic_id,
                    patient_id=patient.id,
                    detail=result.__dict__,
                )
            )
    await add_checkins(session, checkins=new_rows)
    await audit.append_many(session, entries)
    return results


def _reconcile(
    patient: Patient,
    infusions: list[Infusion],
    checkins: list[Checkin],
    *,
    clinic: ClinicConfig,
    now: datetime,
) -> tuple[ReplanResult, list[Checkin]]:
    """Move, cancel or supersede the patient's unsent check-ins (rows changed in place) and
    make the missing ones; a plan slot that already produced a check-in is never planned again."""
    wanted, replaced = desired_plan(infusions, clinic=clinic, zone=ZoneInfo(patient.timezone))
    existing = {
        _row_key(row): row
        for row in checkins
        if row.infusion_id is not None and row.status == CheckinStatus.SCHEDULED
    }
    done = {
        _row_key(row)
        for row in checkins
        if row.infusion_id is not None
        and row.status
        not in (CheckinStatus.SCHEDULED, CheckinStatus.CANCELLED, CheckinStatus.SUPERSEDED)
    }
    window = clinic.checkins.missed_after
    moved = cancelled = superseded = 0
    for key, row in existing.items():
        if key in wanted:
            _, item = wanted[key]
            if (row.due_at, row.nominal_at) != (item.due_at, item.nominal_at):
                row.due_at, row.nominal_at = item.due_at, item.nominal_at
                moved += 1
            continue
        if key in replaced:
            checkin_states.supersede(row, now=now)
        else:
            checkin_states.cancel(row, now=now)
        superseded += key in replaced
        cancelled += key not in replaced
    new_rows = [
        _new_checkin(patient, infusion, item, clinic=clinic, now=now)
        for key, (infusion, item) in wanted.items()
        if key not in existing and key not in done and item.due_at + window > now
    ]
    return ReplanResult(len(new_rows), moved, cancelled, superseded), new_rows


def _new_checkin(
    patient: Patient,
    infusion: Infusion,
    item: PlannedCheckin,
    *,
    clinic: ClinicConfig,
    now: datetime,
) -> Checkin:
    assert patient.id is not None and infusion.id is not None
    red_flags_at = clinic.protocols[infusion.protocol].red_flags_at
    return Checkin(
        patient_id=patient.id,
        infusion_id=infusion.id,
        kind=CheckinKind(item.kind),
        offset_seconds=int(item.offset.total_seconds()) if item.offset is not None else None,
        day=item.day,
        asks_red_flags=item.kind == CheckinKind.OFFSET and item.offset == red_flags_at,
        nominal_at=item.nominal_at,
        due_at=item.due_at,
        created_at=now,
    )


async def record_infusion(
    session: AsyncSession,
    *,
    patient: Patient,
    clinic: ClinicConfig,
    ended_at: datetime,
    protocol: str | None,
    now: datetime,
    actor: Actor,
) -> tuple[Infusion, list[Checkin]]:
    """Record an infusion and plan its check-ins; returns the infusion and its planned rows."""
    name = protocol or patient.protocol or clinic.default_protocol
    if name not in clinic.protocols:
        raise UnknownProtocol(
            f"clinic {clinic.id} has no protocol {name!r} "
            f"(known: {', '.join(sorted(clinic.protocols))})"
        )
    _check_ended(ended_at, now)
    if PatientStatus(patient.status).is_stopped:
        raise InfusionError(
            C_("patient {ref} is {status}: no check-ins can be sent").format(
                ref=patient.ref, status=patient.status
            )
        )
    assert patient.id is not None
    # The chain's lock before the infusion's row locks the patient's (its foreign key): the
    # order every writer keeps, so consent linking the chat cannot wait on us in a cycle.
    await audit.hold_chain(session)
    infusion = await add_infusion(
        session,
        infusion=Infusion(
            patient_id=patient.id,
            ended_at=ended_at,
            protocol=name,
            recorded_at=now,
            recorded_by=actor,
        ),
    )
    await audit.append(
        session,
        at=now,
        actor=actor,
        event="infusion.recorded",
        clinic_id=patient.clinic_id,
        patient_id=patient.id,
        detail={"infusion_id": infusion.id, "ended_at": ended_at, "protocol": name},
    )
    await replan_patient(session, patient=patient, clinic=clinic, now=now, actor=actor)
    assert infusion.id is not None
    planned = [
        row
        for row in await scheduled_for_patient(session, patient_id=patient.id)
        if row.infusion_id == infusion.id
    ]
    return infusion, planned


async def change_infusion(
    session: AsyncSession,
    *,
    infusion: Infusion,
    patient: Patient,
    clinic: ClinicConfig,
    now: datetime,
    actor: Actor,
    ended_at: datetime | None = None,
    cancel: bool = False,
) -> ReplanResult:
    """Cancel or move an infusion and re-plan the check-ins not yet sent."""
    assert infusion.id is not None
    await audit.hold_chain(session)  # before the infusion's and its check-ins' rows
    loaded = await get_infusion(session, infusion_id=infusion.id)  # this session's own copy
    assert loaded is not None
    infusion = loaded
    if not InfusionStatus(infusion.status).may_change:
        raise InfusionError(f"infusion {infusion.id} is {infusion.status}")
    if cancel:
        infusion.status = InfusionStatus.CANCELLED
        event = "infusion.cancelled"
        detail: dict[str, object] = {"infusion_id": infusion.id}
    else:
        assert ended_at is not None
        _check_ended(ended_at, now)
        detail = {"infusion_id": infusion.id, "from": infusion.ended_at, "to": ended_at}
        infusion.ended_at, event = ended_at, "infusion.moved"
    await session.flush()
    await audit.append(
        session,
        at=now,
        actor=actor,
        event=event,
        clinic_id=patient.clinic_id,
        patient_id=patient.id,
        detail=detail,
    )
    return await replan_patient(session, patient=patient, clinic=clinic, now=now, actor=actor)


def describe_plan(rows: list[Checkin], zone: ZoneInfo) -> list[str]:
    """One line per planned check-in, in the patient's local time."""
    lines = []
    for row in rows:
        offset = timedelta(seconds=row.offset_seconds) if row.offset_seconds is not None else None
        label = staff_checkin_label(row.kind, offset, row.day)
        said = (
            C_("{due}  {label} (after quiet hours)")
            if row.due_at != row.nominal_at
            else "{due}  {label}"
        )
        lines.append(
            said.format(due=f"{row.due_at.astimezone(zone):%a %d %b %H:%M:%S %Z}", label=label)
        )
    return lines

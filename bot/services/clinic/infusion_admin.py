"""Infusions from the console: record, move or cancel one, and the patient's planned check-ins
before and after, as the CLI and /infusion show them (`bot/services/infusions.py` does the work).

Times on the form are the clinic's wall-clock time; the rules (said on the form): an infusion
is recorded once it has ended (not later than now: a minute of clock skew is allowed, the
form's own resolution), no more than 30 days ago (an older date is almost surely a typo, and
would plan nothing), and not within an hour of another active infusion of the patient (a
second entry of the same infusion: move that one instead).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from bot.clinic_config import ClinicConfig
from bot.services.clinic.patient_admin import AdminError
from bot.services.infusions import (
    InfusionError,
    ReplanResult,
    UnknownProtocol,
    change_infusion,
    record_infusion,
)
from bot.services.wording.checkin_labels import staff_checkin_label
from storage.checkins import scheduled_for_patient
from storage.infusions import active_infusions_of, get_infusion
from storage.models import Checkin, Infusion, Patient
from storage.states import Actor, InfusionStatus

OLDEST = timedelta(days=30)
SKEW = timedelta(minutes=1)  # the form shows minutes: "now" typed a moment ago is still now
APART = timedelta(hours=1)
FORM_FORMAT = "%Y-%m-%dT%H:%M"  # <input type="datetime-local">
ID_SHAPE = re.compile(r"[0-9]{1,9}")


@dataclass(frozen=True)
class PlannedItem:
    """One planned check-in, as `describe_plan` says it, in structured form."""

    checkin_id: int
    infusion_id: int | None
    due_at: datetime
    label: str
    after_quiet_hours: bool


@dataclass(frozen=True)
class PlanChange:
    infusion: Infusion
    before: list[PlannedItem]
    after: list[PlannedItem]
    result: ReplanResult | None  # None for a new infusion (its plan is `after`)


def form_time(instant: datetime, zone: ZoneInfo) -> str:
    """A time as a datetime-local field shows it, on the clinic's clock."""
    return instant.astimezone(zone).strftime(FORM_FORMAT)


def read_time(text: str, zone: ZoneInfo, now: datetime) -> datetime:
    """A datetime-local value on the clinic's clock, as UTC; ValueError says what is wrong."""
    raw = text.strip()
    if not raw:
        raise ValueError("Enter the date and time the infusion ended.")
    try:
        naive = datetime.fromisoformat(raw)
    except ValueError:
        raise ValueError("Not a date and time: use the picker, or e.g. 2025-03-01T14:30.") from None
    if naive.tzinfo is not None:
        raise ValueError("Give the clinic's local time, without a UTC offset.")
    local = naive.replace(tzinfo=zone)
    try:
        instant = local.astimezone(UTC)
        exists = instant.astimezone(zone).replace(tzinfo=None) == naive
    except OverflowError:  # the first or last hours the calendar has
        raise ValueError("That date is too far in the past or future: check the year.") from None
    if not exists:
        raise ValueError(f"That time does not exist in {zone.key}: the clocks went forward.")
    if instant > now + SKEW:
        raise ValueError(
            f"That is later than now ({form_time(now, zone).replace('T', ' ')} in the clinic's "
            "time): record an infusion once it has ended."
        )
    if instant < now - OLDEST:
        raise ValueError(f"That is more than {OLDEST.days} days ago: check the date.")
    return instant


def planned_items(rows: list[Checkin]) -> list[PlannedItem]:
    items = []
    for row in rows:
        assert row.id is not None
        offset = timedelta(seconds=row.offset_seconds) if row.offset_seconds is not None else None
        items.append(
            PlannedItem(
                checkin_id=row.id,
                infusion_id=row.infusion_id,
                due_at=row.due_at,
                label=staff_checkin_label(row.kind, offset, row.day),
                after_quiet_hours=row.due_at != row.nominal_at,
            )
        )
    return items


async def planned(session: AsyncSession, *, patient: Patient) -> list[PlannedItem]:
    """The patient's check-ins planned and not yet sent, soonest first."""
    assert patient.id is not None
    return planned_items(await scheduled_for_patient(session, patient_id=patient.id))


def not_joined(patient: Patient) -> bool:
    """No Telegram chat yet: nothing, check-ins included, can reach the patient until they join."""
    return patient.chat_id is None


def may_change(infusion: Infusion) -> bool:
    """Whether the console offers to move or cancel the infusion (the service's own rule)."""
    return InfusionStatus(infusion.status).may_change


async def infusion_of(session: AsyncSession, *, patient: Patient, raw_id: str) -> Infusion | None:
    """The patient's infusion with this id; another patient's is None, like a missing one."""
    if not ID_SHAPE.fullmatch(raw_id):  # ASCII digits only: "²" is a digit to `isdigit`
        return None
    found = await get_infusion(session, infusion_id=int(raw_id))
    return found if found is not None and found.patient_id == patient.id else None


async def _near_another(
    session: AsyncSession, *, patient: Patient, ended_at: datetime, besides: int | None
) -> None:
    assert patient.id is not None
    for other in await active_infusions_of(session, patient_id=patient.id):
        if other.id != besides and abs(other.ended_at - ended_at) < APART:
            raise AdminError(
                f"Infusion #{other.id} already ends within an hour of that time: if this is "
                "the same infusion, move that one instead.",
                "ended_at",
            )


async def record(
    session: AsyncSession,
    *,
    patient: Patient,
    clinic: ClinicConfig,
    ended_at: datetime,
    protocol: str | None,
    now: datetime,
    actor: Actor,
) -> PlanChange:
    """Record an infusion and plan its check-ins."""
    await _near_another(session, patient=patient, ended_at=ended_at, besides=None)
    before = await planned(session, patient=patient)
    try:
        infusion, _ = await record_infusion(
            session,
            patient=patient,
            clinic=clinic,
            ended_at=ended_at,
            protocol=protocol,
            now=now,
            actor=actor,
        )
    except UnknownProtocol as exc:
        if protocol is not None:  # the one chosen on the form
            raise AdminError("Not one of this clinic's protocols.", "protocol") from None
        raise AdminError(f"Not recorded: {exc}.") from None
    except InfusionError as exc:
        raise AdminError(f"Not recorded: {exc}.") from None
    return PlanChange(infusion, before, await planned(session, patient=patient), None)


async def change(
    session: AsyncSession,
    *,
    patient: Patient,
    clinic: ClinicConfig,
    infusion: Infusion,
    now: datetime,
    actor: Actor,
    ended_at: datetime | None = None,
) -> PlanChange:
    """Move the infusion to `ended_at`, or cancel it (`ended_at` None), and re-plan."""
    if not may_change(infusion):
        raise AdminError(f"Infusion #{infusion.id} is already {infusion.status}. Nothing changed.")
    if ended_at is not None:
        if abs(ended_at - infusion.ended_at) < timedelta(minutes=1):
            raise AdminError("The infusion already ends at that time. Nothing changed.", "ended_at")
        await _near_another(session, patient=patient, ended_at=ended_at, besides=infusion.id)
    before = await planned(session, patient=patient)
    try:
        result = await change_infusion(
            session,
            infusion=infusion,
            patient=patient,
            clinic=clinic,
            now=now,
            actor=actor,
            ended_at=ended_at,
            cancel=ended_at is None,
        )
    except InfusionError as exc:
        raise AdminError(f"Not changed: {exc}.") from None
    assert infusion.id is not None
    changed = await get_infusion(session, infusion_id=infusion.id)
    assert changed is not None
    return PlanChange(changed, before, await planned(session, patient=patient), result)

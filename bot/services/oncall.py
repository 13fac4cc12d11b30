"""The on-call roster: who is on call now, and adding or ending shifts (audited)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from bot.clinic_config import ClinicConfig
from bot.domain.oncall import OnCall, Shift, Slot, on_call_at, rotation_shifts
from storage import audit
from storage import oncall as store
from storage.invites import clinicians_of_clinic
from storage.models import Clinician, OnCallShift
from storage.states import Actor, ShiftRole, ShiftSource, clinician_actor

log = logging.getLogger(__name__)

ROLES = ("primary", "backup")


class OnCallError(Exception):
    """A shift cannot be added; the message says why, in one line."""


@dataclass(frozen=True)
class RosterEntry:
    """One shift for display: who, which role, when, and where it comes from."""

    shift: Shift
    name: str
    source: str  # command | bot | rotation


def _shift(row: OnCallShift) -> Shift:
    return Shift(row.clinician_id, row.role, row.starts_at, row.ends_at, row.created_at)


def _by_name(clinicians: list[Clinician]) -> dict[str, list[Clinician]]:
    named: dict[str, list[Clinician]] = {}
    for clinician in clinicians:
        named.setdefault(clinician.name.strip().casefold(), []).append(clinician)
    return named


def resolve_rotation(clinic: ClinicConfig, clinicians: list[Clinician]) -> list[Slot]:
    """The clinic's rotation with names resolved to active clinicians; unknown names skipped."""
    named = _by_name([c for c in clinicians if c.active and c.clinic_id == clinic.id])
    slots = []
    for index, slot in enumerate(clinic.oncall.rotation):
        matches = named.get(slot.clinician.strip().casefold(), [])
        if not matches:
            log.warning(
                "oncall.rotation_unknown clinic=%s slot=%d name=%r: no active clinician "
                "registered under that name; the slot is skipped",
                clinic.id,
                index,
                slot.clinician,
            )
            continue
        if len(matches) > 1:
            log.warning(
                "oncall.rotation_ambiguous clinic=%s slot=%d name=%r: %d clinicians; "
                "using the earliest registered",
                clinic.id,
                index,
                slot.clinician,
                len(matches),
            )
        assert matches[0].id is not None
        slots.append(Slot(matches[0].id, slot.role, tuple(slot.days), slot.start, slot.end))
    return slots


async def who_is_on_call(session: AsyncSession, *, clinic: ClinicConfig, at: datetime) -> OnCall:
    """The primary and backup at `at`: explicit shifts first, then the rotation."""
    rows = await store.shifts_covering(session, clinic_id=clinic.id, at=at)
    slots = resolve_rotation(clinic, await clinicians_of_clinic(session, clinic_id=clinic.id))
    return on_call_at(at, shifts=[_shift(r) for r in rows], rotation=slots, zone=clinic.zone)


async def roster(
    session: AsyncSession, *, clinic: ClinicConfig, start: datetime, end: datetime
) -> list[RosterEntry]:
    """Every shift and rotation slot overlapping [start, end), named, by start time."""
    clinicians = await clinicians_of_clinic(session, clinic_id=clinic.id)
    rows = await store.shifts_overlapping(session, clinic_id=clinic.id, start=start, end=end)
    names = {c.id: c.name for c in clinicians}
    for row in rows:
        if row.clinician_id not in names:  # since deactivated: still show who it was
            found = await session.get(Clinician, row.clinician_id)
            names[row.clinician_id] = f"{found.name} (inactive)" if found else "?"
    entries = [RosterEntry(_shift(r), names[r.clinician_id], r.source) for r in rows]
    for shift in rotation_shifts(
        resolve_rotation(clinic, clinicians), start=start, end=end, zone=clinic.zone
    ):
        entries.append(RosterEntry(shift, names.get(shift.clinician_id, "?"), ShiftSource.ROTATION))
    return sorted(entries, key=lambda e: (e.shift.starts_at, ROLES.index(e.shift.role)))


async def add_shift(
    session: AsyncSession,
    *,
    clinic: ClinicConfig,
    clinician_name: str,
    starts_at: datetime,
    ends_at: datetime,
    now: datetime,
    actor: Actor,
    role: str = "primary",
) -> tuple[OnCallShift, Clinician]:
    """Add a command shift for a named clinician of the clinic; raise OnCallError if invalid."""
    if role not in ROLES:
        raise OnCallError(f"role must be primary or backup, not {role!r}")
    if starts_at.tzinfo is None or ends_at.tzinfo is None:
        raise OnCallError("shift times need a UTC offset")
    if starts_at >= ends_at:
        raise OnCallError(
            f"the shift must end after it starts (from {starts_at.isoformat()} "
            f"to {ends_at.isoformat()})"
        )
    matches = await store.clinicians_named(session, clinic_id=clinic.id, name=clinician_name)
    if not matches:
        known = ", ".join(c.name for c in await clinicians_of_clinic(session, clinic_id=clinic.id))
        raise OnCallError(
            f"no active clinician named {clinician_name!r} in {clinic.id} "
            f"(registered: {known or 'none'})"
        )
    if len(matches) > 1:
        raise OnCallError(
            f"{len(matches)} active clinicians in {clinic.id} are named {clinician_name!r}; "
            "rename one before rostering"
        )
    clinician = matches[0]
    assert clinician.id is not None
    shift = await store.add_shift(
        session,
        shift=OnCallShift(
            clinic_id=clinic.id,
            clinician_id=clinician.id,
            role=ShiftRole(role),
            starts_at=starts_at,
            ends_at=ends_at,
            source=ShiftSource.COMMAND,
            created_at=now,
        ),
    )
    await audit.append(
        session,
        at=now,
        actor=actor,
        event="oncall.added",
        clinic_id=clinic.id,
        detail={
            "shift_id": shift.id,
            "clinician_id": clinician.id,
            "role": role,
            "starts_at": starts_at.isoformat(),
            "ends_at": ends_at.isoformat(),
        },
    )
    return shift, clinician


async def take_primary_now(
    session: AsyncSession, *, clinic: ClinicConfig, clinician: Clinician, now: datetime
) -> OnCallShift:
    """/oncall: the clinician is primary from now for the clinic's bot shift length."""
    if clinician.clinic_id != clinic.id or not clinician.active or clinician.id is None:
        raise OnCallError(f"not an active clinician of {clinic.id}")
    replaced = await store.end_shifts(session, clinician_id=clinician.id, now=now, source="bot")
    shift = await store.add_shift(
        session,
        shift=OnCallShift(
            clinic_id=clinic.id,
            clinician_id=clinician.id,
            role=ShiftRole.PRIMARY,
            starts_at=now,
            ends_at=now + timedelta(hours=clinic.oncall.bot_shift_hours),
            source=ShiftSource.BOT,
            created_at=now,
        ),
    )
    await audit.append(
        session,
        at=now,
        actor=clinician_actor(clinician.id),
        event="oncall.taken",
        clinic_id=clinic.id,
        detail={
            "shift_id": shift.id,
            "clinician_id": clinician.id,
            "ends_at": shift.ends_at.isoformat(),
            "replaced": [s.id for s in replaced],
        },
    )
    return shift


async def go_off_call(
    session: AsyncSession, *, clinic: ClinicConfig, clinician: Clinician, now: datetime
) -> bool:
    """/offcall: end the clinician's /oncall shifts; True if any was ended (rotation untouched)."""
    if clinician.id is None or clinician.clinic_id != clinic.id:
        return False
    ended = await store.end_shifts(session, clinician_id=clinician.id, now=now, source="bot")
    if ended:
        await audit.append(
            session,
            at=now,
            actor=clinician_actor(clinician.id),
            event="oncall.ended",
            clinic_id=clinic.id,
            detail={"clinician_id": clinician.id, "shift_ids": [s.id for s in ended]},
        )
    return bool(ended)

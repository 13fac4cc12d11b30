"""The on-call roster: who is on call now, and adding or ending shifts (audited)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from bot.clinic_config import ClinicConfig
from bot.domain.oncall import (
    LONGEST_SHIFT,
    ROLES,
    OnCall,
    Shift,
    ShiftProblem,
    Slot,
    on_call_at,
    rotation_shifts,
    shift_problems,
)
from bot.i18n import C_
from storage import audit
from storage import oncall as store
from storage.invites import clinicians_of_clinic
from storage.models import Clinician, OnCallShift
from storage.states import Actor, ShiftRole, ShiftSource, clinician_actor

log = logging.getLogger(__name__)


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
    """`aftercare oncall add`: a scheduled shift for a named clinician of the clinic (see
    `schedule_shift`); raise OnCallError if invalid."""
    problems = shift_problems(role=role, starts_at=starts_at, ends_at=ends_at, now=now)
    if problems:  # before the name: a bad time is reported whoever it is for
        raise OnCallError(_said(problems[0], role, starts_at, ends_at))
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
    shift = await schedule_shift(
        session,
        clinic=clinic,
        clinician=clinician,
        role=role,
        starts_at=starts_at,
        ends_at=ends_at,
        now=now,
        actor=actor,
    )
    return shift, clinician


def _said(problem: ShiftProblem, role: str, starts_at: datetime, ends_at: datetime) -> str:
    """A shift problem in one line, as the CLI and the services say it."""
    match problem:
        case ShiftProblem.ROLE:
            return f"role must be primary or backup, not {role!r}"
        case ShiftProblem.NO_OFFSET:
            return "shift times need a UTC offset"
        case ShiftProblem.ENDS_BEFORE_START:
            return (
                f"the shift must end after it starts (from {starts_at.isoformat()} "
                f"to {ends_at.isoformat()})"
            )
        case ShiftProblem.TOO_LONG:
            return f"a shift can last at most {LONGEST_SHIFT.days} days"
        case ShiftProblem.TOO_FAR_AHEAD:
            return "a shift can start at most a year ahead"


async def schedule_shift(
    session: AsyncSession,
    *,
    clinic: ClinicConfig,
    clinician: Clinician,
    role: str,
    starts_at: datetime,
    ends_at: datetime,
    now: datetime,
    actor: Actor,
    note: Mapping[str, object] | None = None,
) -> OnCallShift:
    """Store a scheduled shift (source `command`, from the CLI or the console) and audit it
    (`oncall.added`, with `note` added to the detail). The rules are `shift_problems`, for
    every front end; a broken one raises OnCallError."""
    problems = shift_problems(role=role, starts_at=starts_at, ends_at=ends_at, now=now)
    if problems:
        raise OnCallError(_said(problems[0], role, starts_at, ends_at))
    if clinician.clinic_id != clinic.id or not clinician.active or clinician.id is None:
        raise OnCallError(C_("not an active clinician of {clinic}").format(clinic=clinic.id))
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
            **(note or {}),
        },
    )
    return shift


async def take_primary_now(
    session: AsyncSession, *, clinic: ClinicConfig, clinician: Clinician, now: datetime
) -> OnCallShift:
    """/oncall: the clinician is primary from now for the clinic's bot shift length."""
    if clinician.clinic_id != clinic.id or not clinician.active or clinician.id is None:
        raise OnCallError(C_("not an active clinician of {clinic}").format(clinic=clinic.id))
    await audit.hold_chain(session)  # before the shift rows it ends: the order of every writer
    replaced = await store.end_shifts(
        session, clinician_id=clinician.id, now=now, source=ShiftSource.BOT
    )
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
    await audit.hold_chain(session)  # before the shift rows it ends: the order of every writer
    ended = await store.end_shifts(
        session, clinician_id=clinician.id, now=now, source=ShiftSource.BOT
    )
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

"""The on-call roster in the console: the week as the pager sees it, and shifts added, changed
and ended there (audited with the events of `bot/services/oncall.py`: `oncall.added`,
`oncall.ended`, and `oncall.changed`), and what a change would leave uncovered.

Shifts added in the console are stored with source `command` (scheduled, like
`aftercare oncall add`): an instance of an older release reads them like any other.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from bot.clinic_config import ClinicConfig, RotationSlot
from bot.domain.coverage import (
    Roster,
    Stretch,
    WeekGrid,
    coverage,
    gaps,
    opened_gaps,
    roster_of,
    week_grid,
)
from bot.domain.oncall import (
    FURTHEST_AHEAD,
    LONGEST_SHIFT,
    ROLES,
    OnCall,
    Shift,
    ShiftProblem,
    shift_problems,
)
from bot.i18n import C_
from bot.services.oncall import OnCallError, resolve_rotation, schedule_shift
from storage import audit
from storage import oncall as store
from storage.invites import clinician_of_clinic, clinicians_of_clinic, team_of_clinic
from storage.models import Clinician, OnCallShift
from storage.states import Actor, ShiftRole

WEEK_DAYS = 7
WARN_WITHIN = timedelta(hours=24)  # a change leaving a gap this soon asks to be confirmed
PAST_START_SLACK = timedelta(minutes=5)  # a start this far back is "now" typed a moment ago
LOCAL_FORMATS = ("%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S")

Gap = tuple[datetime, datetime]


@dataclass(frozen=True)
class ShiftLine:
    """A stored shift still running or ahead, for the list under the table."""

    shift: OnCallShift
    name: str
    running: bool


@dataclass(frozen=True)
class RotationLine:
    """A slot of the clinic's weekly rotation and whether its name finds an active clinician."""

    index: int
    slot: RotationSlot
    resolved: bool


@dataclass(frozen=True)
class RosterWeek:
    grid: WeekGrid
    names: dict[int, str]
    on_call: OnCall
    now_stretch: Stretch | None  # the stretch `now` falls in: until when the current cover lasts
    shifts: list[ShiftLine]
    rotation: list[RotationLine]
    team: list[Clinician] = field(default_factory=list)  # active clinicians
    # The times from now to the table's end with no primary, merged whatever the backup does:
    # cover added inside a gap only ever shortens `uncovered` (the count of gaps may grow).
    gaps: list[Gap] = field(default_factory=list)

    @property
    def uncovered(self) -> timedelta:
        return sum((end - start for start, end in self.gaps), timedelta())


@dataclass(frozen=True)
class ShiftEdit:
    """A shift as it would be after a change (`shift_id` None: a new one)."""

    clinician_id: int
    role: str
    starts_at: datetime
    ends_at: datetime
    shift_id: int | None = None


def _shift(row: OnCallShift) -> Shift:
    return Shift(row.clinician_id, row.role, row.starts_at, row.ends_at, row.created_at)


def _roster(
    clinic: ClinicConfig, shifts: Iterable[Shift], clinicians: Sequence[Clinician]
) -> Roster:
    return roster_of(
        shifts=list(shifts),
        rotation=resolve_rotation(clinic, list(clinicians)),
        active=[c.id for c in clinicians if c.id is not None and c.active],
        zone=clinic.zone,
    )


async def week(session: AsyncSession, *, clinic: ClinicConfig, now: datetime) -> RosterWeek:
    """The roster from today (local) for a week, who is on call now, the shifts still running
    or ahead, and the rotation; exactly as the pager would resolve them."""
    first_day = now.astimezone(clinic.zone).date()
    start = datetime.combine(first_day, datetime.min.time(), tzinfo=clinic.zone).astimezone(UTC)
    end = start + timedelta(days=WEEK_DAYS + 1)  # a clock change never cuts the last day short
    rows = await store.shifts_overlapping(session, clinic_id=clinic.id, start=start, end=end)
    team = await team_of_clinic(session, clinic_id=clinic.id)
    active = [c for c in team if c.active]
    roster = _roster(clinic, (_shift(r) for r in rows), active)
    grid = week_grid(roster, first_day=first_day, days=WEEK_DAYS)
    names = {c.id: c.name if c.active else f"{c.name} (inactive)" for c in team if c.id is not None}
    later = await store.shifts_overlapping(
        session, clinic_id=clinic.id, start=now, end=now + FURTHEST_AHEAD
    )
    lines = [
        ShiftLine(r, names.get(r.clinician_id, "?"), r.starts_at <= now)
        for r in later
        if r.ends_at > r.starts_at
    ]
    stretches = coverage(roster, start=now, end=now + timedelta(days=WEEK_DAYS))
    table_end = grid.blocks[(grid.days[-1], 23)].ends_at
    resolved = {slot.clinician.strip().casefold() for slot in clinic.oncall.rotation} & {
        c.name.strip().casefold() for c in active
    }
    return RosterWeek(
        grid=grid,
        names=names,
        on_call=roster.on_call(now),
        now_stretch=stretches[0] if stretches else None,
        shifts=lines,
        rotation=[
            RotationLine(n, slot, slot.clinician.strip().casefold() in resolved)
            for n, slot in enumerate(clinic.oncall.rotation)
        ],
        team=active,
        gaps=gaps(roster, start=now, end=table_end),
    )


def parse_local(text: str, zone: ZoneInfo) -> datetime | str:
    """A `datetime-local` value read in the clinic's zone, as aware UTC; or what is wrong."""
    text = text.strip()
    if not text:
        return C_("Enter a date and time.")
    for pattern in LOCAL_FORMATS:
        try:
            naive = datetime.strptime(text, pattern)
        except ValueError:
            continue
        at = naive.replace(tzinfo=zone)
        try:
            utc = at.astimezone(UTC)
            if utc.astimezone(zone).replace(tzinfo=None) != naive:
                return f"{text.replace('T', ' ')} does not exist in {zone.key} (the clocks change)."
        except OverflowError:  # the first or last hours the calendar has
            return C_("That date is too far in the past or future: check the year.")
        return utc
    return C_("Enter a date and time like 2026-05-04 20:00.")


def check_shift(
    *,
    clinician: Clinician | None,
    role: str,
    starts_at: datetime | str,
    ends_at: datetime | str,
    now: datetime,
    stored_start: datetime | None = None,
) -> dict[str, str]:
    """What is wrong with a shift as entered, by form field; empty if nothing. A new shift
    (`stored_start` None), or a changed start, may not begin in the past (beyond a little
    slack for the time the form was open); a running shift whose start is kept may."""
    errors: dict[str, str] = {}
    if clinician is None or not clinician.active:
        errors["clinician"] = C_("Choose an active clinician of this clinic.")
    if role not in ROLES:
        errors["role"] = C_("Choose primary or backup.")
    if isinstance(starts_at, str):
        errors["starts_at"] = starts_at
    if isinstance(ends_at, str):
        errors["ends_at"] = ends_at
    if not isinstance(starts_at, datetime) or not isinstance(ends_at, datetime):
        return errors
    problems = shift_problems(role=role, starts_at=starts_at, ends_at=ends_at, now=now)
    if ShiftProblem.ENDS_BEFORE_START in problems:
        errors["ends_at"] = C_("The shift must end after it starts.")
    elif ShiftProblem.TOO_LONG in problems:
        errors["ends_at"] = f"A shift can last at most {LONGEST_SHIFT.days} days."
    elif ends_at <= now:  # the form's own guards: a typed date in the past is a typo
        errors["ends_at"] = C_("This end is in the past: a shift must end in the future.")
    elif starts_at != stored_start and starts_at < now - PAST_START_SLACK:
        errors["starts_at"] = (
            "A shift cannot start in the past: enter a start from now on (up to "
            f"{PAST_START_SLACK.seconds // 60} minutes ago is accepted as now)."
        )
    elif ShiftProblem.TOO_FAR_AHEAD in problems:
        errors["starts_at"] = C_("A shift can start at most a year ahead.")
    return errors


async def clinician_in(
    session: AsyncSession, *, clinic: ClinicConfig, clinician_id: int
) -> Clinician | None:
    return await clinician_of_clinic(session, clinic_id=clinic.id, clinician_id=clinician_id)


async def shift_in(
    session: AsyncSession, *, clinic: ClinicConfig, shift_id: int, lock: bool = False
) -> OnCallShift | None:
    """A stored shift of this clinic, or None (another clinic's looks missing); `lock` for a
    change: read after the audit chain's lock and row-locked, so a deactivation that ended it
    meanwhile is seen (see `store.shift_of_clinic`)."""
    return await store.shift_of_clinic(session, clinic_id=clinic.id, shift_id=shift_id, lock=lock)


async def gaps_opened(
    session: AsyncSession,
    *,
    clinic: ClinicConfig,
    now: datetime,
    edit: ShiftEdit | None = None,
    new_clinic: ClinicConfig | None = None,
    without: int | None = None,
) -> list[Gap]:
    """The times within the next 24 h that would have no primary after a change (a shift added
    or changed, a new rotation, or a clinician deactivated) though they have one now."""
    start, end = now, now + WARN_WITHIN
    rows = await store.shifts_overlapping(session, clinic_id=clinic.id, start=start, end=end)
    clinicians = await clinicians_of_clinic(session, clinic_id=clinic.id)
    before = _roster(clinic, (_shift(r) for r in rows), clinicians)
    shifts = {r.id: _shift(r) for r in rows}
    if edit is not None:
        created = now
        if edit.shift_id is not None:
            row = await store.shift_of_clinic(session, clinic_id=clinic.id, shift_id=edit.shift_id)
            created = row.created_at if row is not None else now
        shifts[edit.shift_id] = Shift(
            edit.clinician_id, edit.role, edit.starts_at, edit.ends_at, created
        )
    remaining = [c for c in clinicians if c.id != without]
    after_shifts = [s for s in shifts.values() if s.clinician_id != without]
    after = _roster(new_clinic or clinic, after_shifts, remaining)
    return opened_gaps(before, after, start=start, end=end)


def _detail(shift: OnCallShift) -> dict[str, object]:
    return {
        "shift_id": shift.id,
        "clinician_id": shift.clinician_id,
        "role": str(shift.role),
        "starts_at": shift.starts_at.isoformat(),
        "ends_at": shift.ends_at.isoformat(),
        "via": "console",
    }


def _gap_note(gaps: Sequence[Gap]) -> list[list[str]]:
    return [[a.isoformat(), b.isoformat()] for a, b in gaps][:20]


async def add(
    session: AsyncSession,
    *,
    clinic: ClinicConfig,
    edit: ShiftEdit,
    now: datetime,
    actor: Actor,
    gaps: Sequence[Gap] = (),
) -> OnCallShift:
    """Store a new shift (checked with `check_shift` first) through the one shift service
    (`bot/services/oncall.schedule_shift`), audited `oncall.added` with the gaps confirmed."""
    clinician = await clinician_of_clinic(
        session, clinic_id=clinic.id, clinician_id=edit.clinician_id
    )
    if clinician is None:
        raise OnCallError(f"not an active clinician of {clinic.id}")
    return await schedule_shift(
        session,
        clinic=clinic,
        clinician=clinician,
        role=edit.role,
        starts_at=edit.starts_at,
        ends_at=edit.ends_at,
        now=now,
        actor=actor,
        note={"via": "console", "gaps_confirmed": _gap_note(gaps)},
    )


async def change(
    session: AsyncSession,
    *,
    clinic: ClinicConfig,
    shift: OnCallShift,
    edit: ShiftEdit,
    now: datetime,
    actor: Actor,
    gaps: Sequence[Gap] = (),
) -> OnCallShift:
    """Change a stored shift's role, start and end, and audit it (`oncall.changed`); the
    shift as `shift_in(lock=True)` read it."""
    before = _detail(shift)
    shift.role = ShiftRole(edit.role)
    shift.starts_at, shift.ends_at = edit.starts_at, edit.ends_at
    await session.flush()
    await audit.append(
        session,
        at=now,
        actor=actor,
        event="oncall.changed",
        clinic_id=clinic.id,
        detail={
            **_detail(shift),
            "before": {k: before[k] for k in ("role", "starts_at", "ends_at")},
            "gaps_confirmed": _gap_note(gaps),
        },
    )
    return shift


async def end(
    session: AsyncSession,
    *,
    clinic: ClinicConfig,
    shift: OnCallShift,
    now: datetime,
    actor: Actor,
    gaps: Sequence[Gap] = (),
) -> OnCallShift:
    """End a shift now (one not started yet shrinks to nothing), audited as `oncall.ended`;
    the shift as `shift_in(lock=True)` read it."""
    shift.ends_at = max(shift.starts_at, now)
    await session.flush()
    await audit.append(
        session,
        at=now,
        actor=actor,
        event="oncall.ended",
        clinic_id=clinic.id,
        detail={
            "clinician_id": shift.clinician_id,
            "shift_ids": [shift.id],
            "via": "console",
            "gaps_confirmed": _gap_note(gaps),
        },
    )
    return shift


def ended_edit(shift: OnCallShift, now: datetime) -> ShiftEdit:
    """The shift as ending it now would leave it (for the gap check)."""
    return ShiftEdit(
        shift.clinician_id, str(shift.role), shift.starts_at, max(shift.starts_at, now), shift.id
    )

"""The clinic's team: its clinicians, their roles (clinician or admin), and deactivating one.

Deactivating takes a clinician off the roster at once: their current and future shifts end,
the rotation resolves names to active clinicians only (`resolve_rotation`), the pager pages
active clinicians only (primary, backup and everyone), and every console session of theirs
working in this clinic ends (a session of theirs in another clinic is that clinic's business).
The last active admin of a clinic can be neither demoted nor deactivated.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from bot.clinic_config import ClinicConfig
from bot.i18n import C_
from bot.services.clinic.roster import Gap, gaps_opened
from bot.services.console_access import end_clinic_sessions
from bot.services.oncall import who_is_on_call
from storage import audit
from storage import oncall as store
from storage.invites import active_admins, clinician_of_clinic, lock_clinician, team_of_clinic
from storage.models import Clinician, OnCallShift
from storage.states import Actor, SessionEnd

MAX_NAME = 80
EMAIL = re.compile(
    r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}"
)
PAGER_KEY = re.compile(r"[A-Za-z0-9_-]{1,128}")
LOOK_AHEAD = timedelta(days=3660)  # shifts this far ahead are listed before deactivating


class TeamError(Exception):
    """A change to the team that cannot be made; the message says why."""


@dataclass(frozen=True)
class Member:
    clinician: Clinician
    on_call: str  # "primary", "backup" or ""
    last_admin: bool = False  # the clinic's only active admin: cannot stop being one


@dataclass(frozen=True)
class Deactivation:
    """What deactivating a clinician would do (shown before it is confirmed)."""

    clinician: Clinician
    on_call_now: str  # their role now, or ""
    shifts: list[OnCallShift]  # running or ahead, to be ended
    rotation_slots: int  # slots of the rotation naming them, which stop resolving
    gaps: list[Gap]  # times in the next 24 h with no primary afterwards, covered now
    last_admin: bool


@dataclass(frozen=True)
class Deactivated:
    shifts_ended: int
    sessions_ended: int


async def members(session: AsyncSession, *, clinic: ClinicConfig, now: datetime) -> list[Member]:
    """Every clinician of the clinic (deactivated ones too), and who is on call now."""
    team = await team_of_clinic(session, clinic_id=clinic.id)
    on_call = await who_is_on_call(session, clinic=clinic, at=now)
    active = {c.id for c in team if c.active}
    roles = {
        clinician_id: role
        for role, clinician_id in (("backup", on_call.backup), ("primary", on_call.primary))
        if clinician_id in active  # as the pager sees it: an inactive one is nobody
    }
    admins = [c.id for c in team if c.active and c.is_admin]
    return [Member(c, roles.get(c.id, ""), admins == [c.id]) for c in team]


async def member(
    session: AsyncSession, *, clinic: ClinicConfig, clinician_id: int
) -> Clinician | None:
    """One clinician of this clinic (another clinic's is None, like a missing one)."""
    return await clinician_of_clinic(session, clinic_id=clinic.id, clinician_id=clinician_id)


def check_name(name: str) -> str | None:
    """What is wrong with a new clinician's name, or None."""
    if not name.strip():
        return C_("Enter the clinician's name, as colleagues know them.")
    if len(name.strip()) > MAX_NAME:
        return f"A name can be at most {MAX_NAME} characters."
    return None


async def _is_last_admin(session: AsyncSession, clinician: Clinician, *, lock: bool) -> bool:
    admins = await active_admins(session, clinic_id=clinician.clinic_id, lock=lock)
    return [a.id for a in admins] == [clinician.id]


async def set_admin(
    session: AsyncSession,
    *,
    clinician: Clinician,
    admin: bool,
    actor: Actor,
    now: datetime,
) -> bool:
    """Make the clinician an admin or a clinician; True if that changed anything."""
    assert clinician.id is not None
    await lock_clinician(session, clinician_id=clinician.id)  # the chain first; fresh
    if not clinician.active:
        raise TeamError(f"{clinician.name} is deactivated; reactivate them first.")
    if clinician.is_admin == admin:
        return False
    if not admin and await _is_last_admin(session, clinician, lock=True):
        raise TeamError(
            f"{clinician.name} is the clinic's last active admin; make someone else an admin first."
        )
    clinician.is_admin = admin
    await session.flush()
    await audit.append(
        session,
        at=now,
        actor=actor,
        event="clinician.promoted" if admin else "clinician.demoted",
        clinic_id=clinician.clinic_id,
        detail={"clinician_id": clinician.id},
    )
    return True


async def deactivation(
    session: AsyncSession, *, clinic: ClinicConfig, clinician: Clinician, now: datetime
) -> Deactivation:
    """What deactivating this clinician would do; nothing is changed."""
    assert clinician.id is not None
    on_call = await who_is_on_call(session, clinic=clinic, at=now)
    role = (
        "primary"
        if on_call.primary == clinician.id
        else "backup"
        if on_call.backup == clinician.id
        else ""
    )
    ahead = await store.shifts_overlapping(
        session, clinic_id=clinic.id, start=now, end=now + LOOK_AHEAD
    )
    name = clinician.name.strip().casefold()
    return Deactivation(
        clinician=clinician,
        on_call_now=role if clinician.active else "",
        shifts=[s for s in ahead if s.clinician_id == clinician.id and s.ends_at > s.starts_at],
        rotation_slots=sum(
            1 for slot in clinic.oncall.rotation if slot.clinician.strip().casefold() == name
        ),
        gaps=await gaps_opened(session, clinic=clinic, now=now, without=clinician.id),
        last_admin=clinician.is_admin and await _is_last_admin(session, clinician, lock=False),
    )


async def deactivate(
    session: AsyncSession,
    *,
    clinic: ClinicConfig,
    clinician: Clinician,
    actor: Actor,
    now: datetime,
) -> Deactivated:
    """Deactivate a clinician: off every shift and rotation slot, out of the pager's targets,
    and signed out of this clinic's console, at once; audited (`clinician.deactivated`)."""
    assert clinician.id is not None
    await lock_clinician(session, clinician_id=clinician.id)  # the chain first; fresh
    if not clinician.active:
        raise TeamError(f"{clinician.name} is already deactivated.")
    if clinician.is_admin and await _is_last_admin(session, clinician, lock=True):
        raise TeamError(
            f"{clinician.name} is the clinic's last active admin and cannot be deactivated; "
            "make someone else an admin first."
        )
    gaps = await gaps_opened(session, clinic=clinic, now=now, without=clinician.id)
    clinician.active = False
    ended = await store.end_every_shift(
        session, clinic_id=clinic.id, clinician_id=clinician.id, now=now
    )
    sessions = await end_clinic_sessions(
        session, clinician=clinician, actor=actor, now=now, by=SessionEnd.DEACTIVATED
    )
    await audit.append(
        session,
        at=now,
        actor=actor,
        event="clinician.deactivated",
        clinic_id=clinic.id,
        detail={
            "clinician_id": clinician.id,
            "shift_ids": [s.id for s in ended],
            "sessions_ended": sessions,
            "gaps_within_24h": [[a.isoformat(), b.isoformat()] for a, b in gaps][:20],
        },
    )
    return Deactivated(len(ended), sessions)


async def reactivate(
    session: AsyncSession, *, clinician: Clinician, actor: Actor, now: datetime
) -> bool:
    """Let a deactivated clinician in again (their ended shifts stay ended); True if changed."""
    assert clinician.id is not None
    await lock_clinician(session, clinician_id=clinician.id)  # the chain first; fresh
    if clinician.active:
        return False
    clinician.active = True
    await session.flush()
    await audit.append(
        session,
        at=now,
        actor=actor,
        event="clinician.reactivated",
        clinic_id=clinician.clinic_id,
        detail={"clinician_id": clinician.id},
    )
    return True


async def end_sessions(
    session: AsyncSession, *, clinician: Clinician, actor: Actor, now: datetime
) -> int:
    """End the clinician's console sessions working in this clinic (their sessions in another
    clinic they belong to go on); audited `console.sessions_ended`."""
    return await end_clinic_sessions(
        session, clinician=clinician, actor=actor, now=now, by=SessionEnd.ADMIN
    )


def contact_problems(email: str, pager_key: str) -> dict[str, str]:
    """What is wrong with a clinician's contact methods, by field (empty: none)."""
    problems = {}
    if email and (len(email) > 254 or not EMAIL.fullmatch(email)):
        problems["email"] = C_(
            "Enter an e-mail address such as ada@clinic.example, or leave it empty."
        )
    if pager_key and not PAGER_KEY.fullmatch(pager_key):
        problems["pager_key"] = C_(
            "A routing key is letters, digits, - and _ (up to 128), or leave it empty."
        )
    return problems


async def set_contact(
    session: AsyncSession,
    *,
    clinician: Clinician,
    email: str | None,
    pager_key: str | None,
    actor: Actor,
    now: datetime,
) -> bool:
    """Set (or clear, with None) where a clinician is paged besides Telegram; True if changed.
    Audited without the values (which channels are set, not the addresses)."""
    problems = contact_problems(email or "", pager_key or "")
    if problems:
        raise TeamError(" ".join(problems.values()))
    if (clinician.email, clinician.pager_key) == (email, pager_key):
        return False
    clinician.email, clinician.pager_key = email, pager_key
    await audit.append(
        session,
        at=now,
        actor=actor,
        event="clinician.contact_set",
        clinic_id=clinician.clinic_id,
        detail={
            "clinician_id": clinician.id,
            "email": email is not None,
            "pager_key": pager_key is not None,
        },
    )
    return True

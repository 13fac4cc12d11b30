"""The clinic's weekly on-call rotation edited in the console (console-managed clinics only):
a slot read from the form, and the rotation saved as the clinic's next settings version."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime, time

from sqlalchemy.ext.asyncio import AsyncSession

from bot.clinic_config import ClinicConfig, RotationSlot
from bot.i18n import C_
from bot.services.clinic import settings as clinic_settings
from storage.states import Actor

ROLES = ("primary", "backup")
MAX_SLOTS = 40
WEEKDAY_NUMBERS = frozenset("1234567")  # ISO weekdays as the form sends them (ASCII only)


def rotation_slot(
    *,
    clinician: str,
    role: str,
    days: Sequence[str],
    start: str,
    end: str,
    names: Collection[str],
) -> RotationSlot | dict[str, str]:
    """One rotation slot from the form (a clinician by registered name, among `names`), or
    what is wrong with it, by field (`clinician`, `role`, `days`, `start`, `end`)."""
    errors: dict[str, str] = {}
    registered = {n.strip().casefold(): n.strip() for n in names}
    name = registered.get(clinician.strip().casefold())
    if name is None:
        errors["clinician"] = C_("Choose an active clinician of this clinic.")
    if role not in ROLES:
        errors["role"] = C_("Choose primary or backup.")
    chosen = sorted({int(d) for d in days if d in WEEKDAY_NUMBERS})
    if not chosen or len(chosen) != len(set(days)):
        errors["days"] = C_("Tick at least one weekday.")
    times: dict[str, time] = {}
    for key, text in (("start", start), ("end", end)):
        for pattern in ("%H:%M", "%H:%M:%S"):
            try:
                times[key] = datetime.strptime(text.strip(), pattern).time()
                break
            except ValueError:
                continue
        else:
            errors[key] = C_("Enter a time like 08:00.")
    if errors or name is None:
        return errors
    return RotationSlot(
        clinician=name,
        role="backup" if role == "backup" else "primary",
        days=chosen,
        start=times["start"].replace(second=0, microsecond=0),
        end=times["end"].replace(second=0, microsecond=0),
    )


def with_rotation(clinic: ClinicConfig, rotation: Sequence[RotationSlot]) -> ClinicConfig:
    """The clinic with another weekly rotation (everything else as it is)."""
    oncall = clinic.oncall.model_copy(update={"rotation": list(rotation)})
    return clinic.model_copy(update={"oncall": oncall})


async def save_rotation(
    session: AsyncSession,
    *,
    clinic: ClinicConfig,
    rotation: Sequence[RotationSlot],
    based_on: int,
    actor: Actor,
    now: datetime,
) -> clinic_settings.Saved:
    """Store the clinic with a new rotation as its next settings version (`settings.saved`);
    SettingsConflict if someone saved since `based_on`, SettingsError if the clinic file
    manages the clinic."""
    return await clinic_settings.save(
        session, clinic=with_rotation(clinic, rotation), based_on=based_on, actor=actor, now=now
    )

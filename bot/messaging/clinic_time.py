"""A moment as a clinician reads it: in the clinic's zone, the patient's beside it (pure)."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol
from zoneinfo import ZoneInfo

from bot.clinic_config import ClinicConfig
from bot.i18n import C_


class Zoned(Protocol):
    """Anything that knows the patient's zone: the row, or a read service's view of it."""

    @property
    def timezone(self) -> str: ...


def when(instant: datetime, clinic: ClinicConfig, patient: Zoned) -> str:
    """'Wed 03 Jun 11:00 EDT', with the patient's local time beside it when it differs."""
    shown = f"{instant.astimezone(clinic.zone):%a %d %b %H:%M %Z}"
    own = ZoneInfo(patient.timezone)
    if (
        own.key == clinic.zone.key
        or instant.astimezone(own).utcoffset() == instant.astimezone(clinic.zone).utcoffset()
    ):
        return shown
    return C_("{time} ({own} for the patient)").format(
        time=shown, own=f"{instant.astimezone(own):%H:%M %Z}"
    )

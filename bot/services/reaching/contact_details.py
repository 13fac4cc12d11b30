"""A patient's contact details: their phone and their emergency contact (name, relation, phone).

Any clinician of the patient's clinic may read and change them; another clinic's cannot find
the patient at all. Every change is audited with the names of the fields changed, never their
values (the audit log is exported and read more widely than the record), and so is every look
from Telegram's /contact. The free text of older enrollments (`Patient.emergency_contact`) is
shown as it is while no structured emergency contact replaces it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain.phone import PhoneNumber, PhoneRefused, parse_phone
from bot.i18n import C_
from bot.services.wording.refusals import said
from storage import audit
from storage.models import Patient
from storage.patients import patient_by_ref
from storage.states import Actor

FIELDS = ("phone", "emergency_name", "emergency_relation", "emergency_phone")
MAX_NAME, MAX_RELATION = 120, 60  # the columns' lengths
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class ContactChange:
    """What a form asks the contact details to become (None: empty)."""

    phone: PhoneNumber | None
    emergency_name: str | None
    emergency_relation: str | None
    emergency_phone: PhoneNumber | None


@dataclass(frozen=True)
class ContactDetails:
    """What a clinician of the clinic is shown, with the patient's own time of day now."""

    ref: str
    timezone: str
    local_time: str  # "03:12", in the patient's zone
    phone: str | None
    phone_e164: str | None
    emergency_name: str | None
    emergency_relation: str | None
    emergency_phone: str | None
    emergency_phone_e164: str | None
    emergency_note: str | None  # an older enrollment's free text, while nothing structured

    @property
    def has_emergency(self) -> bool:
        return bool(self.emergency_name or self.emergency_phone)

    @property
    def is_empty(self) -> bool:
        return not (self.phone or self.has_emergency or self.emergency_note)


def read_contact(
    values: Mapping[str, str], *, country_code: str | None
) -> tuple[ContactChange | None, dict[str, str]]:
    """The contact details a form asks for, or the problem with each field it names; an empty
    field is an empty detail. An emergency contact needs a name and a phone; the relation is
    optional. `country_code` is the clinic's `phone_country_code`."""
    errors: dict[str, str] = {}
    phone = _phone(values.get("phone", ""), "phone", country_code, errors)
    emergency_phone = _phone(
        values.get("emergency_phone", ""), "emergency_phone", country_code, errors
    )
    name = _text(values.get("emergency_name", ""), "emergency_name", MAX_NAME, errors)
    relation = _text(
        values.get("emergency_relation", ""), "emergency_relation", MAX_RELATION, errors
    )
    if not errors:
        if (relation or emergency_phone) and not name:
            errors["emergency_name"] = C_(
                "Enter the emergency contact's name, or clear their phone."
            )
        if name and emergency_phone is None:
            errors["emergency_phone"] = C_("Enter a phone number for the emergency contact.")
    if errors:
        return None, errors
    return ContactChange(phone, name, relation, emergency_phone), {}


def _phone(raw: str, key: str, country: str | None, errors: dict[str, str]) -> PhoneNumber | None:
    if not raw.strip():
        return None
    try:
        return parse_phone(raw, default_country=country)
    except PhoneRefused as exc:
        errors[key] = said(exc)
        return None


def _text(raw: str, key: str, limit: int, errors: dict[str, str]) -> str | None:
    value = " ".join(raw.split())
    if _CONTROL.search(value):
        errors[key] = C_("Letters, digits and punctuation only.")
    elif len(value) > limit:
        errors[key] = C_("At most {most} characters (this has {count}).").format(
            most=limit, count=len(value)
        )
    return value or None


def form_values(patient: Patient) -> dict[str, str]:
    """The edit form's fields as stored (numbers as they were entered)."""
    return {
        "phone": patient.phone or "",
        "emergency_name": patient.emergency_name or "",
        "emergency_relation": patient.emergency_relation or "",
        "emergency_phone": patient.emergency_phone or "",
    }


def details_of(patient: Patient, *, now: datetime) -> ContactDetails:
    """The patient's contact details as shown to a clinician of their clinic."""
    structured = bool(patient.emergency_name or patient.emergency_phone)
    return ContactDetails(
        ref=patient.ref,
        timezone=patient.timezone,
        local_time=now.astimezone(ZoneInfo(patient.timezone)).strftime("%H:%M"),
        phone=patient.phone,
        phone_e164=patient.phone_e164,
        emergency_name=patient.emergency_name,
        emergency_relation=patient.emergency_relation,
        emergency_phone=patient.emergency_phone,
        emergency_phone_e164=patient.emergency_phone_e164,
        emergency_note=None if structured else (patient.emergency_contact or None),
    )


async def change_contact(
    session: AsyncSession, *, patient: Patient, change: ContactChange, actor: Actor, now: datetime
) -> list[str]:
    """Store the contact details; the names of the fields that changed (audited as
    `patient.contact_changed`, without values). Nothing changed: nothing written."""
    stored = {
        "phone": (patient.phone, patient.phone_e164),
        "emergency_name": patient.emergency_name,
        "emergency_relation": patient.emergency_relation,
        "emergency_phone": (patient.emergency_phone, patient.emergency_phone_e164),
    }
    wanted = {
        "phone": _pair(change.phone),
        "emergency_name": change.emergency_name,
        "emergency_relation": change.emergency_relation,
        "emergency_phone": _pair(change.emergency_phone),
    }
    changed = [name for name in FIELDS if stored[name] != wanted[name]]
    if not changed:
        return []
    patient.phone, patient.phone_e164 = _pair(change.phone)
    patient.emergency_name = change.emergency_name
    patient.emergency_relation = change.emergency_relation
    patient.emergency_phone, patient.emergency_phone_e164 = _pair(change.emergency_phone)
    await audit.append(
        session,
        at=now,
        actor=actor,
        event="patient.contact_changed",
        clinic_id=patient.clinic_id,
        patient_id=patient.id,
        detail={
            "changed": changed,
            "cleared": [name for name in changed if wanted[name] in (None, (None, None))],
        },
    )
    return changed


def _pair(number: PhoneNumber | None) -> tuple[str | None, str | None]:
    return (number.entered, number.e164) if number else (None, None)


async def look_up_contact(
    session: AsyncSession, *, clinic_id: str, ref: str, actor: Actor, now: datetime, via: str
) -> ContactDetails | None:
    """A clinician's look at a patient's contact details (`via`: "telegram"), audited as
    `patient.contact_viewed`; another clinic's patient is None, exactly like an unknown one."""
    patient = await patient_by_ref(session, clinic_id=clinic_id, ref=ref)
    if patient is None:
        return None
    await audit.append(
        session,
        at=now,
        actor=actor,
        event="patient.contact_viewed",
        clinic_id=clinic_id,
        patient_id=patient.id,
        detail={"via": via},
    )
    return details_of(patient, now=now)

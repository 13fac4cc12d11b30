"""The console's patient administration: enrolling a patient with an invite to show in clinic,
a new invite in place of the old ones, and the clinic stopping or resuming their check-ins.

Form values are read here (pure), so the console only passes strings in and shows the
messages beside their fields; the changes themselves are `enrollment`'s and `patients`'.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from zoneinfo import available_timezones

from sqlalchemy.ext.asyncio import AsyncSession

from bot.clinic_config import ClinicConfig
from bot.services.enrollment import (
    REF_SHAPE,
    EnrollmentError,
    LanguageRefused,
    enroll_patient,
    reissue_patient_invite,
)
from bot.services.patients import AlreadyStopped, ResumeError, StopRefused, resume, stop_by_clinic
from bot.services.reaching.contact_details import ContactChange, change_contact, read_contact
from storage.models import Patient
from storage.patients import patient_by_ref
from storage.states import Actor

MAX_REF = 64
MAX_CONTACT = 200
NOT_ZONES = {"Factory", "localtime"}

# Reason codes (stored in the audit log: never free text, which could name someone).
STOP_REASONS = {
    "patient_asked": "The patient asked the clinic to stop them",
    "treatment_ended": "The course of treatment has ended",
    "clinical_decision": "A clinical decision of the care team",
    "other_care": "The patient is now cared for elsewhere (e.g. admitted)",
}
RESUME_REASONS = {
    "patient_asked": "The patient asked to have them back",
    "treatment_restarted": "Treatment is starting again",
    "reachable_again": "The patient can be reached on Telegram again",
    "clinical_decision": "A clinical decision of the care team",
}


class AdminError(Exception):
    """A change that cannot be made; `field` names the form field it concerns, if any."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message, self.field = message, field


@dataclass(frozen=True)
class Enrollment:
    ref: str
    timezone: str
    baseline_mood: int | None
    emergency_contact: str | None  # free text (CLI --emergency-contact); the form: `contact`
    protocol: str | None  # None: the clinic's default
    contact: ContactChange | None = None  # phone and emergency contact
    language: str | None = None  # the patient's own; None: the clinic's default


@dataclass(frozen=True)
class Invitation:
    """An invite just made: the token exists only here (only its hash is stored)."""

    patient: Patient
    token: str
    expires_at: datetime


@cache
def zone_names() -> tuple[str, ...]:
    """Every IANA zone a patient may live in, sorted (what the form offers and accepts)."""
    return tuple(
        sorted(
            z
            for z in available_timezones()
            if z not in NOT_ZONES and not z.startswith(("posix/", "right/"))
        )
    )


def read_enrollment(
    values: Mapping[str, str], clinic: ClinicConfig
) -> tuple[Enrollment | None, dict[str, str]]:
    """The enrollment a form asks for, or the problem with each field it names."""
    errors: dict[str, str] = {}
    ref = values.get("ref", "").strip()
    if not ref:
        errors["ref"] = "Enter the clinic's reference for this patient, e.g. P-0042."
    elif len(ref) > MAX_REF:
        errors["ref"] = f"At most {MAX_REF} characters (this one has {len(ref)})."
    elif not REF_SHAPE.match(ref):
        errors["ref"] = (
            "Use letters, digits, '.', '_' or '-' only, starting with a letter or digit: "
            "a pseudonymous reference, never the patient's name."
        )
    zone = values.get("timezone", "").strip() or clinic.timezone
    if zone not in zone_names():
        errors["timezone"] = (
            "Not a time zone we know: choose one from the list, e.g. Europe/London."
        )
    mood_text = values.get("baseline_mood", "").strip()
    mood = None
    if mood_text:
        if not re.fullmatch(r"[0-9]{1,2}", mood_text) or not 0 <= int(mood_text) <= 10:
            errors["baseline_mood"] = "A whole number from 0 to 10, or leave it empty."
        else:
            mood = int(mood_text)
    contact = values.get("emergency_contact", "").strip()
    if len(contact) > MAX_CONTACT:
        errors["emergency_contact"] = f"At most {MAX_CONTACT} characters."
    protocol = values.get("protocol", "").strip()
    if protocol and protocol not in clinic.protocols:
        errors["protocol"] = "Not one of this clinic's protocols."
    details, contact_errors = read_contact(values, country_code=clinic.phone_country_code)
    errors.update(contact_errors)
    if errors:
        return None, errors
    language = values.get("language", "").strip() or None
    return Enrollment(ref, zone, mood, contact or None, protocol or None, details, language), {}


async def enroll(
    session: AsyncSession,
    *,
    clinic: ClinicConfig,
    enrollment: Enrollment,
    now: datetime,
    actor: Actor,
) -> Invitation:
    """A new patient of the clinic and their single-use invite; a reference already in use
    is refused (a new invite for that patient is `reissue`)."""
    if await patient_by_ref(session, clinic_id=clinic.id, ref=enrollment.ref) is not None:
        raise AdminError(
            f"{enrollment.ref} is already a patient of this clinic. To give them a new invite, "
            "use “New invite” on their page.",
            "ref",
        )
    try:
        patient, token = await enroll_patient(
            session,
            clinic=clinic,
            ref=enrollment.ref,
            timezone=enrollment.timezone,
            baseline_mood=enrollment.baseline_mood,
            emergency_contact=enrollment.emergency_contact,
            now=now,
            actor=actor,
            protocol=enrollment.protocol,
            language=enrollment.language,
        )
    except LanguageRefused as exc:
        raise AdminError(str(exc), "language") from None
    except EnrollmentError as exc:  # the form's rules are the service's; kept as a guard
        raise AdminError(str(exc)) from None
    if enrollment.contact is not None:
        await change_contact(
            session, patient=patient, change=enrollment.contact, actor=actor, now=now
        )
    return Invitation(patient, token, now + clinic.invite_valid_for)


async def reissue(
    session: AsyncSession, *, clinic: ClinicConfig, patient: Patient, now: datetime, actor: Actor
) -> Invitation:
    """A new invite for a patient who has not joined yet; their earlier ones stop working."""
    try:
        invite, token = await reissue_patient_invite(
            session, clinic=clinic, patient=patient, now=now, actor=actor
        )
    except EnrollmentError:
        raise AdminError(
            f"{patient.ref} has already joined, so an invite would not work for them. "
            "Nothing was changed."
        ) from None
    return Invitation(patient, token, invite.expires_at)


async def stop(
    session: AsyncSession,
    *,
    clinic: ClinicConfig,
    patient: Patient,
    reason: str,
    now: datetime,
    actor: Actor,
) -> int:
    """Stop the patient's check-ins for a reason; returns how many planned ones were cancelled."""
    if reason not in STOP_REASONS:
        raise AdminError("Choose the reason for stopping.", "reason")
    try:
        return await stop_by_clinic(
            session, patient=patient, clinic=clinic, now=now, actor=actor, reason=reason
        )
    except AlreadyStopped:
        raise AdminError(f"{patient.ref}'s check-ins are already stopped.") from None
    except StopRefused as exc:
        raise AdminError(f"{exc} Nothing was changed.") from None


async def restart(
    session: AsyncSession,
    *,
    clinic: ClinicConfig,
    patient: Patient,
    reason: str,
    now: datetime,
    actor: Actor,
) -> int:
    """Resume the patient's check-ins for a reason; returns how many are planned again."""
    if reason not in RESUME_REASONS:
        raise AdminError("Choose the reason for resuming.", "reason")
    try:
        return await resume(
            session, patient=patient, clinic=clinic, now=now, actor=actor, reason=reason
        )
    except ResumeError as exc:
        raise AdminError(f"{exc} Nothing was changed.") from None

"""Enrollment: single-use expiring invites, consent, and opting out (CLINICAL.md §9)."""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy.ext.asyncio import AsyncSession

from bot.clinic_config import ClinicConfig
from bot.i18n import C_, normalize
from bot.services.clinic.instruments import language_refusal
from storage import audit
from storage.invites import (
    add_clinician,
    add_invite,
    clinician_of,
    get_invite,
    invite_by_hash,
    open_patient_invites,
)
from storage.models import Clinician, Invite, Patient
from storage.patients import add_patient, get_patient, patient_by_ref
from storage.people import patient_by_chat
from storage.states import (
    Actor,
    InviteKind,
    PatientStatus,
    clinician_actor,
    patient_actor,
)

TOKEN_BYTES = 16  # 128 random bits
TOKEN_SHAPE = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
REF_SHAPE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


class EnrollmentError(Exception):
    """A request that cannot be carried out; the message is safe to show the requester."""


class LanguageRefused(EnrollmentError):
    """The patient's language cannot be offered (no installed C-SSRS translation, or no
    catalogue of Aftercare's own texts): the message names what is missing."""


class InviteProblem(StrEnum):
    MALFORMED = "malformed"
    UNKNOWN = "unknown"
    EXPIRED = "expired"
    USED = "used"
    ENROLLED = "enrolled"  # the patient's own invite, opened again after they joined
    TAKEN = "taken"  # the patient is already linked to another chat
    CHAT_TAKEN = "chat_taken"  # this chat is already linked to another patient


@dataclass(frozen=True)
class InviteCheck:
    invite: Invite | None
    problem: InviteProblem | None = None


def new_token() -> tuple[str, str]:
    """A fresh invite token and the hash that is all we store."""
    token = secrets.token_urlsafe(TOKEN_BYTES)
    return token, token_hash(token)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def deep_link(bot_username: str | None, token: str) -> str:
    return f"https://t.me/{bot_username or '<bot username>'}?start={token}"


async def create_clinician_invite(
    session: AsyncSession,
    *,
    clinic: ClinicConfig,
    name: str,
    is_admin: bool,
    now: datetime,
    actor: Actor,
) -> str:
    """A single-use invite that registers whoever opens it as a clinician of the clinic."""
    if not name.strip():
        raise EnrollmentError("a clinician needs a name")
    token, hashed = new_token()
    invite = await add_invite(
        session,
        invite=Invite(
            clinic_id=clinic.id,
            kind=InviteKind.CLINICIAN,
            token_hash=hashed,
            clinician_name=name.strip(),
            is_admin=is_admin,
            created_at=now,
            expires_at=now + clinic.invite_valid_for,
        ),
    )
    await audit.append(
        session,
        at=now,
        actor=actor,
        event="invite.created",
        clinic_id=clinic.id,
        detail={"invite_id": invite.id, "kind": "clinician", "admin": is_admin},
    )
    return token


async def enroll_patient(
    session: AsyncSession,
    *,
    clinic: ClinicConfig,
    ref: str,
    timezone: str | None,
    baseline_mood: int | None,
    emergency_contact: str | None,
    now: datetime,
    actor: Actor,
    protocol: str | None = None,
    language: str | None = None,
) -> tuple[Patient, str]:
    """Create the patient (or re-invite one not yet linked) and a single-use invite;
    `protocol` (one of the clinic's) replaces the clinic's default for their infusions;
    `language` is the patient's own (None: the clinic's default), refused unless a check-in
    can be offered in it (CLINICAL.md §13)."""
    chosen = _language(language)
    if not REF_SHAPE.match(ref):
        raise EnrollmentError(
            C_("reference {ref} must be 1-64 letters, digits, '.', '_' or '-' (no names)").format(
                ref=repr(ref[:64])
            )
        )
    zone = timezone or clinic.timezone
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a name too long for a path
        raise EnrollmentError(
            C_("unknown IANA time zone {zone}, e.g. Europe/London").format(zone=repr(zone[:64]))
        ) from None
    if baseline_mood is not None and not 0 <= baseline_mood <= 10:
        raise EnrollmentError(C_("baseline mood must be 0 to 10"))
    if protocol is not None and protocol not in clinic.protocols:
        raise EnrollmentError(
            C_("clinic {clinic} has no protocol {protocol}").format(
                clinic=clinic.id, protocol=repr(protocol[:64])
            )
        )
    await audit.hold_chain(session)  # the chain before the patient's row (audit.hold_chain)
    patient = await patient_by_ref(session, clinic_id=clinic.id, ref=ref)
    if patient is not None and patient.status != PatientStatus.INVITED:
        raise EnrollmentError(
            C_("patient {ref} is already enrolled ({status})").format(
                ref=ref, status=patient.status
            )
        )
    if patient is None:
        patient = await add_patient(
            session,
            patient=Patient(
                clinic_id=clinic.id,
                ref=ref,
                timezone=zone,
                baseline_mood=baseline_mood,
                emergency_contact=emergency_contact,
                language=chosen,
                created_at=now,
            ),
        )
    else:
        patient.language = chosen
        patient.timezone = zone
        patient.baseline_mood = (
            baseline_mood if baseline_mood is not None else patient.baseline_mood
        )
        patient.emergency_contact = emergency_contact or patient.emergency_contact
    if protocol is not None:
        patient.protocol = protocol
    invite, token = await _patient_invite(session, clinic=clinic, patient=patient, now=now)
    await audit.append(
        session,
        at=now,
        actor=actor,
        event="patient.enrolled",
        clinic_id=clinic.id,
        patient_id=patient.id,
        detail={"invite_id": invite.id, "timezone": zone, "language": chosen},
    )
    return patient, token


def _language(language: str | None) -> str | None:
    """The patient's language as stored, or LanguageRefused naming what is missing."""
    if language is None or not language.strip():
        return None
    refused = language_refusal(language.strip())
    if refused is not None:
        raise LanguageRefused(refused)
    return normalize(language.strip())


async def _patient_invite(
    session: AsyncSession, *, clinic: ClinicConfig, patient: Patient, now: datetime
) -> tuple[Invite, str]:
    """A new single-use invite for the patient (stored as a hash) and its token."""
    token, hashed = new_token()
    invite = await add_invite(
        session,
        invite=Invite(
            clinic_id=clinic.id,
            kind=InviteKind.PATIENT,
            token_hash=hashed,
            patient_id=patient.id,
            created_at=now,
            expires_at=now + clinic.invite_valid_for,
        ),
    )
    return invite, token


async def reissue_patient_invite(
    session: AsyncSession, *, clinic: ClinicConfig, patient: Patient, now: datetime, actor: Actor
) -> tuple[Invite, str]:
    """A new single-use invite for a patient who has not joined yet; every earlier invite of
    theirs expires now, so only the new one works."""
    assert patient.id is not None
    if patient.status != PatientStatus.INVITED:
        raise EnrollmentError(f"patient {patient.ref} has already joined ({patient.status})")
    await audit.hold_chain(session)  # the chain before the patient's rows (audit.hold_chain)
    expired = []
    for old in await open_patient_invites(session, patient_id=patient.id, now=now):
        old.expires_at = now
        expired.append(old.id)
    invite, token = await _patient_invite(session, clinic=clinic, patient=patient, now=now)
    await audit.append(
        session,
        at=now,
        actor=actor,
        event="invite.reissued",
        clinic_id=clinic.id,
        patient_id=patient.id,
        detail={"invite_id": invite.id, "expired_invites": expired},
    )
    return invite, token


async def check_invite(
    session: AsyncSession, *, token: str, chat_id: int, now: datetime
) -> InviteCheck:
    """Whether a token may be used from this chat, and if not, why."""
    if not TOKEN_SHAPE.match(token):
        return InviteCheck(None, InviteProblem.MALFORMED)
    return await _check(
        session, await invite_by_hash(session, token_hash=token_hash(token)), chat_id, now
    )


async def offer_consent(session: AsyncSession, *, invite: Invite, chat_id: int) -> int:
    """The consent screen is shown in this chat; its buttons carry only the invite's id."""
    assert invite.id is not None
    invite.offered_chat_id = chat_id
    return invite.id


async def invited_language(session: AsyncSession, *, invite: Invite) -> str | None:
    """The language the clinic enrolled the invited patient in (None: not set), so the consent
    screen is already in it."""
    if invite.patient_id is None:
        return None
    patient = await get_patient(session, patient_id=invite.patient_id)
    return patient.language if patient is not None else None


async def check_offer(
    session: AsyncSession, *, invite_id: int, chat_id: int, now: datetime
) -> InviteCheck:
    """A consent button: valid only in the chat the invite's consent screen was shown in."""
    invite = await get_invite(session, invite_id=invite_id)
    if invite is None or invite.offered_chat_id != chat_id:
        return InviteCheck(None, InviteProblem.UNKNOWN)
    return await _check(session, invite, chat_id, now)


async def _check(
    session: AsyncSession, invite: Invite | None, chat_id: int, now: datetime
) -> InviteCheck:
    if invite is None:
        return InviteCheck(None, InviteProblem.UNKNOWN)
    linked = await patient_by_chat(session, chat_id=chat_id)
    if linked is not None and linked.id == invite.patient_id:
        return InviteCheck(invite, InviteProblem.ENROLLED)  # their own invite, again
    if invite.used_at is not None:
        return InviteCheck(invite, InviteProblem.USED)
    if invite.expires_at <= now:
        return InviteCheck(invite, InviteProblem.EXPIRED)
    if invite.kind == InviteKind.PATIENT:
        assert invite.patient_id is not None
        patient = await get_patient(session, patient_id=invite.patient_id)
        assert patient is not None
        if patient.chat_id is not None and patient.chat_id != chat_id:
            return InviteCheck(invite, InviteProblem.TAKEN)
        if linked is not None:
            return InviteCheck(invite, InviteProblem.CHAT_TAKEN)
    return InviteCheck(invite)


async def redeem_clinician_invite(
    session: AsyncSession, *, invite: Invite, user_id: int, chat_id: int, now: datetime
) -> Clinician:
    """Register this Telegram account as a clinician (or reactivate it); the invite is spent."""
    assert invite.kind == InviteKind.CLINICIAN and invite.clinician_name is not None
    clinician = await clinician_of(session, clinic_id=invite.clinic_id, telegram_user_id=user_id)
    if clinician is None:
        clinician = await add_clinician(
            session,
            clinician=Clinician(
                clinic_id=invite.clinic_id,
                name=invite.clinician_name,
                telegram_user_id=user_id,
                chat_id=chat_id,
                is_admin=invite.is_admin,
                created_at=now,
            ),
        )
    else:
        clinician.active, clinician.chat_id = True, chat_id
        clinician.is_admin = clinician.is_admin or invite.is_admin
    invite.used_at, invite.used_by_user_id = now, user_id
    await audit.append(
        session,
        at=now,
        actor=clinician_actor(clinician.id),
        event="clinician.joined",
        clinic_id=invite.clinic_id,
        detail={"invite_id": invite.id, "clinician_id": clinician.id},
    )
    return clinician


async def accept_consent(
    session: AsyncSession, *, invite: Invite, user_id: int, chat_id: int, now: datetime
) -> Patient:
    """Link the chat to the patient after consent; the invite is spent."""
    assert invite.kind == InviteKind.PATIENT and invite.patient_id is not None
    patient = await get_patient(session, patient_id=invite.patient_id)
    assert patient is not None
    patient.chat_id, patient.telegram_user_id = chat_id, user_id
    patient.status, patient.consented_at = PatientStatus.ACTIVE, now
    invite.used_at, invite.used_by_user_id = now, user_id
    await audit.append(
        session,
        at=now,
        actor=patient_actor(patient.id),
        event="patient.consented",
        clinic_id=patient.clinic_id,
        patient_id=patient.id,
        detail={"invite_id": invite.id},
    )
    return patient

"""Clinician commands in the bot: /enroll, /infusion and /resume."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from telegram import Message, Update

from bot.context import AftercareContext
from bot.i18n import use_language
from bot.i18n.resolve import patient_language
from bot.messaging import texts
from bot.messaging.delivery import Outcome, deliver
from bot.services.enrollment import EnrollmentError, deep_link, enroll_patient
from bot.services.infusions import InfusionError, describe_plan, record_infusion
from bot.services.patients import ResumeError
from bot.services.patients import resume as resume_patient
from handlers.auth import clinicians_only
from storage.models import Clinician
from storage.patients import patient_by_ref
from storage.states import clinician_actor


@clinicians_only
async def enroll(
    update: Update, context: AftercareContext, message: Message, clinician: Clinician
) -> None:
    """/enroll REF [ZONE]: create the patient and print a single-use invite link."""
    args = context.args or []
    if not 1 <= len(args) <= 2:
        await message.reply_text("Usage: /enroll REF [ZONE], e.g. /enroll P-0042 Europe/London")
        return
    ctx = context.app
    clinic = ctx.clinic(clinician.clinic_id)
    try:
        async with context.effects() as session:
            patient, token = await enroll_patient(
                session,
                clinic=clinic,
                ref=args[0],
                timezone=args[1] if len(args) > 1 else None,
                baseline_mood=None,
                emergency_contact=None,
                now=ctx.clock.now(),
                actor=clinician_actor(clinician.id),
            )
    except EnrollmentError as exc:
        await message.reply_text(f"Not enrolled: {str(exc)[:500]}")
        return
    await message.reply_text(
        f"Patient {patient.ref} ({patient.timezone}) invited. Give them this single-use link "
        f"(valid {clinic.invite_valid_for.days} days):\n{deep_link(context.bot.username, token)}"
    )


@clinicians_only
async def infusion(
    update: Update, context: AftercareContext, message: Message, clinician: Clinician
) -> None:
    """/infusion REF [HH:MM]: an infusion that ended now, or at HH:MM today (patient's time)."""
    args = context.args or []
    if not 1 <= len(args) <= 2:
        await message.reply_text("Usage: /infusion REF [HH:MM]")
        return
    ctx = context.app
    clinic = ctx.clinic(clinician.clinic_id)
    now = ctx.clock.now()
    async with context.effects() as session:
        patient = await patient_by_ref(session, clinic_id=clinic.id, ref=args[0])
        if patient is None:
            await message.reply_text(f"No patient {args[0][:64]} in {clinic.name}.")
            return
        zone = ZoneInfo(patient.timezone)
        try:
            ended = _today_at(args[1], zone, now) if len(args) > 1 else now
            recorded, planned = await record_infusion(
                session,
                patient=patient,
                clinic=clinic,
                ended_at=ended,
                protocol=None,
                now=now,
                actor=clinician_actor(clinician.id),
            )
        except (InfusionError, ValueError) as exc:
            await message.reply_text(f"Not recorded: {str(exc)[:500]}")
            return
    lines = "\n".join(describe_plan(planned, zone)) or "(none: every window has passed)"
    await message.reply_text(
        f"Infusion {recorded.id} for {patient.ref} recorded, ended "
        f"{recorded.ended_at.astimezone(zone):%a %d %b %H:%M %Z}. Planned check-ins:\n{lines}"
    )


def _today_at(hhmm: str, zone: ZoneInfo, now: datetime) -> datetime:
    try:
        clock = datetime.strptime(hhmm, "%H:%M").time()
    except ValueError:
        raise ValueError(f"{hhmm!r} is not a time like 14:30") from None
    local = datetime.combine(now.astimezone(zone).date(), clock, tzinfo=zone)
    if local > now + timedelta(minutes=5):
        raise ValueError(f"{hhmm} today is in the future")
    return local


@clinicians_only
async def resume(
    update: Update, context: AftercareContext, message: Message, clinician: Clinician
) -> None:
    """/resume REF: restart the check-ins of a patient who stopped them or was unreachable."""
    args = context.args or []
    if len(args) != 1:
        await message.reply_text("Usage: /resume REF, e.g. /resume P-0042")
        return
    ctx = context.app
    try:
        async with context.effects() as session:
            patient = None
            for registration in context.identity.clinicians:  # each of their clinics
                patient = await patient_by_ref(
                    session, clinic_id=registration.clinic_id, ref=args[0]
                )
                if patient is not None:
                    clinician = registration
                    break
            if patient is None:
                raise ResumeError(f"No patient {args[0][:64]} in your clinic.")
            clinic = ctx.clinic(clinician.clinic_id)
            planned = await resume_patient(
                session,
                patient=patient,
                clinic=clinic,
                now=ctx.clock.now(),
                actor=clinician_actor(clinician.id),
            )
    except ResumeError as exc:
        await message.reply_text(str(exc))
        return
    assert patient.chat_id is not None
    with use_language(patient_language(patient, clinic.language)):  # the patient reads it
        resumed = texts.resumed(clinic)
    told = await deliver(context.bot.send_message(patient.chat_id, resumed), what="resumed")
    await message.reply_text(
        f"{patient.ref}'s check-ins are restarted; {planned} planned from their infusions. "
        + (
            "They have been told."
            if told.outcome is Outcome.SENT
            else f"They could not be told on Telegram ({told.error}): please call them."
        )
    )

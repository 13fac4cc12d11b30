"""Clinician commands in the bot: /enroll, /infusion and /resume."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from telegram import Message, Update

from bot.context import AftercareContext
from bot.i18n import C_, NC_, Cn_, use_language
from bot.i18n.resolve import patient_language
from bot.messaging import texts
from bot.messaging.delivery import Outcome, deliver
from bot.messaging.pages import reads_line
from bot.services.enrollment import EnrollmentError, deep_link, enroll_patient
from bot.services.infusions import InfusionError, describe_plan, record_infusion
from bot.services.patients import ResumeError
from bot.services.patients import resume as resume_patient
from handlers.auth import clinicians_only
from storage.models import Clinician
from storage.patients import patient_by_ref
from storage.states import clinician_actor

ENROLL_USAGE = NC_(
    "Usage: /enroll REF [ZONE] [LANG], e.g. /enroll P-0042 Europe/London, or /enroll P-0042 - es "
    "(the clinic's time zone, the patient reads Spanish)"
)


@clinicians_only
async def enroll(
    update: Update, context: AftercareContext, message: Message, clinician: Clinician
) -> None:
    """/enroll REF [ZONE] [LANG]: create the patient and print a single-use invite link. ZONE
    "-" is the clinic's; LANG (e.g. es) is refused, naming what is missing, unless a check-in
    can be offered in it."""
    args = context.args or []
    if not 1 <= len(args) <= 3:
        await message.reply_text(C_(ENROLL_USAGE))
        return
    zone = args[1] if len(args) > 1 and args[1] != "-" else None
    ctx = context.app
    clinic = ctx.clinic(clinician.clinic_id)
    try:
        async with context.effects() as session:
            patient, token = await enroll_patient(
                session,
                clinic=clinic,
                ref=args[0],
                timezone=zone,
                baseline_mood=None,
                emergency_contact=None,
                now=ctx.clock.now(),
                actor=clinician_actor(clinician.id),
                language=args[2] if len(args) > 2 else None,
            )
    except EnrollmentError as exc:
        await message.reply_text(C_("Not enrolled: {problem}").format(problem=str(exc)[:500]))
        return
    invited = invited_text(
        patient.ref,
        patient.timezone,
        clinic.invite_valid_for.days,
        deep_link(context.bot.username, token),
    )
    await message.reply_text("\n".join([invited, *reads_line(patient, clinic)]))


def invited_text(ref: str, zone: str, days: int, link: str) -> str:
    return Cn_(
        "Patient {ref} ({zone}) invited. Give them this single-use link (valid {days} day):\n"
        "{link}",
        "Patient {ref} ({zone}) invited. Give them this single-use link (valid {days} days):\n"
        "{link}",
        days,
    ).format(ref=ref, zone=zone, days=days, link=link)


@clinicians_only
async def infusion(
    update: Update, context: AftercareContext, message: Message, clinician: Clinician
) -> None:
    """/infusion REF [HH:MM]: an infusion that ended now, or at HH:MM today (patient's time)."""
    args = context.args or []
    if not 1 <= len(args) <= 2:
        await message.reply_text(C_("Usage: /infusion REF [HH:MM]"))
        return
    ctx = context.app
    clinic = ctx.clinic(clinician.clinic_id)
    now = ctx.clock.now()
    refused = None  # replied after the commit: no Telegram call inside the transaction
    async with context.effects() as session:
        patient = await patient_by_ref(session, clinic_id=clinic.id, ref=args[0])
        if patient is None:
            refused = C_("No patient {ref} in {clinic}.").format(
                ref=args[0][:64], clinic=clinic.name
            )
        else:
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
                refused = C_("Not recorded: {problem}").format(problem=str(exc)[:500])
    if refused is not None:
        await message.reply_text(refused)
        return
    assert patient is not None
    lines = "\n".join(describe_plan(planned, zone)) or C_("(none: every window has passed)")
    await message.reply_text(
        C_("Infusion {id} for {ref} recorded, ended {ended}. Planned check-ins:\n{lines}").format(
            id=recorded.id,
            ref=patient.ref,
            ended=f"{recorded.ended_at.astimezone(zone):%a %d %b %H:%M %Z}",
            lines=lines,
        )
    )


def _today_at(hhmm: str, zone: ZoneInfo, now: datetime) -> datetime:
    try:
        clock = datetime.strptime(hhmm, "%H:%M").time()
    except ValueError:
        raise ValueError(C_("{time} is not a time like 14:30").format(time=repr(hhmm))) from None
    local = datetime.combine(now.astimezone(zone).date(), clock, tzinfo=zone)
    if local > now + timedelta(minutes=5):
        raise ValueError(C_("{time} today is in the future").format(time=hhmm))
    return local


@clinicians_only
async def resume(
    update: Update, context: AftercareContext, message: Message, clinician: Clinician
) -> None:
    """/resume REF: restart the check-ins of a patient who stopped them or was unreachable."""
    args = context.args or []
    if len(args) != 1:
        await message.reply_text(C_("Usage: /resume REF, e.g. /resume P-0042"))
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
                raise ResumeError(C_("No patient {ref} in your clinic.").format(ref=args[0][:64]))
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
    await message.reply_text(resumed_text(patient.ref, planned, told.error, told.outcome))


def resumed_text(ref: str, planned: int, error: str | None, outcome: Outcome) -> str:
    """What the clinician reads once a patient's check-ins restart: and whether they were told."""
    if outcome is Outcome.SENT:
        said = Cn_(
            "{ref}'s check-ins are restarted; {planned} planned from their infusions. "
            "They have been told.",
            "{ref}'s check-ins are restarted; {planned} planned from their infusions. "
            "They have been told.",
            planned,
        )
    else:
        said = Cn_(
            "{ref}'s check-ins are restarted; {planned} planned from their infusions. "
            "They could not be told on Telegram ({error}): please call them.",
            "{ref}'s check-ins are restarted; {planned} planned from their infusions. "
            "They could not be told on Telegram ({error}): please call them.",
            planned,
        )
    return said.format(ref=ref, planned=planned, error=error)

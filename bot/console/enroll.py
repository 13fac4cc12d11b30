"""Enrolling a patient (the invite as a QR code and a t.me link, to show in clinic), a new
invite in place of the old ones, and stopping or resuming a patient's check-ins.

Any clinician of the clinic may do these, not only admins. The invite's token is shown once,
on the page the POST itself answers (no redirect carrying it; pages are `no-store`): only its
hash is stored, so it cannot be shown again, only replaced.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bot.console.web import NotFound, checked_form, console_of, page, qr_svg, viewer
from bot.i18n import C_, use_language
from bot.i18n.names import language_label
from bot.i18n.resolve import offered_languages, patient_language
from bot.messaging import texts
from bot.messaging.delivery import Outcome, deliver
from bot.services.clinic.patient_admin import (
    RESUME_REASONS,
    STOP_REASONS,
    AdminError,
    Invitation,
    enroll,
    read_enrollment,
    reissue,
    restart,
    stop,
    zone_names,
)
from bot.services.console_access import Viewer
from bot.services.enrollment import deep_link
from bot.services.patient_views import patient_of_clinic
from bot.services.patients import patient_actions
from bot.services.reaching.contact_details import FIELDS as CONTACT_FIELDS
from storage.models import Patient

FIELDS = ("ref", "timezone", "baseline_mood", "protocol", "language", *CONTACT_FIELDS)
MAX_REF = 64


async def patient_in_clinic(request: Request, who: Viewer) -> Patient:
    """The path's patient, in the viewer's clinic; NotFound otherwise (another clinic's too)."""
    ref = request.path_params["ref"]
    if len(ref) > MAX_REF:
        raise NotFound("patient")
    async with console_of(request).read() as session:
        patient = await patient_of_clinic(session, clinic_id=who.clinic_id, ref=ref)
    if patient is None:
        raise NotFound("patient")
    return patient


def _enroll_page(
    request: Request, who: Viewer, values: dict[str, str], errors: dict[str, str]
) -> Response:
    clinic = console_of(request).clinic(who)
    return page(
        request,
        "enroll.html",
        who=who,
        status=400 if errors else 200,
        v=values,
        errors=errors,
        zones=zone_names(),
        protocols=sorted(clinic.protocols),
        languages=[(tag, language_label(tag)) for tag in offered_languages()],
        clinic_language=language_label(clinic.language),
    )


async def enroll_form(request: Request) -> Response:
    who = await viewer(request)
    clinic = console_of(request).clinic(who)
    return _enroll_page(request, who, {"timezone": clinic.timezone}, {})


async def enroll_submit(request: Request) -> Response:
    form = await checked_form(request)
    who = await viewer(request)
    console = console_of(request)
    clinic = console.clinic(who)
    values = {name: str(form.get(name) or "") for name in FIELDS}
    enrollment, errors = read_enrollment(values, clinic)
    if enrollment is not None:
        try:
            async with console.ctx.db.transaction() as session:
                invitation = await enroll(
                    session,
                    clinic=clinic,
                    enrollment=enrollment,
                    now=console.ctx.clock.now(),
                    actor=who.actor,
                )
        except AdminError as exc:
            errors = {exc.field or "ref": exc.message}
    if errors:
        return _enroll_page(request, who, values, errors)
    return _invite_page(request, who, invitation, "enrolled")


async def reissue_invite(request: Request) -> Response:
    await checked_form(request)
    who = await viewer(request)
    console = console_of(request)
    patient = await patient_in_clinic(request, who)
    try:
        async with console.ctx.db.transaction() as session:
            invitation = await reissue(
                session,
                clinic=console.clinic(who),
                patient=patient,
                now=console.ctx.clock.now(),
                actor=who.actor,
            )
    except AdminError as exc:
        return page(
            request, "message.html", who=who, status=409, title=C_("Not done"), text=exc.message
        )
    return _invite_page(request, who, invitation, "reissued")


def _invite_page(request: Request, who: Viewer, invitation: Invitation, done: str) -> Response:
    link = deep_link(console_of(request).bot.username, invitation.token)
    qr = qr_svg(link, title=C_("Invite QR code"))
    return page(
        request,
        "invite.html",
        who=who,
        patient=invitation.patient,
        link=link,
        qr=qr,
        expires_at=invitation.expires_at,
        done=done,
    )


async def monitoring_form(request: Request) -> Response:
    who = await viewer(request)
    patient = await patient_in_clinic(request, who)
    return _monitoring_page(request, who, patient, reason="", error="")


def _monitoring_page(
    request: Request, who: Viewer, patient: Patient, *, reason: str, error: str, status: int = 200
) -> Response:
    return page(
        request,
        "enroll_monitoring.html",
        who=who,
        status=status,
        patient=patient,
        actions=patient_actions(patient.status),
        reason=reason,
        error=error,
        stop_reasons=STOP_REASONS,
        resume_reasons=RESUME_REASONS,
    )


async def stop_monitoring(request: Request) -> Response:
    return await _monitoring_change(request, stopping=True)


async def resume_monitoring(request: Request) -> Response:
    return await _monitoring_change(request, stopping=False)


async def _monitoring_change(request: Request, *, stopping: bool) -> Response:
    """Stop or resume, then tell the patient what their own /stop or the bot's /resume says."""
    form = await checked_form(request)
    who = await viewer(request)
    console = console_of(request)
    clinic = console.clinic(who)
    patient = await patient_in_clinic(request, who)
    reason = str(form.get("reason") or "")
    change = stop if stopping else restart
    try:
        async with console.ctx.db.transaction() as session:
            count = await change(
                session,
                clinic=clinic,
                patient=patient,
                reason=reason,
                now=console.ctx.clock.now(),
                actor=who.actor,
            )
    except AdminError as exc:
        return _monitoring_page(request, who, patient, reason=reason, error=exc.message, status=400)
    told = None
    if patient.chat_id is not None:
        with use_language(patient_language(patient, clinic.language)):  # the patient reads it
            text = texts.stopped(clinic) if stopping else texts.resumed(clinic)
        sent = await deliver(
            console.bot.send_message(patient.chat_id, text),
            what="stopped" if stopping else "resumed",
        )
        told = sent.outcome is Outcome.SENT
    return page(
        request,
        "enroll_monitoring_done.html",
        who=who,
        patient=patient,
        stopped=stopping,
        count=count,
        told=told,
        reason_label=(STOP_REASONS if stopping else RESUME_REASONS)[reason],
    )


ROUTES = [
    Route("/enroll", enroll_form, methods=["GET"]),
    Route("/enroll", enroll_submit, methods=["POST"]),
    Route("/patients/{ref}/invite", reissue_invite, methods=["POST"]),
    Route("/patients/{ref}/monitoring", monitoring_form, methods=["GET"]),
    Route("/patients/{ref}/stop", stop_monitoring, methods=["POST"]),
    Route("/patients/{ref}/resume", resume_monitoring, methods=["POST"]),
]

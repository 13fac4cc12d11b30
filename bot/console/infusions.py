"""Recording, moving and cancelling a patient's infusions, each showing the planned check-ins
before and after in the patient's local time, as the CLI and /infusion do. Any clinician of
the clinic may do these. Times on the forms are the clinic's wall-clock time."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bot.console.enroll import patient_in_clinic
from bot.console.web import NotFound, checked_form, console_of, page, viewer
from bot.i18n import C_
from bot.services.clinic.infusion_admin import (
    OLDEST,
    PlanChange,
    change,
    form_time,
    infusion_of,
    may_change,
    not_joined,
    planned,
    read_time,
    record,
)
from bot.services.clinic.patient_admin import AdminError
from bot.services.console_access import Viewer
from storage.models import Infusion, Patient


async def new_infusion(request: Request) -> Response:
    who = await viewer(request)
    patient = await patient_in_clinic(request, who)
    zone = console_of(request).clinic(who).zone
    values = {"ended_at": form_time(console_of(request).ctx.clock.now(), zone), "protocol": ""}
    return await _record_page(request, who, patient, values, {})


async def _record_page(
    request: Request,
    who: Viewer,
    patient: Patient,
    values: dict[str, str],
    errors: dict[str, str],
) -> Response:
    console = console_of(request)
    async with console.read() as session:
        plan = await planned(session, patient=patient)
    return page(
        request,
        "infusion_new.html",
        who=who,
        status=400 if errors else 200,
        patient=patient,
        pzone=patient.timezone,
        v=values,
        errors=errors,
        plan=plan,
        protocols=sorted(console.clinic(who).protocols),
        oldest_days=OLDEST.days,
        not_joined=not_joined(patient),
    )


async def record_submit(request: Request) -> Response:
    form = await checked_form(request)
    who = await viewer(request)
    console = console_of(request)
    clinic = console.clinic(who)
    patient = await patient_in_clinic(request, who)
    values = {
        "ended_at": str(form.get("ended_at") or ""),
        "protocol": str(form.get("protocol") or ""),
    }
    now = console.ctx.clock.now()
    errors: dict[str, str] = {}
    try:
        ended_at = read_time(values["ended_at"], clinic.zone, now)
    except ValueError as exc:
        errors["ended_at"] = str(exc)
    if values["protocol"] and values["protocol"] not in clinic.protocols:
        errors["protocol"] = C_("Not one of this clinic's protocols.")
    if not errors:
        try:
            async with console.ctx.db.transaction() as session:
                done = await record(
                    session,
                    patient=patient,
                    clinic=clinic,
                    ended_at=ended_at,
                    protocol=values["protocol"] or None,
                    now=now,
                    actor=who.actor,
                )
        except AdminError as exc:
            errors[exc.field or "general"] = exc.message
    if errors:
        return await _record_page(request, who, patient, values, errors)
    return _done_page(request, who, patient, done, "recorded")


async def _patient_and_infusion(request: Request, who: Viewer) -> tuple[Patient, Infusion]:
    patient = await patient_in_clinic(request, who)
    async with console_of(request).read() as session:
        infusion = await infusion_of(
            session, patient=patient, raw_id=request.path_params["infusion_id"]
        )
    if infusion is None:
        raise NotFound("infusion")
    return patient, infusion


async def infusion_page(request: Request) -> Response:
    who = await viewer(request)
    patient, infusion = await _patient_and_infusion(request, who)
    zone = console_of(request).clinic(who).zone
    return await _change_page(
        request, who, patient, infusion, {"ended_at": form_time(infusion.ended_at, zone)}, {}
    )


async def _change_page(
    request: Request,
    who: Viewer,
    patient: Patient,
    infusion: Infusion,
    values: dict[str, str],
    errors: dict[str, str],
) -> Response:
    async with console_of(request).read() as session:
        plan = await planned(session, patient=patient)
    return page(
        request,
        "infusion.html",
        who=who,
        status=400 if errors else 200,
        patient=patient,
        infusion=infusion,
        may_change=may_change(infusion),
        pzone=patient.timezone,
        v=values,
        errors=errors,
        plan=plan,
        oldest_days=OLDEST.days,
        not_joined=not_joined(patient),
    )


async def move_submit(request: Request) -> Response:
    return await _change(request, cancel=False)


async def cancel_submit(request: Request) -> Response:
    return await _change(request, cancel=True)


async def _change(request: Request, *, cancel: bool) -> Response:
    form = await checked_form(request)
    who = await viewer(request)
    console = console_of(request)
    clinic = console.clinic(who)
    patient, infusion = await _patient_and_infusion(request, who)
    now = console.ctx.clock.now()
    values = {"ended_at": str(form.get("ended_at") or "")}
    errors: dict[str, str] = {}
    ended_at = None
    if not cancel:
        try:
            ended_at = read_time(values["ended_at"], clinic.zone, now)
        except ValueError as exc:
            errors["ended_at"] = str(exc)
    if not errors:
        try:
            async with console.ctx.db.transaction() as session:
                done = await change(
                    session,
                    patient=patient,
                    clinic=clinic,
                    infusion=infusion,
                    now=now,
                    actor=who.actor,
                    ended_at=ended_at,
                )
        except AdminError as exc:
            errors[exc.field or "general"] = exc.message
    if errors:
        if cancel or not values["ended_at"]:
            values["ended_at"] = form_time(infusion.ended_at, clinic.zone)
        return await _change_page(request, who, patient, infusion, values, errors)
    return _done_page(request, who, patient, done, "cancelled" if cancel else "moved")


def _done_page(
    request: Request, who: Viewer, patient: Patient, done: PlanChange, what: str
) -> Response:
    return page(
        request,
        "infusion_done.html",
        who=who,
        patient=patient,
        pzone=patient.timezone,
        change=done,
        what=what,
        may_change=may_change(done.infusion),
        not_joined=not_joined(patient),
    )


ROUTES = [
    Route("/patients/{ref}/infusions/new", new_infusion, methods=["GET"]),
    Route("/patients/{ref}/infusions", record_submit, methods=["POST"]),
    Route("/patients/{ref}/infusions/{infusion_id}", infusion_page, methods=["GET"]),
    Route("/patients/{ref}/infusions/{infusion_id}/move", move_submit, methods=["POST"]),
    Route("/patients/{ref}/infusions/{infusion_id}/cancel", cancel_submit, methods=["POST"]),
]

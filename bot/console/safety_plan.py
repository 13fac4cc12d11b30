"""A patient's safety plan in the console (CLINICAL.md §11): saved as a new version from the
patient page's form (six steps, one item a line), and printed on one page."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from bot.console.web import (
    PREFIX,
    NotFound,
    checked_form,
    console_of,
    page,
    refuse_if_erased,
    viewer,
)
from bot.domain import safety_plan as rules
from bot.i18n import NC_
from bot.services.patient_views import patient_of_clinic
from bot.services.safety.plans import PlanVersion, save_plan, versions
from bot.services.wording.refusals import said
from storage.models import Patient

MAX_REF = 64
# The clinician's step titles of `bot.domain.safety_plan.STEPS`, marked here for extraction (the
# domain imports nothing of ours; the templates say them with `_()`, `PlanUse.line` with `C_()`).
STEP_TITLES = (
    NC_("Warning signs"),
    NC_("Internal coping strategies"),
    NC_("People and social settings that distract"),
    NC_("People to ask for help"),
    NC_("Professionals and agencies"),
    NC_("Making the environment safe"),
)


def plan_values(
    found: list[PlanVersion],
    *,
    form: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
) -> dict[str, Any]:
    """What `_safety_plan.html` needs: the plan, its older versions, the form and its errors."""
    plan = found[0] if found else None
    if form is None and plan is not None:
        form = {f: rules.as_text(s.items) for f, s in zip(rules.FIELDS, plan.steps, strict=True)}
    form = form if form is not None else dict.fromkeys(rules.FIELDS, "")
    missing = [] if plan is None else [s.number for s in plan.steps if _needs(plan, s.number)]
    return {
        "plan": plan,
        "plan_older": found[1:],
        "plan_form": form,
        "plan_errors": errors or {},
        "plan_fields": list(zip(rules.FIELDS, (t for t, _ in rules.STEPS), strict=True)),
        "plan_missing": missing,
        "plan_max_items": rules.MAX_ITEMS,
    }


def _needs(plan: PlanVersion, step: int) -> bool:
    return step in rules.HELP_STEPS and not any(i.is_contact for i in plan.steps[step - 1].items)


async def _patient(request: Request, session: Any, clinic_id: str) -> Patient:
    ref = request.path_params["ref"]
    patient = (
        None
        if len(ref) > MAX_REF
        else await patient_of_clinic(session, clinic_id=clinic_id, ref=ref)
    )
    if patient is None or patient.id is None:
        raise NotFound("patient")
    return patient


async def save(request: Request) -> Response:
    """A new version of the plan; a bad step: 400, the form again with the problem beside it,
    nothing saved."""
    form = await checked_form(request)
    who = await viewer(request)
    console = console_of(request)
    clinic = console.clinic(who)
    now = console.ctx.clock.now()
    values = {f: str(form.get(f) or "") for f in rules.FIELDS}
    steps, errors = rules.read_plan(values, country_code=clinic.phone_country_code, say=said)
    async with console.ctx.db.transaction() as session:
        patient = await _patient(request, session, who.clinic_id)
        assert patient.id is not None
        refuse_if_erased(patient)
        if steps is not None:
            await save_plan(session, patient=patient, steps=steps, actor=who.actor, now=now)
        found = await versions(session, clinic_id=who.clinic_id, patient_id=patient.id)
    if errors:
        return page(
            request,
            "safety_plan_form.html",
            who=who,
            status=400,
            ref=patient.ref,
            pzone=patient.timezone,
            **plan_values(found, form=values, errors=errors),
        )
    target = f"{PREFIX}/patients/{quote(patient.ref)}?done=plan#safety-plan"
    return RedirectResponse(target, status_code=303)


async def printable(request: Request) -> Response:
    """The current plan on one printable page."""
    who = await viewer(request)
    console = console_of(request)
    async with console.read() as session:
        patient = await _patient(request, session, who.clinic_id)
        assert patient.id is not None
        found = await versions(session, clinic_id=who.clinic_id, patient_id=patient.id)
    if not found:
        raise NotFound("safety plan")
    return page(
        request,
        "safety_plan_print.html",
        who=who,
        ref=patient.ref,
        pzone=patient.timezone,
        clinic_name=console.clinic(who).name,
        **plan_values(found),
    )


ROUTES = [
    Route("/patients/{ref}/plan", save, methods=["POST"]),
    Route("/patients/{ref}/plan/print", printable, methods=["GET"]),
]

"""Patients: the clinic's list (sortable, filterable by risk), one patient's timeline with
the mood chart (inline SVG, and the same numbers as a table), their contact details, and their
caring contacts (CLINICAL.md §12: the track shown, stopped by any clinician of the clinic)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from bot.charts.cache import cached_svg
from bot.charts.glance import chart_glance
from bot.charts.mood import summary_text
from bot.console.lists.patient_page import list_page
from bot.console.safety_plan import plan_values
from bot.console.web import (
    PREFIX,
    NotFound,
    Refused,
    checked_form,
    console_of,
    page,
    refuse_if_erased,
    viewer,
    whole_number,
)
from bot.i18n import C_
from bot.i18n.names import language_name
from bot.i18n.resolve import chosen_language, offered_languages
from bot.services.mood_chart import mood_chart_for
from bot.services.overview import RISK_FILTERS, SORT_KEYS, STATUS_FILTERS
from bot.services.patient_views import patient_of_clinic, record_view
from bot.services.reaching import caring, contact_details
from bot.services.safety.plans import versions
from bot.services.timeline import patient_timeline
from storage.patients import set_language

MAX_REF = 64
PAGE_SIZE = 50  # patients a page of the list
ENTRIES_PAGE = 50  # timeline entries a page, newest first
CHART_DAYS = 30
CHART_STEP = timedelta(minutes=5)  # the chart's window ends on the next step: drawn once a step


def chart_end(now: datetime) -> datetime:
    """`now` rounded up to the next CHART_STEP (UTC), so the same answers give the same chart
    and its SVG is drawn once (bot.charts.cache); nothing is answered in the future, so the few
    minutes more on the right show nothing new."""
    step = CHART_STEP.total_seconds()
    past = now.timestamp() % step
    return now if not past else now + timedelta(seconds=step - past)


async def patients(request: Request) -> Response:
    """The clinic's patients, filtered and sorted as asked, PAGE_SIZE a page; a page that does
    not exist is a 404 saying how many there are."""
    who = await viewer(request)
    console = console_of(request)
    query = request.query_params
    sort = query.get("sort", "risk")
    sort = sort if sort in SORT_KEYS else "risk"
    risk = query.get("risk") or None
    risk = risk if risk in RISK_FILTERS else None
    status = query.get("status") or None
    status = status if status in STATUS_FILTERS else None
    asked = query.get("page") or "1"
    number = whole_number(asked)
    current = number if number is not None and number >= 1 else 0
    first = max(0, (current - 1) * PAGE_SIZE)
    async with console.read() as session:
        found = await list_page(
            session,
            clinic_id=who.clinic_id,
            now=console.ctx.clock.now(),
            sort=sort,
            risk=risk,
            status=status,
            first=first,
            size=PAGE_SIZE,
        )
    pages = max(1, -(-found.matched // PAGE_SIZE))
    missing = not 1 <= current <= pages
    if missing:
        current, first = 1, 0
    return page(
        request,
        "patients.html",
        who=who,
        status=404 if missing else 200,
        rows=[] if missing else found.rows,
        first=first + 1,
        matched=found.matched,
        total=found.total,
        page_number=current,
        pages=pages,
        missing_page=asked[:12] if missing else "",
        sort=sort,
        risk=risk or "",
        status_filter=status or "",
        sort_keys=SORT_KEYS,
        risk_filters=RISK_FILTERS,
        status_filters=STATUS_FILTERS,
    )


async def timeline(request: Request) -> Response:
    who = await viewer(request)
    console = console_of(request)
    ref = request.path_params["ref"]
    if len(ref) > MAX_REF:
        raise NotFound("patient")
    clinic = console.clinic(who)
    now = console.ctx.clock.now()
    async with console.read() as session:
        asked = whole_number(request.query_params.get("page") or "1") or 1  # else: the newest
        found = await patient_timeline(
            session,
            clinic_id=who.clinic_id,
            patient_ref=ref,
            now=now,
            page=asked,
            per_page=ENTRIES_PAGE,
        )
        patient = await patient_of_clinic(session, clinic_id=who.clinic_id, ref=ref)
        if found is None or patient is None:
            raise NotFound("patient")
        chart = await mood_chart_for(
            session, patient=patient, clinic=clinic, now=chart_end(now), days=CHART_DAYS
        )
        assert patient.id is not None
        plans = await versions(session, clinic_id=who.clinic_id, patient_id=patient.id)
        caring_track = await caring.track_of(session, patient_id=patient.id)
    svg = await cached_svg(chart, dom_id="mood")
    async with console.ctx.db.transaction() as session:  # who looked at whose record
        await record_view(session, patient=patient, actor=who.actor, now=now)
    pages = max(1, -(-found.total // ENTRIES_PAGE))
    return page(
        request,
        "timeline.html",
        who=who,
        timeline=found,
        entries=found.entries,
        entries_first=found.first + 1,
        entries_total=found.total,
        entries_page=found.first // ENTRIES_PAGE + 1,
        entries_pages=pages,
        chart=chart,
        chart_svg=Markup(svg),
        chart_summary=summary_text(chart),
        chart_glance=chart_glance(chart, now=now),
        chart_days=CHART_DAYS,
        pzone=found.patient.timezone,
        contact=contact_details.details_of(patient, now=now),
        contact_form=contact_details.form_values(patient),
        contact_errors={},
        contact_saved=request.query_params.get("done") == "contact",
        ref=patient.ref,
        plan_saved=request.query_params.get("done") == "plan",
        **plan_values(plans),
        caring=caring_track,
        caring_stopped=request.query_params.get("done") == "caring",
        patient_language=patient.language,
        language_saved=request.query_params.get("done") == "language",
        legal_hold=patient.legal_hold,
        erased_at=patient.erased_at,
        hold_saved=request.query_params.get("done") == "hold",
        **language_choices(clinic.language),
    )


async def change_contact(request: Request) -> Response:
    """Save the patient's phone and emergency contact; a bad field: 400, the form again with
    the problem beside it, nothing saved."""
    form = await checked_form(request)
    who = await viewer(request)
    console = console_of(request)
    ref = request.path_params["ref"]
    if len(ref) > MAX_REF:
        raise NotFound("patient")
    clinic = console.clinic(who)
    now = console.ctx.clock.now()
    values = {name: str(form.get(name) or "") for name in contact_details.FIELDS}
    change, errors = contact_details.read_contact(values, country_code=clinic.phone_country_code)
    async with console.ctx.db.transaction() as session:
        patient = await patient_of_clinic(session, clinic_id=who.clinic_id, ref=ref)
        if patient is None:
            raise NotFound("patient")
        refuse_if_erased(patient)
        if change is not None:
            await contact_details.change_contact(
                session, patient=patient, change=change, actor=who.actor, now=now
            )
    if errors:
        return page(
            request,
            "patient_contact.html",
            who=who,
            status=400,
            contact=contact_details.details_of(patient, now=now),
            contact_form=values,
            contact_errors=errors,
        )
    target = f"{PREFIX}/patients/{quote(ref)}?done=contact#patient-contact"
    return RedirectResponse(target, status_code=303)


async def stop_caring(request: Request) -> Response:
    """Any clinician of the clinic stops a patient's caring contacts (audited by the service)."""
    await checked_form(request)  # the CSRF check
    who = await viewer(request)
    console = console_of(request)
    ref = request.path_params["ref"]
    if len(ref) > MAX_REF:
        raise NotFound("patient")
    now = console.ctx.clock.now()
    async with console.ctx.db.transaction() as session:
        patient = await patient_of_clinic(session, clinic_id=who.clinic_id, ref=ref)
        if patient is None:
            raise NotFound("patient")
        await caring.stop_track(session, patient=patient, now=now, actor=who.actor)
    return RedirectResponse(f"{PREFIX}/patients/{quote(ref)}?done=caring#caring", status_code=303)


async def change_language(request: Request) -> Response:
    """The clinic sets the language a patient is written to in ("default": the clinic's);
    a language not offered is refused, naming what is missing (audited by the store)."""
    form = await checked_form(request)
    who = await viewer(request)
    console = console_of(request)
    ref = request.path_params["ref"]
    if len(ref) > MAX_REF:
        raise NotFound("patient")
    try:
        chosen = chosen_language(str(form.get("language") or ""), offered=offered_languages())
    except ValueError as exc:
        raise Refused(C_("Not saved: {problem}.").format(problem=exc)) from None
    async with console.ctx.db.transaction() as session:
        patient = await patient_of_clinic(session, clinic_id=who.clinic_id, ref=ref)
        if patient is None:
            raise NotFound("patient")
        await set_language(
            session, patient=patient, language=chosen, actor=who.actor, now=console.ctx.clock.now()
        )
    target = f"{PREFIX}/patients/{quote(ref)}?done=language#patient-language"
    return RedirectResponse(target, status_code=303)


def language_choices(clinic_language: str) -> dict[str, Any]:
    """The patient page's language form: the offered languages by name, the clinic's default."""
    return {
        "languages": [(tag, language_name(tag)) for tag in offered_languages()],
        "clinic_language": language_name(clinic_language),
    }


ROUTES = [
    Route("/patients", patients, methods=["GET"]),
    Route("/patients/{ref}", timeline, methods=["GET"]),
    Route("/patients/{ref}/contact", change_contact, methods=["POST"]),
    Route("/patients/{ref}/caring/stop", stop_caring, methods=["POST"]),
    Route("/patients/{ref}/language", change_language, methods=["POST"]),
]

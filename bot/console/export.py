"""Export and reports. The export: the clinic's data as a ZIP of CSV files (patients,
infusions, check-ins, cases), for research and the medical record, or as one FHIR R4B Bundle
(JSON, the service the CLI's `export fhir` uses), either of them for one patient (the erase
page offers both, free text included in the CSV); admins only (it is bulk patient data), a POST
with the CSRF token, because every export is recorded in the audit log.

Response times (CLINICAL.md §10): the clinic's times from page to acknowledgement, to the
first contact attempt and to the patient reached, and from the answer to reached, per level
over 30 and 90 days, against its targets and the published comparator; a chart and a CSV.
Every clinician of the clinic may read it (references only, no patient words)."""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta
from typing import Any

from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bot.charts.response import render_response_svg
from bot.clinic_config import ClinicConfig
from bot.console.web import checked_form, console_of, page, require_admin, viewer
from bot.domain.response_times import PUBLISHED_SOURCE, Measure, describe
from bot.i18n import C_, NC_
from bot.services.clinic.export import (
    FILES,
    ExportError,
    UnknownPatient,
    export_zip,
    parse_since,
    zip_name,
)
from bot.services.clinic.fhir_export import bundle_name, export_fhir
from bot.services.console_access import Viewer
from bot.services.reaching.response_times import (
    CSV_HEADER,
    WINDOWS,
    csv_rows,
    response_report,
    targets_of,
)

REFUSAL = NC_("Only an admin of this clinic can export the clinic's data. Nothing was changed.")
MAX_SINCE = 40
MAX_REF = 64
BUNDLE_TYPES = ("collection", "transaction")
CSV_BLANK: dict[str, Any] = {"csv_patient": "", "since": "", "free_text": False}
FHIR_BLANK: dict[str, Any] = {"patient": "", "fhir_since": "", "bundle_type": "collection"}


def _form(
    request: Request,
    who: Viewer,
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    status: int = 200,
    *,
    fhir: dict[str, Any] | None = None,
    fhir_errors: dict[str, str] | None = None,
) -> Response:
    """The page with both forms; `values`/`errors` for the ZIP, `fhir`/`fhir_errors` for the
    Bundle (one of them was posted)."""
    return page(
        request,
        "export.html",
        who=who,
        status=status,
        section="export",
        v=values or CSV_BLANK,
        errors=errors or {},
        fv=fhir or FHIR_BLANK,
        fhir_errors=fhir_errors or {},
        files=FILES,
    )


async def export_page(request: Request) -> Response:
    who = await viewer(request)
    require_admin(who, C_(REFUSAL))
    return _form(request, who)


async def export_download(request: Request) -> Response:
    form = await checked_form(request)
    who = await viewer(request)
    require_admin(who, C_(REFUSAL))
    console = console_of(request)
    clinic = console.clinic(who)
    patient = str(form.get("csv_patient") or "").strip()[:MAX_REF]
    since_text = str(form.get("since") or "").strip()[:MAX_SINCE]
    free_text = form.get("free_text") == "yes"
    values = {"csv_patient": patient, "since": since_text, "free_text": free_text}
    now = console.ctx.clock.now()
    try:
        since = parse_since(since_text, clinic.zone)
    except ExportError as exc:
        return _form(request, who, values, {"since": str(exc)}, status=400)
    if since is not None and since > now:
        return _form(request, who, values, {"since": _after_now(now, clinic)}, status=400)
    try:
        async with console.ctx.db.transaction() as session:
            data, _ = await export_zip(
                session,
                clinic_id=clinic.id,
                since=since,
                free_text=free_text,
                actor=who.actor,
                now=now,
                patient_ref=patient or None,
            )
    except UnknownPatient:
        return _form(request, who, values, {"csv_patient": _unknown(patient)}, status=400)
    name = zip_name(clinic.id, now, clinic.zone, patient or None)
    return Response(
        data,
        media_type="application/zip",
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "Cache-Control": "no-store",
        },
    )


async def export_fhir_download(request: Request) -> Response:
    """The clinic's FHIR Bundle as a JSON file, built and audited in one transaction."""
    form = await checked_form(request)
    who = await viewer(request)
    require_admin(who, C_(REFUSAL))
    console = console_of(request)
    clinic = console.clinic(who)
    patient = str(form.get("patient") or "").strip()[:MAX_REF]
    since_text = str(form.get("fhir_since") or "").strip()[:MAX_SINCE]
    chosen = str(form.get("bundle_type") or "")
    bundle_type = chosen if chosen in BUNDLE_TYPES else BUNDLE_TYPES[0]
    values = {"patient": patient, "fhir_since": since_text, "bundle_type": bundle_type}
    now = console.ctx.clock.now()
    try:
        since = parse_since(since_text, clinic.zone)
    except ExportError as exc:
        return _form(request, who, fhir=values, fhir_errors={"fhir_since": str(exc)}, status=400)
    if since is not None and since > now:
        errors = {"fhir_since": _after_now(now, clinic)}
        return _form(request, who, fhir=values, fhir_errors=errors, status=400)
    try:
        async with console.ctx.db.transaction() as session:
            exported = await export_fhir(
                session,
                clinic_id=clinic.id,
                names=clinic.alerts_include_name,
                patient_ref=patient or None,
                since=since,
                transaction=bundle_type == "transaction",
                actor=who.actor,
                now=now,
                via="console",
            )
    except UnknownPatient:
        errors = {"patient": _unknown(patient)}
        return _form(request, who, fhir=values, fhir_errors=errors, status=400)
    name = bundle_name(clinic.id, now, clinic.zone)
    return Response(
        exported.json,
        media_type="application/fhir+json",
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "Cache-Control": "no-store",
        },
    )


def _unknown(ref: str) -> str:
    """Why a patient's export is refused: the clinic has no such reference (nothing written)."""
    return C_(
        "No patient of this clinic has the reference {ref}. Check it on the "
        "Patients page, or leave it empty for every patient."
    ).format(ref=ref)


def _after_now(now: datetime, clinic: ClinicConfig) -> str:
    """Why a start after now is refused: every row would be left out, an empty ZIP."""
    today = now.astimezone(clinic.zone)
    return C_(
        "That is after now (today is {today} in the clinic's time): the export "
        "would be empty. Choose today or an earlier day, or leave it empty for everything."
    ).format(today=f"{today:%a %d %b %Y}")


def target_hours(clinic: ClinicConfig) -> dict[tuple[str, Measure], float]:
    """The clinic's outreach targets that are durations, in hours, per (level, measure)."""
    return {
        key: target.within.total_seconds() / 3600
        for key, target in targets_of(clinic).items()
        if target.within is not None
    }


async def response_page(request: Request) -> Response:
    who = await viewer(request)
    console = console_of(request)
    clinic = console.clinic(who)
    async with console.read() as session:
        report = await response_report(
            session, clinic_id=who.clinic_id, now=console.ctx.clock.now()
        )
    targets = target_hours(clinic)
    chart = render_response_svg(
        report.windows[WINDOWS[-1]],
        targets,
        title=C_("Median response times, last {n} days").format(n=WINDOWS[-1]),
    )
    return page(
        request,
        "response_times.html",
        who=who,
        section="response",
        report=report,
        windows=WINDOWS,
        targets=targets,
        measures=list(Measure),
        describe=describe,
        describe_hours=lambda hours: describe(timedelta(hours=hours)),
        chart_svg=Markup(chart),
        published_source=C_(PUBLISHED_SOURCE),
    )


async def response_csv(request: Request) -> Response:
    who = await viewer(request)
    console = console_of(request)
    async with console.read() as session:
        report = await response_report(
            session, clinic_id=who.clinic_id, now=console.ctx.clock.now()
        )
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_HEADER)
    writer.writerows(csv_rows(report))
    return Response(
        buffer.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="response-times-{who.clinic_id}.csv"'
        },
    )


ROUTES = [
    Route("/export", export_page, methods=["GET"]),
    Route("/export", export_download, methods=["POST"]),
    Route("/export/fhir", export_fhir_download, methods=["POST"]),
    Route("/response-times", response_page, methods=["GET"]),
    Route("/response-times.csv", response_csv, methods=["GET"]),
]

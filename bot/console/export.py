"""Export: the clinic's data as a ZIP of four CSV files (patients, infusions, check-ins,
cases), for research and the medical record. Admins only (it is bulk patient data); a POST
with the CSRF token, because every export is recorded in the audit log."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bot.console.web import checked_form, console_of, page, require_admin, viewer
from bot.services.clinic.export import FILES, ExportError, export_zip, parse_since, zip_name
from bot.services.console_access import Viewer

DOING = "export the clinic's data"
MAX_SINCE = 40


def _form(
    request: Request,
    who: Viewer,
    values: dict[str, Any],
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    return page(
        request,
        "export.html",
        who=who,
        status=status,
        section="export",
        v=values,
        errors=errors or {},
        files=FILES,
    )


async def export_page(request: Request) -> Response:
    who = await viewer(request)
    require_admin(who, DOING)
    return _form(request, who, {"since": "", "free_text": False})


async def export_download(request: Request) -> Response:
    form = await checked_form(request)
    who = await viewer(request)
    require_admin(who, DOING)
    console = console_of(request)
    clinic = console.clinic(who)
    since_text = str(form.get("since") or "").strip()[:MAX_SINCE]
    free_text = form.get("free_text") == "yes"
    values = {"since": since_text, "free_text": free_text}
    try:
        since = parse_since(since_text, clinic.zone)
    except ExportError as exc:
        return _form(request, who, values, {"since": str(exc)}, status=400)
    now = console.ctx.clock.now()
    async with console.ctx.db.transaction() as session:
        data, _ = await export_zip(
            session,
            clinic_id=clinic.id,
            since=since,
            free_text=free_text,
            actor=who.actor,
            now=now,
        )
    name = zip_name(clinic.id, now, clinic.zone)
    return Response(
        data,
        media_type="application/zip",
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "Cache-Control": "no-store",
        },
    )


ROUTES = [
    Route("/export", export_page, methods=["GET"]),
    Route("/export", export_download, methods=["POST"]),
]

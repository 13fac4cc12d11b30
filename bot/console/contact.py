"""A clinician's contact methods besides Telegram (e-mail address, paging-service routing
key): admins set anyone's, a clinician their own."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from bot.console.web import (
    PREFIX,
    NotFound,
    Refused,
    checked_form,
    console_of,
    page,
    viewer,
    whole_number,
)
from bot.i18n import C_
from bot.services.clinic import team as service
from bot.services.clinic.masking import MASK_EDITED, masked
from bot.services.console_access import Viewer
from storage.models import Clinician

MAX_FIELD = 300


async def _clinician(request: Request, who: Viewer) -> Clinician:
    clinician_id = whole_number(request.path_params["clinician_id"])
    if clinician_id is None:
        raise NotFound("clinician")
    if clinician_id != who.clinician.id and not who.clinician.is_admin:
        raise Refused(
            C_("Only an admin of this clinic can change a colleague's contact methods."), 403
        )
    console = console_of(request)
    async with console.read() as session:
        found = await service.member(session, clinic=console.clinic(who), clinician_id=clinician_id)
    if found is None:
        raise NotFound("clinician")
    return found


async def contact_page(request: Request) -> Response:
    who = await viewer(request)
    clinician = await _clinician(request, who)
    values = {"email": clinician.email or "", "pager_key": masked(clinician.pager_key)}
    return page(request, "contact.html", who=who, section="team", member=clinician, v=values)


async def contact_save(request: Request) -> Response:
    form = await checked_form(request)
    who = await viewer(request)
    clinician = await _clinician(request, who)
    values = {key: str(form.get(key) or "").strip()[:MAX_FIELD] for key in ("email", "pager_key")}
    pager_key = values["pager_key"]
    if clinician.pager_key and pager_key == masked(clinician.pager_key):
        pager_key = clinician.pager_key  # shown masked, sent back unchanged: kept
    problems = service.contact_problems(values["email"], pager_key)
    if "•" in pager_key:
        problems["pager_key"] = C_(MASK_EDITED)
    if problems:
        return page(
            request,
            "contact.html",
            who=who,
            status=400,
            section="team",
            member=clinician,
            v=values,
            errors=problems,
        )
    console = console_of(request)
    async with console.ctx.db.transaction() as session:
        row = await service.member(
            session, clinic=console.clinic(who), clinician_id=clinician.id or 0
        )
        if row is None:
            raise NotFound("clinician")
        await service.set_contact(
            session,
            clinician=row,
            email=values["email"] or None,
            pager_key=pager_key or None,
            actor=who.actor,
            now=console.ctx.clock.now(),
        )
    return RedirectResponse(f"{PREFIX}/team?done=contact", status_code=303)


ROUTES = [
    Route("/team/{clinician_id}/contact", contact_page, methods=["GET"]),
    Route("/team/{clinician_id}/contact", contact_save, methods=["POST"]),
]

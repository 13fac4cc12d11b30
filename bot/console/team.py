"""The clinic's team: who its clinicians are, who is on call now, and (admins) inviting a
clinician, making one an admin or not, deactivating and reactivating, and ending their console
sessions. Every change goes through `bot/services/clinic/team.py` and is audited."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession
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
    qr_svg,
    require_admin,
    viewer,
    whole_number,
)
from bot.i18n import C_, NC_
from bot.services.clinic import team as service
from bot.services.console_access import Viewer
from bot.services.enrollment import EnrollmentError, create_clinician_invite, deep_link
from storage.models import Clinician

NOTICES = {
    "promoted": NC_("They are now an admin of this clinic."),
    "demoted": NC_("They are now a clinician (not an admin)."),
    "deactivated": NC_(
        "Deactivated: off every shift and rotation slot, no longer paged, and "
        "signed out of the console."
    ),
    "reactivated": NC_("Reactivated. Their ended shifts stay ended; add new ones on the roster."),
    "sessions": NC_("Their console sessions in this clinic have ended."),
    "unchanged": NC_("Nothing needed changing."),
    "contact": NC_("Contact methods saved."),
}


def _clinician_id(request: Request) -> int:
    number = whole_number(request.path_params["clinician_id"])
    if number is None:
        raise NotFound("clinician")
    return number


async def _member(request: Request, who: Viewer, session: AsyncSession) -> Clinician:
    clinic = console_of(request).clinic(who)
    found = await service.member(
        session,
        clinic=clinic,
        clinician_id=_clinician_id(request),
    )
    if found is None:
        raise NotFound("clinician")
    return found


async def team_page(
    request: Request,
    *,
    who: Viewer | None = None,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    who = who or await viewer(request)
    console = console_of(request)
    clinic = console.clinic(who)
    async with console.read() as session:
        members = await service.members(session, clinic=clinic, now=console.ctx.clock.now())
    done = request.query_params.get("done", "")
    return page(
        request,
        "team.html",
        who=who,
        status=status,
        section="team",
        members=members,
        v=values or {"name": "", "admin": ""},
        errors=errors or {},
        notice=C_(NOTICES[done]) if done in NOTICES else "",
    )


async def team(request: Request) -> Response:
    return await team_page(request)


async def invite(request: Request) -> Response:
    form = await checked_form(request)
    who = await viewer(request)
    require_admin(
        who,
        C_("Only an admin of this clinic can invite clinicians. Nothing was changed."),
    )
    console = console_of(request)
    clinic = console.clinic(who)
    name = str(form.get("name") or "").strip()
    admin = bool(form.get("admin"))
    values = {"name": name, "admin": "1" if admin else ""}
    if problem := service.check_name(name):
        return await team_page(
            request, who=who, values=values, errors={"name": problem}, status=400
        )
    try:
        async with console.ctx.db.transaction() as session:
            token = await create_clinician_invite(
                session,
                clinic=clinic,
                name=name,
                is_admin=admin,
                now=console.ctx.clock.now(),
                actor=who.actor,
            )
    except EnrollmentError as exc:
        return await team_page(
            request, who=who, values=values, errors={"name": str(exc)}, status=400
        )
    link = deep_link(console.bot.username, token)
    svg = qr_svg(link, title=C_("QR code of the invite link"))
    return page(
        request,
        "team_invite.html",
        who=who,
        section="team",
        name=name,
        admin=admin,
        link=link,
        qr=svg,
        valid_until=console.ctx.clock.now() + clinic.invite_valid_for,
    )


def _back(done: str) -> Response:
    return RedirectResponse(f"{PREFIX}/team?done={done}", status_code=303)


async def set_admin(request: Request) -> Response:
    form = await checked_form(request)
    who = await viewer(request)
    require_admin(
        who,
        C_("Only an admin of this clinic can change who is an admin. Nothing was changed."),
    )
    console = console_of(request)
    wanted = str(form.get("admin") or "")
    if wanted not in ("0", "1"):
        raise Refused(C_("This form is incomplete; reload the page. Nothing was changed."))
    try:
        async with console.ctx.db.transaction() as session:
            clinician = await _member(request, who, session)
            changed = await service.set_admin(
                session,
                clinician=clinician,
                admin=wanted == "1",
                actor=who.actor,
                now=console.ctx.clock.now(),
            )
    except service.TeamError as exc:
        raise Refused(C_("{problem} Nothing was changed.").format(problem=exc), 409) from None
    if not changed:
        return _back("unchanged")
    return _back("promoted" if wanted == "1" else "demoted")


async def deactivate_page(request: Request) -> Response:
    """The confirmation step: what deactivating them would do, before it is done."""
    who = await viewer(request)
    require_admin(
        who,
        C_("Only an admin of this clinic can deactivate clinicians. Nothing was changed."),
    )
    return await _deactivate_page(request, who)


async def _deactivate_page(request: Request, who: Viewer) -> Response:
    console = console_of(request)
    clinic = console.clinic(who)
    async with console.read() as session:
        clinician = await _member(request, who, session)
        preview = await service.deactivation(
            session, clinic=clinic, clinician=clinician, now=console.ctx.clock.now()
        )
    return page(request, "team_deactivate.html", who=who, section="team", d=preview)


async def deactivate(request: Request) -> Response:
    form = await checked_form(request)
    who = await viewer(request)
    require_admin(
        who,
        C_("Only an admin of this clinic can deactivate clinicians. Nothing was changed."),
    )
    if str(form.get("confirm") or "") != "1":
        return await _deactivate_page(request, who)
    console = console_of(request)
    clinic = console.clinic(who)
    try:
        async with console.ctx.db.transaction() as session:
            clinician = await _member(request, who, session)
            await service.deactivate(
                session,
                clinic=clinic,
                clinician=clinician,
                actor=who.actor,
                now=console.ctx.clock.now(),
            )
    except service.TeamError as exc:
        raise Refused(C_("{problem} Nothing was changed.").format(problem=exc), 409) from None
    return _back("deactivated")


async def reactivate(request: Request) -> Response:
    await checked_form(request)
    who = await viewer(request)
    require_admin(
        who,
        C_("Only an admin of this clinic can reactivate clinicians. Nothing was changed."),
    )
    console = console_of(request)
    async with console.ctx.db.transaction() as session:
        clinician = await _member(request, who, session)
        changed = await service.reactivate(
            session, clinician=clinician, actor=who.actor, now=console.ctx.clock.now()
        )
    return _back("reactivated" if changed else "unchanged")


async def end_sessions(request: Request) -> Response:
    await checked_form(request)
    who = await viewer(request)
    require_admin(
        who,
        C_(
            "Only an admin of this clinic can end clinicians' console sessions. "
            "Nothing was changed."
        ),
    )
    console = console_of(request)
    async with console.ctx.db.transaction() as session:
        clinician = await _member(request, who, session)
        await service.end_sessions(
            session, clinician=clinician, actor=who.actor, now=console.ctx.clock.now()
        )
    return _back("sessions")


ROUTES = [
    Route("/team", team, methods=["GET"]),
    Route("/team/invite", invite, methods=["POST"]),
    Route("/team/{clinician_id}/admin", set_admin, methods=["POST"]),
    Route("/team/{clinician_id}/deactivate", deactivate_page, methods=["GET"]),
    Route("/team/{clinician_id}/deactivate", deactivate, methods=["POST"]),
    Route("/team/{clinician_id}/reactivate", reactivate, methods=["POST"]),
    Route("/team/{clinician_id}/sessions", end_sessions, methods=["POST"]),
]

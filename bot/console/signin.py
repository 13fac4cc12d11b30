"""Signing in with a link from `/console`, choosing a clinic, signing out."""

from __future__ import annotations

import logging
import secrets
from datetime import timedelta

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from bot.console.web import (
    NEXT_COOKIE,
    PREFIX,
    SESSION_COOKIE,
    SIGNIN_COOKIE,
    Refused,
    checked_form,
    console_of,
    delete_cookie,
    guarded_form,
    link_lookup,
    page,
    session_token,
    set_cookie,
    viewer,
)
from bot.i18n import C_, NC_
from bot.services.console_access import (
    ABSOLUTE_EXPIRY,
    LINK_VALID_FOR,
    LinkProblem,
    check_link,
    redeem_link,
    sign_out,
    switch_clinic,
)

log = logging.getLogger(__name__)

PROBLEMS = {
    LinkProblem.UNKNOWN: (
        404,
        NC_("This sign-in link is not valid"),
        NC_("It may have been mistyped or cut short. Get a new one as said below."),
    ),
    LinkProblem.USED: (
        410,
        NC_("This sign-in link was already used"),
        NC_("Each link signs in once. Get a new one as said below."),
    ),
    LinkProblem.EXPIRED: (
        410,
        NC_("This sign-in link has expired"),
        NC_("Links are valid for 10 minutes. Get a new one as said below."),
    ),
    LinkProblem.NOT_A_CLINICIAN: (
        403,
        NC_("This account is no longer a clinician of any clinic"),
        NC_("Ask your clinic's administrator if you should still have access."),
    ),
}


def _problem(request: Request, problem: LinkProblem) -> Response:
    status, title, text = PROBLEMS[problem]
    log.info("console.signin_refused reason=%s", problem.value)
    new_link = problem is not LinkProblem.NOT_A_CLINICIAN  # a new link would not help
    return page(
        request, "message.html", status=status, title=C_(title), text=C_(text), new_link=new_link
    )


async def signin_form(request: Request) -> Response:
    """GET: check the link without using it (a link preview or a scanner fetching it must not
    spend it) and offer the sign-in button."""
    link_lookup(request, "signin")
    console = console_of(request)
    token = request.path_params["token"]
    async with console.read() as session:
        link = await check_link(session, token=token, now=console.ctx.clock.now())
    if isinstance(link, LinkProblem):
        return _problem(request, link)
    guard = secrets.token_urlsafe(24)
    response = page(request, "signin.html", guard=guard, token=token)
    set_cookie(response, request, SIGNIN_COOKIE, guard, max_age=LINK_VALID_FOR, path=PREFIX)
    return response


async def signin(request: Request) -> Response:
    """POST: spend the link, open a session, and go where the clinician was going."""
    link_lookup(request, "signin")
    console = console_of(request)
    await guarded_form(
        request,
        cookie=SIGNIN_COOKIE,
        refusal=C_(
            "This sign-in form did not come from this browser. Open the sign-in link "
            "again in this browser."
        ),
    )
    async with console.ctx.db.transaction() as session:
        opened = await redeem_link(
            session, token=request.path_params["token"], now=console.ctx.clock.now()
        )
    if isinstance(opened, LinkProblem):
        return _problem(request, opened)
    secret, _ = opened
    going = request.cookies.get(NEXT_COOKIE, "")
    target = going if _safe_next(going) else f"{PREFIX}/"
    response = RedirectResponse(f"{PREFIX}/clinic?next={target}", status_code=303)
    set_cookie(response, request, SESSION_COOKIE, secret, max_age=ABSOLUTE_EXPIRY, path=PREFIX)
    delete_cookie(response, request, SIGNIN_COOKIE, path=PREFIX)
    delete_cookie(response, request, NEXT_COOKIE, path=PREFIX)
    return response


def _safe_next(path: str) -> bool:
    """Only a path of this console (never another site)."""
    return path.startswith(f"{PREFIX}/") and not path.startswith("//") and "\\" not in path


async def choose_clinic(request: Request) -> Response:
    """GET: a clinician of one clinic goes straight on; one of several chooses."""
    who = await viewer(request)
    going = request.query_params.get("next", "")
    target = going if _safe_next(going) else f"{PREFIX}/"
    if len(who.registrations) == 1:
        return RedirectResponse(target, status_code=303)
    return page(request, "clinic.html", who=who, target=target)


async def clinic_chosen(request: Request) -> Response:
    form = await checked_form(request)
    console = console_of(request)
    token = session_token(request)
    assert token is not None
    try:
        chosen = int(str(form.get("clinician") or ""))
    except ValueError:
        raise Refused(C_("Choose one of your clinics.")) from None
    async with console.ctx.db.transaction() as session:
        who = await switch_clinic(
            session, token=token, clinician_id=chosen, now=console.ctx.clock.now()
        )
    if who is None:
        raise Refused(C_("That is not one of your clinics."), 403)
    going = str(form.get("next") or "")
    return RedirectResponse(going if _safe_next(going) else f"{PREFIX}/", status_code=303)


async def signout(request: Request) -> Response:
    await checked_form(request)
    console = console_of(request)
    token = session_token(request)
    assert token is not None
    async with console.ctx.db.transaction() as session:
        await sign_out(session, token=token, now=console.ctx.clock.now())
    response = page(
        request,
        "message.html",
        title=C_("Signed out"),
        text=C_("You are signed out of the console. To sign in again you need a new sign-in link."),
    )
    delete_cookie(response, request, SESSION_COOKIE, path=PREFIX)
    return response


def remember_next(response: Response, request: Request) -> None:
    """Before the sign-in page: where to come back to (a GET page of the console only)."""
    if request.method == "GET" and _safe_next(request.url.path):
        set_cookie(
            response,
            request,
            NEXT_COOKIE,
            request.url.path,
            max_age=timedelta(minutes=30),
            path=PREFIX,
        )


ROUTES = [
    Route("/signin/{token}", signin_form, methods=["GET"]),
    Route("/signin/{token}", signin, methods=["POST"]),
    Route("/clinic", choose_clinic, methods=["GET"]),
    Route("/clinic", clinic_chosen, methods=["POST"]),
    Route("/signout", signout, methods=["POST"]),
]

"""The clinic console as one ASGI app, mounted at `/console` on the bot's HTTP server.

Security on every response: a strict Content-Security-Policy (scripts and styles only from
this package; inline `style` attributes allowed for the SVG charts), no referrer (sign-in
links never leak), no framing, and pages never cached (they hold patient data).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from telegram import Bot

from bot.console import (
    ack,
    audit_log,
    cases,
    contact,
    enroll,
    export,
    infusions,
    patients,
    privacy,
    reports,
    roster,
    safety_plan,
    settings,
    signin,
    team,
)
from bot.console.limits import BodyLimit, InLanguage, TooManyLookups, redact_path
from bot.console.web import (
    PREFIX,
    Console,
    NotFound,
    Refused,
    SignInNeeded,
    make_environment,
    page,
)
from bot.context import AppContext
from bot.i18n import C_, NC_, Cn_
from storage.engine import describe_failure, is_unavailable

log = logging.getLogger(__name__)

STATIC = Path(__file__).parent / "static"
SECURITY_HEADERS = [
    (
        b"content-security-policy",
        b"default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        b"img-src 'self' data:; connect-src 'self'; form-action 'self'; "
        b"frame-ancestors 'none'; base-uri 'none'; object-src 'none'",
    ),
    (b"referrer-policy", b"no-referrer"),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
]


class SecurityHeaders:
    """Adds the security headers to every response; `Cache-Control: no-store` to pages."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        static = scope.get("path", "").startswith(f"{PREFIX}/static/")

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [
                    (k, v)
                    for k, v in message.get("headers", [])
                    if static or k.lower() != b"cache-control"
                ]
                headers.extend(SECURITY_HEADERS)
                headers.append(
                    (b"cache-control", b"public, max-age=3600")
                    if static
                    else (b"cache-control", b"no-store")
                )
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, sending)


# A 404's title and text by what was not found (`NotFound.what`), each a whole sentence.
_NOT_FOUND = {
    "page": (NC_("No such page here"), NC_("There is no such page in your clinic.")),
    "case": (NC_("No such case here"), NC_("There is no such case in your clinic.")),
    "patient": (NC_("No such patient here"), NC_("There is no such patient in your clinic.")),
    "infusion": (NC_("No such infusion here"), NC_("There is no such infusion in your clinic.")),
    "safety plan": (
        NC_("No such safety plan here"),
        NC_("There is no such safety plan in your clinic."),
    ),
    "shift": (NC_("No such shift here"), NC_("There is no such shift in your clinic.")),
    "clinician": (
        NC_("No such clinician here"),
        NC_("There is no such clinician in your clinic."),
    ),
    "settings version": (
        NC_("No such settings version here"),
        NC_("There is no such settings version in your clinic."),
    ),
}
_HTTP_ERRORS = {  # Starlette's own refusals (its English reason phrases), in words
    400: NC_("The request could not be read. Reload the page and try again; nothing was changed."),
    405: NC_("This address does not take that kind of request. Nothing was changed."),
    413: NC_("What was sent is too large. Nothing was changed."),
}


async def _sign_in_needed(request: Request, exc: Exception) -> Response:
    response = page(
        request,
        "message.html",
        status=401,
        title=C_("Please sign in"),
        text=C_(
            "This browser is not signed in to the console (the sign-in ended, or its cookie "
            "was lost). Sign in with a new link and you come back to this page."
        ),
    )
    signin.remember_next(response, request)
    return response


async def _not_found(request: Request, exc: Exception) -> Response:
    what = exc.what if isinstance(exc, NotFound) else "page"
    title, text = _NOT_FOUND.get(what, _NOT_FOUND["page"])
    return page(request, "message.html", status=404, title=C_(title), text=C_(text))


async def _refused(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Refused)
    return page(request, "message.html", status=exc.status, title=C_("Not done"), text=exc.message)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        return await _not_found(request, NotFound("page"))
    return page(
        request,
        "message.html",
        status=exc.status_code,
        title=C_("Not done"),
        text=C_(_HTTP_ERRORS[exc.status_code])
        if exc.status_code in _HTTP_ERRORS
        else str(exc.detail),
    )


async def _too_many_lookups(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, TooManyLookups)
    response = page(
        request,
        "message.html",
        status=429,
        title=C_("Too many links opened"),
        text=Cn_(
            "Too many sign-in or acknowledge links were opened from your network in the last "
            "minute. Try again in {n} second. Meanwhile you can acknowledge a case "
            "in Telegram; if a patient may be at risk, follow your clinic's usual procedure.",
            "Too many sign-in or acknowledge links were opened from your network in the last "
            "minute. Try again in {n} seconds. Meanwhile you can acknowledge a case "
            "in Telegram; if a patient may be at risk, follow your clinic's usual procedure.",
            exc.retry_after,
        ).format(n=exc.retry_after),
    )
    response.headers["Retry-After"] = str(exc.retry_after)
    return response


async def _failure(request: Request, exc: Exception) -> Response:
    """A database outage gets an honest page (nothing was changed); anything else is logged."""
    if is_unavailable(exc):
        log.warning("console.database_unavailable problem=%s", describe_failure(exc))
        text = C_(
            "The console cannot reach Aftercare's database right now, so nothing could be shown "
            "or changed. Try again in a minute. If a patient may be at risk, follow your "
            "clinic's usual procedure; do not wait for this page."
        )
        title = C_("Database unavailable")
        return page(request, "message.html", status=503, title=title, text=text)
    log.exception("console.error path=%s", redact_path(request.url.path))
    return page(
        request,
        "message.html",
        status=500,
        title=C_("Something went wrong"),
        text=C_(
            "The console failed on this request and it was logged. Nothing is shown as "
            "done that was not done: reload the page to see the current state."
        ),
    )


def console_app(ctx: AppContext, bot: Bot, *, secure_cookies: bool) -> Starlette:
    handlers: dict[Any, Any] = {
        SignInNeeded: _sign_in_needed,
        NotFound: _not_found,
        Refused: _refused,
        TooManyLookups: _too_many_lookups,
        HTTPException: _http_error,
        Exception: _failure,
    }
    app = Starlette(
        routes=[
            *cases.ROUTES,
            *patients.ROUTES,
            *safety_plan.ROUTES,
            *enroll.ROUTES,
            *infusions.ROUTES,
            *roster.ROUTES,
            *team.ROUTES,
            *contact.ROUTES,
            *settings.ROUTES,
            *audit_log.ROUTES,
            *export.ROUTES,
            *reports.ROUTES,
            *privacy.ROUTES,
            *signin.ROUTES,
            *ack.ROUTES,
            Mount("/static", StaticFiles(directory=STATIC), name="static"),
        ],
        exception_handlers=handlers,
        middleware=[Middleware(BodyLimit)],  # bodies bounded while they stream
    )
    app.state.console = Console(ctx, bot, make_environment(), secure_cookies)
    return app


def console_mount(ctx: AppContext, bot: Bot) -> Mount:
    """`/console` for the bot's HTTP server."""
    url = ctx.settings.console_url or ""
    return Mount(
        PREFIX,
        app=InLanguage(  # outermost: error pages too are in the console's language
            SecurityHeaders(console_app(ctx, bot, secure_cookies=url.startswith("https://"))),
            ctx.settings.console_language,
        ),
    )

"""What every console route shares: the templates, the signed-in viewer, CSRF, and answers.

Routes stay thin: they read the request, call `bot/services/`, and render a template.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import segno
from jinja2 import Environment, FileSystemLoader, pass_context, select_autoescape
from jinja2.runtime import Context
from markupsafe import Markup, escape
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Match
from telegram import Bot

from bot.clinic_config import ClinicConfig
from bot.console.limits import lookup_allowed, lookup_throttle
from bot.context import AppContext
from bot.domain.instruments import item_label
from bot.domain.levels import Level
from bot.domain.throttle import Throttle
from bot.i18n import C_, Cn_, current_language
from bot.messaging.pages import duration, reason_lines
from bot.services.console_access import Viewer, note_seen, viewer_of
from bot.services.wording.checkin_labels import staff_checkin_label
from storage.models import Patient
from storage.states import PatientStatus

log = logging.getLogger(__name__)

PREFIX = "/console"
SESSION_COOKIE = "aftercare_console"
SIGNIN_COOKIE = "aftercare_signin"  # double-submit token of the sign-in form
NEXT_COOKIE = "aftercare_next"  # where to go after signing in
CSRF_FIELD = "csrf"
CSRF_HEADER = "X-CSRF-Token"
TEMPLATES = Path(__file__).parent / "templates"
MESSAGE = "message.html"  # refusals and errors; with the viewer when one is known


class SignInNeeded(Exception):
    """No live session: the sign-in page (401), remembering where the clinician was going."""


class NotFound(Exception):
    """Nothing of that name in the viewer's clinic (another clinic's look the same: absent)."""

    def __init__(self, what: str) -> None:
        super().__init__(what)
        self.what = what


class Refused(Exception):
    """A request that cannot be done as sent (stale CSRF token, bad form): 400 or 403."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message, self.status = message, status


@dataclass
class Console:
    """The console's dependencies: the application's context and the bot (to update pages)."""

    ctx: AppContext
    bot: Bot
    env: Environment
    secure_cookies: bool
    lookups: Throttle = field(default_factory=lookup_throttle)  # sign-in and ack links

    def clinic(self, viewer: Viewer) -> ClinicConfig:
        return self.ctx.clinic(viewer.clinic_id)

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        async with self.ctx.db.read() as session:  # pages read; a form's POST writes apart
            yield session


def whole_number(raw: str, *, max_digits: int = 9) -> int | None:
    """An id or count from a path, query or form: ASCII digits only (`str.isdigit` also takes
    "²", which `int` then refuses), at most `max_digits`; None for anything else."""
    if not re.fullmatch(rf"[0-9]{{1,{max_digits}}}", raw):
        return None
    return int(raw)


def require_admin(who: Viewer, refusal: str) -> None:
    """Refused (403) with `refusal`, the caller's whole sentence in the console's language
    ("Only an admin of this clinic can …"), unless the viewer is an admin of the clinic."""
    if not who.clinician.is_admin:
        raise Refused(refusal, 403)


def refuse_if_erased(patient: Patient) -> None:
    """Refused (409) for an erased patient: nothing of theirs is stored again."""
    if patient.status == PatientStatus.ERASED:
        raise Refused(
            C_(
                "{ref} was erased: nothing of theirs is stored any longer. Nothing was saved."
            ).format(ref=patient.ref),
            409,
        )


def console_of(request: Request) -> Console:
    console: Console = request.app.state.console
    return console


def make_environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,
        extensions=["jinja2.ext.i18n"],
    )
    # `_()` and `{% trans %}` say the clinicians' catalogue (bot.i18n.C_), in the language the
    # request runs in (`ConsoleLanguage`); newstyle: `_("%(n)s open", n=3)` escapes its values.
    env.install_gettext_callables(C_, Cn_, newstyle=True)  # type: ignore[attr-defined]
    env.filters["local"] = local_time
    env.filters["hhmm"] = hhmm
    env.filters["duration"] = lambda delta: duration(delta)
    env.filters["age"] = age
    env.filters["ago"] = ago
    env.filters["until"] = until
    env.filters["reasons"] = lambda reason, zone: reasons_of(reason, ZoneInfo(str(zone)))
    env.globals["Level"] = Level
    env.globals["current_language"] = current_language  # <html lang="{{ current_language() }}">
    env.globals["item_label"] = item_label
    env.globals["checkin_name"] = staff_checkin_label  # "4-hour check-in", in the console's words
    return env


def qr_svg(link: str, *, title: str) -> Markup:
    """A QR code of `link` as inline SVG (segno), sized by CSS through its viewBox."""
    svg: str = segno.make(link, error="m").svg_inline(
        scale=4, border=2, dark="#000", light="#fff", title=title, svgclass="qr", omitsize=True
    )
    return Markup(svg)


def hhmm(value: object) -> str:
    """A time for `<input type="time">`: `HH:MM` (a submitted string is shown back as sent)."""
    if isinstance(value, time):
        return value.strftime("%H:%M")
    return "" if value is None else str(value)


def age(delta: timedelta) -> str:
    """A wait to the minute ('under a minute', '5 min', '4 h'), so a refreshed list that shows
    nothing new is byte for byte the same."""
    if delta < timedelta(minutes=1):
        return C_("under a minute")
    return duration(delta)


# A wait left to be said once the page is drawn (bot.console.lists.case_cards), marked
# "@@age-<nonce>:<iso>|ago@@": the nonce, new each process, is what no patient's words can hold.
AGES_LATER = "ages_later"
_NONCE = secrets.token_hex(8)
_AGE_MARK = re.compile(rf"@@age-{_NONCE}:([0-9T:.+-]+)\|(ago|until)@@")


def _wait(context: Context, instant: datetime, way: str) -> str:
    if context.get(AGES_LATER):
        return f"@@age-{_NONCE}:{instant.isoformat()}|{way}@@"
    now: datetime = context["now"]
    return age(now - instant if way == "ago" else instant - now)


@pass_context
def ago(context: Context, instant: datetime) -> str:
    """`(now - instant)|age`: how long ago, to the minute."""
    return _wait(context, instant, "ago")


@pass_context
def until(context: Context, instant: datetime) -> str:
    """`(instant - now)|age`: how long until, to the minute."""
    return _wait(context, instant, "until")


def fill_ages(html: str, now: datetime) -> str:
    """The waits a page drawn with `ages_later` left, said at `now` as |ago and |until say
    them (escaped, as a value of `{% trans %}` is). A wait is said to the minute, so waits in
    the same whole minute (floored) are said alike, and each minute is said once a page."""
    by_minute: dict[int, str] = {}

    def said(found: re.Match[str]) -> str:
        at = datetime.fromisoformat(found.group(1))
        wait = now - at if found.group(2) == "ago" else at - now
        minute = wait // _MINUTE
        words = by_minute.get(minute)
        if words is None:
            words = by_minute[minute] = str(escape(age(wait)))
        return words

    return _AGE_MARK.sub(said, html)


_MINUTE = timedelta(minutes=1)


def local_time(
    instant: datetime | None, zone: ZoneInfo | str, fmt: str = "%a %d %b %H:%M %Z"
) -> str:
    if instant is None:
        return "—"
    return _local_time(instant, zone if isinstance(zone, ZoneInfo) else ZoneInfo(zone), fmt)


@lru_cache(maxsize=8192)
def _local_time(instant: datetime, tz: ZoneInfo, fmt: str) -> str:
    """Kept: a refreshed queue shows the same few hundred times again (issue 32). Pure: an
    instant, a zone and a format (its names are the C locale's, never a language's)."""
    return instant.astimezone(tz).strftime(fmt)


@lru_cache(maxsize=2048)
def reasons_of(reason: str, zone: ZoneInfo) -> tuple[str, ...]:
    """A case's reason lines in `zone` (`reason_lines`), kept: pure, and read for every card
    of every refresh of the queue."""
    return tuple(reason_lines(reason, zone))


def csrf_for(session_token: str) -> str:
    """The CSRF token of a session: derived from its secret, so it needs no storage and
    cannot be known without the session cookie."""
    return hmac.new(session_token.encode(), b"aftercare-console-csrf", hashlib.sha256).hexdigest()


def session_token(request: Request) -> str | None:
    token = request.cookies.get(SESSION_COOKIE)
    return token if token and len(token) < 128 else None


async def viewer(request: Request, *, touch: bool = True) -> Viewer:
    """The signed-in clinician, or SignInNeeded. Looked up once per request (`checked_form`
    looks first, before it reads the form)."""
    known: Viewer | None = getattr(request.state, "viewer", None)
    if known is not None:
        return known
    token = session_token(request)
    if token is None:
        raise SignInNeeded
    console = console_of(request)
    now = console.ctx.clock.now()
    async with console.ctx.db.read() as session:  # waits for no writer
        found = await viewer_of(session, token=token, now=now, touch=False)
    if found is None:
        raise SignInNeeded
    if touch and found.seen_due(now):  # at most once a minute: a write
        async with console.ctx.db.transaction() as session:
            found = await note_seen(session, viewer=found, now=now)
    request.state.viewer = found
    return found


async def checked_form(request: Request, *, max_fields: int = 20) -> FormData:
    """The posted form, once the session is live in the store (SignInNeeded before a byte of
    the body is read) and the form's CSRF token matches it; else Refused (403). The body's
    size is bounded while it streams (`bot.console.limits.BodyLimit`)."""
    await viewer(request)
    token = session_token(request)
    assert token is not None
    form = await request.form(max_files=0, max_fields=max_fields)
    sent = str(form.get(CSRF_FIELD) or request.headers.get(CSRF_HEADER) or "")
    if not hmac.compare_digest(sent.encode(), csrf_for(token).encode()):
        log.warning("console.csrf_refused path=%s", request.url.path)
        raise Refused(
            C_(
                "This form has expired or did not come from this console. Reload the page and "
                "try again; nothing was changed."
            ),
            403,
        )
    return form


def link_lookup(request: Request, what: str) -> None:
    """Before a sign-in or acknowledge link is looked up: TooManyLookups (429) when this
    address has looked up too many."""
    console = console_of(request)
    lookup_allowed(request, console.lookups, what, now=console.ctx.clock.now().timestamp())


async def guarded_form(request: Request, *, cookie: str, refusal: str) -> FormData:
    """The form of a page opened without a session (a sign-in or acknowledge link): its
    `guard` field must match the cookie that page set (double submit), else Refused (403).
    Without the cookie the body is not read at all."""
    expected = request.cookies.get(cookie, "")
    if not expected or len(expected) > 128:
        raise Refused(refusal, 403)
    form = await request.form(max_files=0, max_fields=5)
    guard = str(form.get("guard") or "")
    if not guard or not hmac.compare_digest(guard.encode(), expected.encode()):
        raise Refused(refusal, 403)
    return form


def page(
    request: Request,
    template: str,
    *,
    who: Viewer | None = None,
    status: int = 200,
    **values: Any,
) -> HTMLResponse:
    """Render a page (or a fragment) with what every page needs."""
    if template == MESSAGE:  # every refusal and error page: the navigation and a way back
        who = who or getattr(request.state, "viewer", None)
        # not after a 404: a path into another clinic must not come back as a link
        back = way_back(request) if who is not None and status != 404 else None
        values.setdefault("back", back)
    return HTMLResponse(render(request, template, who=who, **values), status_code=status)


def way_back(request: Request) -> str | None:
    """Where a refusal or error page leads back to: the page a form was sent from (its own
    path, or the nearest above it that is a page), never the page that failed nor the open
    cases (linked anyway). None when there is nothing nearer."""
    parts = request.url.path.rstrip("/").split("/")
    tried = len(parts) if request.method != "GET" else len(parts) - 1
    for end in range(tried, PREFIX.count("/") + 1, -1):
        path = "/".join(parts[:end])
        scope = {**request.scope, "method": "GET", "path": path}
        if any(r.matches(scope)[0] is Match.FULL for r in request.app.router.routes):
            return path
    return None


def render(request: Request, template: str, *, who: Viewer | None = None, **values: Any) -> str:
    console = console_of(request)
    context = base_context(request, who=who)
    clinic_of = {key: context[key] for key in ("clinic", "zone") if key in context}
    return console.env.get_template(template).render(context | values | clinic_of)


def base_context(request: Request, *, who: Viewer | None) -> dict[str, Any]:
    """What every page is drawn with: prefix, now, viewer, CSRF token, clinic and zone."""
    console = console_of(request)
    token = session_token(request)
    context: dict[str, Any] = {
        "prefix": PREFIX,
        "now": console.ctx.clock.now(),
        "viewer": who,
        "csrf": csrf_for(token) if (token and who) else "",
    }
    if who is not None:
        clinic = console.clinic(who)
        context.update(clinic=clinic, zone=clinic.zone)
        context.setdefault(
            "clinic_names",
            {c.clinic_id: console.ctx.clinic(c.clinic_id).name for c in who.registrations},
        )
    return context


def _secure(request: Request) -> bool:
    return console_of(request).secure_cookies or request.url.scheme == "https"


def set_cookie(
    response: Response, request: Request, name: str, value: str, *, max_age: timedelta, path: str
) -> None:
    response.set_cookie(
        name,
        value,
        max_age=int(max_age.total_seconds()),
        path=path,
        httponly=True,
        samesite="lax",
        secure=_secure(request),
    )


def delete_cookie(response: Response, request: Request, name: str, *, path: str) -> None:
    """Expire a cookie with the same flags it was set with (`Secure` under https)."""
    response.delete_cookie(name, path=path, httponly=True, samesite="lax", secure=_secure(request))

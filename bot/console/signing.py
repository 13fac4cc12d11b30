"""The clinic's webhook signing secret (admins): create one, rotate it with an overlap, end the
overlap. A new secret is shown once, on the page the POST itself answers (pages are
`no-store`; no redirect carries it). Every change goes through
`bot/services/paging/signing.py` and is audited, never with the secret."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from bot.console.web import (
    PREFIX,
    Refused,
    checked_form,
    console_of,
    page,
    require_admin,
    viewer,
    whole_number,
)
from bot.i18n import C_, NC_
from bot.services.console_access import Viewer
from bot.services.paging import signing
from bot.services.paging.secret_box import SecretBox

_ADMINS_ONLY = NC_(
    "Only an admin of this clinic can manage the webhook's signing secret. Nothing was changed."
)
_CHANGED = NC_(
    "The clinic's signing secret changed since this page was shown; nothing was changed."
)
NOTICES = {
    "ended": NC_(
        "The older secret no longer signs: events carry the current secret's signature only."
    ),
    "nothing": NC_("No older secret was signing: nothing needed ending."),
}


async def _page(
    request: Request, who: Viewer, *, issued: signing.Issued | None = None, status: int = 200
) -> Response:
    console = console_of(request)
    clinic = console.clinic(who)
    async with console.read() as session:
        state = await signing.state(
            session, clinic_id=clinic.id, settings=console.ctx.settings, now=console.ctx.clock.now()
        )
    return page(
        request,
        "signing.html",
        who=who,
        status=status,
        section="settings",
        state=state,
        issued=issued,
        overlap_hours=int(signing.OVERLAP.total_seconds() // 3600),
        no_key=C_(signing.NO_KEY),
        notice=_notice(request.query_params.get("done", "")),
    )


def _notice(done: str) -> str:
    return C_(NOTICES[done]) if done in NOTICES else ""


async def signing_page(request: Request) -> Response:
    who = await viewer(request)
    require_admin(who, C_(_ADMINS_ONLY))
    return await _page(request, who)


async def signing_post(request: Request) -> Response:
    form = await checked_form(request, max_fields=5)
    who = await viewer(request)
    require_admin(who, C_(_ADMINS_ONLY))
    console = console_of(request)
    clinic_id = console.clinic(who).id
    action = str(form.get("action") or "")
    now = console.ctx.clock.now()
    if action == "end_overlap":
        async with console.ctx.db.transaction() as session:
            ended = await signing.end_overlap(
                session, clinic_id=clinic_id, actor=who.actor, now=now
            )
        done = "ended" if ended else "nothing"
        return RedirectResponse(f"{PREFIX}/settings/signing?done={done}", status_code=303)
    if action != "create":
        raise Refused(C_("This form is incomplete; reload the page. Nothing was changed."))
    based_on = whole_number(str(form.get("based_on", "")))
    if based_on is None:
        raise Refused(C_("This form is incomplete; reload the page. Nothing was changed."))
    try:
        async with console.ctx.db.transaction() as session:
            issued = await signing.issue(
                session,
                clinic_id=clinic_id,
                based_on=based_on,
                box=SecretBox.of(console.ctx.settings),
                actor=who.actor,
                now=now,
            )
    except signing.SigningUnavailable:
        raise Refused(C_(signing.NO_KEY), 503) from None
    except signing.SigningConflict:
        raise Refused(C_(_CHANGED), 409) from None
    return await _page(request, who, issued=issued)


ROUTES = [
    Route("/settings/signing", signing_page, methods=["GET"]),
    Route("/settings/signing", signing_post, methods=["POST"]),
]

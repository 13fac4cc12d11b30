"""Acknowledge links from e-mailed pages: GET shows the case and one button (a mail scanner
following the link acknowledges nothing); POST, from that page only (double-submit cookie),
takes the case through `take_case`, as Telegram and the console do: every page of the case
says who took it. No console session is needed: the link is the clinician's."""

from __future__ import annotations

import hashlib
import logging
import secrets
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bot.console.web import (
    PREFIX,
    console_of,
    delete_cookie,
    guarded_form,
    link_lookup,
    page,
    set_cookie,
)
from bot.i18n import C_, NC_
from bot.messaging.pages import reasons_in
from bot.messaging.taking import take_case
from bot.services.case_taking import TakeRequest
from bot.services.paging.ack_links import (
    AckProblem,
    AckView,
    admit_ack_link,
    answer_of,
    check_ack_link,
)

log = logging.getLogger(__name__)

GUARD_COOKIE = "aftercare_ack_"  # + a digest of the link: one per link, side by side
GUARD_FOR = timedelta(hours=1)
SEEN_WHEN = NC_("this page was opened")
ANSWERS = {
    AckProblem.UNKNOWN: (
        404,
        NC_("This acknowledge link is not valid"),
        NC_(
            "It may have been cut short "
            "by the mail program. Acknowledge in Telegram or the console instead."
        ),
    ),
    AckProblem.USED: (
        410,
        NC_("This link was already used"),
        NC_("Each acknowledge link works once."),
    ),
    AckProblem.CLOSED: (410, NC_("This case is resolved"), NC_("Nothing needs acknowledging.")),
    AckProblem.NOT_ACTIVE: (
        403,
        NC_("You are no longer an active clinician of this clinic"),
        NC_("Ask your clinic's administrator."),
    ),
    AckProblem.RAISED: (
        409,
        NC_("The case changed since you opened this page"),
        NC_(
            "It was raised or re-opened, so nothing was acknowledged. Open the link again to "
            "read the newest facts before acknowledging."
        ),
    ),
}


def _cookie(token: str) -> str:
    return GUARD_COOKIE + hashlib.sha256(token.encode()).hexdigest()[:16]


def _answer(request: Request, view: AckView) -> Response:
    assert view.problem is not None
    if view.problem is AckProblem.TAKEN:
        by = view.taken_by.name if view.taken_by is not None else C_("a colleague")
        at = view.case.acknowledged_at if view.case is not None else None
        case_id = view.case.id if view.case else ""
        text = (
            C_("Case #{id} was already acknowledged by {by} at {at} UTC. Re-paging has stopped.")
            if at is not None
            else C_("Case #{id} was already acknowledged by {by}. Re-paging has stopped.")
        ).format(id=case_id, by=by, at=f"{at:%H:%M}" if at is not None else "")
        return page(
            request, "message.html", status=200, title=C_("Already acknowledged"), text=text
        )
    status, title, text = ANSWERS[view.problem]
    log.info("console.ack_refused reason=%s", view.problem.value)
    return page(request, "message.html", status=status, title=C_(title), text=C_(text))


async def ack_form(request: Request) -> Response:
    link_lookup(request, "ack")
    console = console_of(request)
    token = request.path_params["token"]
    async with console.read() as session:
        view = await check_ack_link(session, token=token)
    if view.problem is not None:
        return _answer(request, view)
    assert view.case is not None
    clinic = console.ctx.clinic(view.case.clinic_id)
    guard = secrets.token_urlsafe(24)
    response = page(
        request,
        "ack.html",
        token=token,
        guard=guard,
        case=view.case,
        clinician=view.clinician,
        reasons=reasons_in(view.case.reason, clinic),
        ack_zone=clinic.zone,
        earlier=view.earlier,
        ladder=view.ladder,
    )
    set_cookie(response, request, _cookie(token), guard, max_age=GUARD_FOR, path=f"{PREFIX}/ack")
    return response


async def ack(request: Request) -> Response:
    link_lookup(request, "ack")
    console = console_of(request)
    form = await guarded_form(
        request,
        cookie=_cookie(request.path_params["token"]),
        refusal=C_(
            "This form did not come from this browser. Open the link from the e-mail "
            "again; nothing was acknowledged."
        ),
    )
    token, now = request.path_params["token"], console.ctx.clock.now()
    seen, ladder = str(form.get("level") or ""), str(form.get("ladder") or "")

    async def admit(session: AsyncSession) -> TakeRequest | AckView:
        return await admit_ack_link(
            session,
            token=token,
            seen_level=seen,
            seen_ladder=ladder,
            seen_when=C_(SEEN_WHEN),
            now=now,
        )

    result = await take_case(console.ctx, console.bot, admit)
    view = result if isinstance(result, AckView) else answer_of(result)
    if view.problem is not None:
        return _answer(request, view)
    assert view.case is not None
    response = page(
        request,
        "message.html",
        title=C_("You acknowledged case #{id}").format(id=view.case.id),
        text=C_(
            "Re-paging has stopped and your colleagues were told. Follow up with the patient "
            "as your clinic's procedure says; resolve the case in Telegram or the console."
        ),
    )
    delete_cookie(response, request, _cookie(request.path_params["token"]), path=f"{PREFIX}/ack")
    return response


ROUTES = [
    Route("/ack/{token}", ack_form, methods=["GET"]),
    Route("/ack/{token}", ack, methods=["POST"]),
]

"""The case queue (the landing page), one case, and Acknowledge / Resolve.

Acknowledge and Resolve call the same services as the Telegram buttons and commands
(`bot/services/cases.py`), then `announce_taken` updates every page of the case in Telegram
and tells the others who took it, exactly as when it is taken in Telegram.
"""

from __future__ import annotations

import hashlib

from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from bot.console.web import (
    NotFound,
    Refused,
    checked_form,
    console_of,
    page,
    render,
    viewer,
    whole_number,
)
from bot.messaging.case_news import announce_taken
from bot.messaging.pages import WHO, reasons_in
from bot.services.case_queue import case_card, case_of_clinic, open_case_cards
from bot.services.cases import CaseError, acknowledge, raised_since, resolve
from bot.services.console_access import Viewer

MAX_NOTE = 2000
REFRESH_SECONDS = 5
VERSION_MARK = "@@queue-version@@"
NOTICES = {"acknowledged", "resolved", "already"}


def _case_id(request: Request) -> int:
    number = whole_number(request.path_params["case_id"])
    if number is None:
        raise NotFound("case")
    return number


async def queue(request: Request) -> Response:
    """The open cases of the clinic, refreshing by itself."""
    who = await viewer(request)
    fragment, _ = await _queue(request, who)
    done, number = request.query_params.get("done", ""), request.query_params.get("case", "")
    return page(
        request,
        "queue.html",
        who=who,
        queue_html=Markup(fragment),
        notice=done if done in NOTICES else "",
        notice_case=number if whole_number(number) is not None else "",
    )


async def queue_fragment(request: Request) -> Response:
    """The list alone, for the page's own refresh: 204 when nothing changed (htmx leaves the
    page alone, so focus and scroll stay), and not counted as activity for the idle expiry."""
    who = await viewer(request, touch=False)
    fragment, version = await _queue(request, who)
    if request.query_params.get("v") == version:
        return Response(status_code=204)
    return HTMLResponse(fragment, headers={"Cache-Control": "no-store"})


async def _queue(request: Request, who: Viewer) -> tuple[str, str]:
    """The list's HTML and its version (a hash of what it shows)."""
    console = console_of(request)
    clinic = console.clinic(who)
    async with console.read() as session:
        cards = await open_case_cards(session, clinic=clinic)
    raw = render(
        request,
        "_queue.html",
        who=who,
        cards=cards,
        reasons=lambda card: reasons_in(card.case.reason, clinic),
        who_names=WHO,
        refresh=REFRESH_SECONDS,
        version=VERSION_MARK,
    )
    version = hashlib.sha256(raw.encode()).hexdigest()[:16]
    return raw.replace(VERSION_MARK, version), version


async def case_page(request: Request) -> Response:
    who = await viewer(request)
    console = console_of(request)
    clinic = console.clinic(who)
    async with console.read() as session:
        card = await case_card(session, clinic=clinic, case_id=_case_id(request))
    if card is None:
        raise NotFound("case")
    return page(
        request,
        "case.html",
        who=who,
        card=card,
        reasons=lambda c: reasons_in(c.case.reason, clinic),
        who_names=WHO,
        notice=request.query_params.get("done", "")
        if request.query_params.get("done") in NOTICES
        else "",
    )


async def acknowledge_case(request: Request) -> Response:
    form = await checked_form(request)
    who = await viewer(request)
    console = console_of(request)
    case_id = _case_id(request)
    seen = str(form.get("level") or "")
    async with console.ctx.db.transaction() as session:
        case = await case_of_clinic(session, clinic=console.clinic(who), case_id=case_id)
        if case is None:
            raise NotFound("case")
        if stale := raised_since(case, seen, "you opened this page"):
            raise Refused(stale, 409)
        try:
            _, took = await acknowledge(
                session, case_id=case_id, clinician=who.clinician, now=console.ctx.clock.now()
            )
        except CaseError as exc:
            raise Refused(str(exc), 409) from None
    if took:
        await announce_taken(
            console.ctx, console.bot, case_id=case_id, by=who.clinician, what="acknowledged"
        )
    return _back(request, form, case_id, "acknowledged" if took else "already")


async def resolve_case(request: Request) -> Response:
    form = await checked_form(request)
    who = await viewer(request)
    console = console_of(request)
    case_id = _case_id(request)
    note = str(form.get("note") or "").strip()
    if not note:
        raise Refused("A resolution needs a note saying what was done. Nothing was changed.")
    if len(note) > MAX_NOTE:
        raise Refused(f"The note is longer than {MAX_NOTE} characters. Nothing was changed.")
    async with console.ctx.db.transaction() as session:
        if await case_of_clinic(session, clinic=console.clinic(who), case_id=case_id) is None:
            raise NotFound("case")
        try:
            await resolve(
                session,
                case_id=case_id,
                clinician=who.clinician,
                note=note,
                now=console.ctx.clock.now(),
            )
        except CaseError as exc:
            raise Refused(str(exc), 409) from None
    await announce_taken(
        console.ctx, console.bot, case_id=case_id, by=who.clinician, what="resolved"
    )
    return _back(request, form, case_id, "resolved")


def _back(request: Request, form, case_id: int, done: str) -> Response:  # type: ignore[no-untyped-def]
    """Post/redirect/get: back to the queue or the case page, saying what happened."""
    back = str(form.get("back") or "")
    target = "/console/" if back == "queue" else f"/console/cases/{case_id}"
    return RedirectResponse(f"{target}?done={done}&case={case_id}", status_code=303)


ROUTES = [
    Route("/", queue, methods=["GET"]),
    Route("/cases/list", queue_fragment, methods=["GET"]),
    Route("/cases/{case_id}", case_page, methods=["GET"]),
    Route("/cases/{case_id}/acknowledge", acknowledge_case, methods=["POST"]),
    Route("/cases/{case_id}/resolve", resolve_case, methods=["POST"]),
]

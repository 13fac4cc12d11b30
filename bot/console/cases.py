"""The case queue (the landing page), one case, and Acknowledge / Resolve.

Acknowledge and Resolve take the case through `take_case`, as the Telegram buttons and commands
do: every page of the case in Telegram is updated and the others are told who took it.
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
from bot.messaging.pages import WHO, reasons_in
from bot.messaging.taking import TakeRequest, take_case
from bot.services.case_queue import case_card, open_case_cards
from bot.services.case_taking import CaseAction, Taken, TakeOutcome, Taker
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
    taken = await _take(request, who, CaseAction.ACKNOWLEDGE, seen=str(form.get("level") or ""))
    done = "already" if taken.outcome is TakeOutcome.ALREADY else "acknowledged"
    return _back(request, form, _case_id(request), done)


async def resolve_case(request: Request) -> Response:
    form = await checked_form(request)
    who = await viewer(request)
    note = str(form.get("note") or "").strip()
    if not note:
        raise Refused("A resolution needs a note saying what was done. Nothing was changed.")
    if len(note) > MAX_NOTE:
        raise Refused(f"The note is longer than {MAX_NOTE} characters. Nothing was changed.")
    taken = await _take(request, who, CaseAction.RESOLVE, note=note)
    if taken.outcome is TakeOutcome.ALREADY:
        raise Refused(taken.message, 409)
    return _back(request, form, _case_id(request), "resolved")


async def _take(
    request: Request, who: Viewer, action: CaseAction, *, note: str = "", seen: str | None = None
) -> Taken:
    """Take the case as Telegram does (`take_case`); absent or raised since: refused."""
    console = console_of(request)
    case_id = _case_id(request)
    taken = await take_case(
        console.ctx,
        console.bot,
        TakeRequest(
            case_id,
            action,
            Taker.clinician(who.clinician),
            note=note,
            seen_level=seen,
            seen_when="you opened this page",
        ),
    )
    if taken.outcome is TakeOutcome.NOT_FOUND:
        raise NotFound("case")
    if taken.outcome in (TakeOutcome.RAISED, TakeOutcome.REFUSED):
        raise Refused(taken.message, 409)
    return taken


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

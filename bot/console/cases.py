"""The case queue (the landing page), one case, Acknowledge / Resolve, and the case's
message thread (refreshing by itself, like the queue) with its message box.

Acknowledge and Resolve take the case through `take_case`, as the Telegram buttons and commands
do: every page of the case in Telegram is updated and the others are told who took it.
"""

from __future__ import annotations

import hashlib
from typing import Any

from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from bot.console.forms.outreach import (
    case_status,
    forms_context,
    not_reached_reason,
    parse_local,
    remember,
)
from bot.console.lists.case_cards import render_cards
from bot.console.web import (
    NotFound,
    Refused,
    base_context,
    checked_form,
    console_of,
    fill_ages,
    page,
    reasons_of,
    render,
    viewer,
    whole_number,
)
from bot.i18n import C_
from bot.messaging.case_thread import NOT_DELIVERED, WriteOutcome, write_to_patient
from bot.messaging.pages import WHO
from bot.messaging.taking import TakeRequest, take_case
from bot.services.case_queue import case_card, open_case_cards
from bot.services.case_taking import CaseAction, Taken, TakeOutcome, Taker
from bot.services.console_access import Viewer
from bot.services.messages import Thread, case_thread, check_text
from bot.services.patient_views import patient_of_clinic
from bot.services.reaching.contact_details import details_of
from bot.services.reaching.outreach import log_outreach
from bot.services.safety.events import plan_uses
from bot.services.safety.plans import without_plan

MAX_NOTE = 2000
REFRESH_SECONDS = 5
VERSION_MARK = "@@queue-version@@"
NOTICES = {"acknowledged", "resolved", "already", "logged"}
THREAD_REFRESH_SECONDS = 3
THREAD_VERSION_MARK = "@@thread-version@@"
THREAD_NOTICES = {"sent", "undelivered"}


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
        cards = await open_case_cards(session, clinic=clinic, now=console.ctx.clock.now())
    context = base_context(request, who=who) | {
        "reasons": lambda card: reasons_of(card.case.reason, clinic.zone),
        "who_names": WHO,
        "back": "queue",
    }
    raw = render(
        request,
        "_queue.html",
        who=who,
        now=context["now"],
        cards=cards,
        cards_html=Markup(render_cards(console.env, cards, context)),
        refresh=REFRESH_SECONDS,
        version=VERSION_MARK,
    )
    raw = fill_ages(raw, context["now"])
    version = hashlib.sha256(raw.encode()).hexdigest()[:16]
    return raw.replace(VERSION_MARK, version), version


async def case_page(request: Request) -> Response:
    who = await viewer(request)
    console = console_of(request)
    clinic = console.clinic(who)
    async with console.read() as session:
        card = await case_card(
            session, clinic=clinic, case_id=_case_id(request), now=console.ctx.clock.now()
        )
        patient = None
        if card is not None:
            patient = await patient_of_clinic(session, clinic_id=clinic.id, ref=card.patient.ref)
        if card is None or patient is None:
            raise NotFound("case")
        patient_id = card.patient.id
        uses = await plan_uses(session, patient_id=patient_id, case_id=card.case.id)
        unplanned = await without_plan(
            session, clinic_id=clinic.id, now=console.ctx.clock.now(), patient_ids=(patient_id,)
        )
    return page(
        request,
        "case.html",
        status=case_status(request),  # a refused outreach or resolve form: 400
        **forms_context(request),
        who=who,
        card=card,
        reasons=lambda c: reasons_of(c.case.reason, clinic.zone),
        who_names=WHO,
        notice=request.query_params.get("done", "")
        if request.query_params.get("done") in NOTICES
        else "",
        contact=details_of(patient, now=console.ctx.clock.now()),
        plan_uses=uses,
        no_safety_plan=patient_id in unplanned,
        **await _thread_parts(request, who, _case_id(request)),
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
        raise Refused(C_("A resolution needs a note saying what was done. Nothing was changed."))
    if len(note) > MAX_NOTE:
        raise Refused(
            C_("The note is longer than {max} characters. Nothing was changed.").format(
                max=MAX_NOTE
            )
        )
    choice, typed = str(form.get("not_reached_choice") or ""), str(form.get("not_reached") or "")
    reason, problem = not_reached_reason(choice, typed)
    if problem is None and len(reason) > MAX_NOTE:
        problem = C_("The reason is longer than {max} characters.").format(max=MAX_NOTE)
    if problem is None:
        taken = await _take(request, who, CaseAction.RESOLVE, note=note, not_reached=reason)
        if taken.outcome is TakeOutcome.ALREADY:
            raise Refused(taken.message, 409)
        if taken.outcome is not TakeOutcome.UNREACHED:
            return _back(request, form, _case_id(request), "resolved")
        problem = taken.message
    values = {"note": note, "not_reached_choice": choice, "not_reached": typed}
    remember(request, resolve_error=problem, resolve_values=values)
    return await case_page(request)


async def _take(
    request: Request,
    who: Viewer,
    action: CaseAction,
    *,
    note: str = "",
    seen: str | None = None,
    not_reached: str = "",
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
            seen_when=C_("you opened this page"),
            not_reached=not_reached,
        ),
    )
    if taken.outcome is TakeOutcome.NOT_FOUND:
        raise NotFound("case")
    if taken.outcome in (TakeOutcome.RAISED, TakeOutcome.REFUSED):
        raise Refused(taken.message, 409)
    return taken


async def log_attempt(request: Request) -> Response:
    """POST the outreach form (`services/reaching/outreach`): method, outcome, an optional
    earlier time in the clinic's zone, an optional note; refused: the case page again (400),
    each problem beside its field."""
    form = await checked_form(request)
    who = await viewer(request)
    console = console_of(request)
    values = {k: str(form.get(k) or "") for k in ("method", "outcome", "at", "note")}
    try:
        at = parse_local(values["at"], console.clinic(who).zone)
    except ValueError as exc:
        remember(request, outreach_errors={"at": str(exc)}, outreach_values=values)
        return await case_page(request)
    case_id = _case_id(request)
    async with console.ctx.db.transaction() as session:
        logged = await log_outreach(
            session,
            case_id=case_id,
            by=(who.clinician,),
            method=values["method"],
            outcome=values["outcome"],
            at=at,
            note=values["note"],
            clinic_of=console.ctx.clinic,
            now=console.ctx.clock.now(),
        )
    if logged.not_found:
        raise NotFound("case")
    if logged.problems:
        remember(request, outreach_errors=logged.problems, outreach_values=values)
        return await case_page(request)
    logged.observe(console.ctx.metrics)
    return _back(request, form, case_id, "logged")


def _back(request: Request, form, case_id: int, done: str) -> Response:  # type: ignore[no-untyped-def]
    """Post/redirect/get: back to the queue or the case page, saying what happened."""
    back = str(form.get("back") or "")
    target = "/console/" if back == "queue" else f"/console/cases/{case_id}"
    return RedirectResponse(f"{target}?done={done}&case={case_id}", status_code=303)


# The case's message thread (bot.messaging.case_thread; the Telegram *Message patient* button
# goes the same way)


async def _thread_fragment(request: Request, who: Viewer, case_id: int) -> tuple[str, str, Thread]:
    """The thread's HTML and its version (a hash of what it shows); NotFound for a case that
    is not the viewer's clinic's."""
    console = console_of(request)
    async with console.read() as session:
        thread = await case_thread(session, clinic_id=who.clinic_id, case_id=case_id)
    if thread is None:
        raise NotFound("case")
    raw = render(
        request,
        "_thread.html",
        who=who,
        thread=thread,
        refresh=THREAD_REFRESH_SECONDS,
        version=THREAD_VERSION_MARK,
        not_delivered=NOT_DELIVERED,
    )
    version = hashlib.sha256(raw.encode()).hexdigest()[:16]
    return raw.replace(THREAD_VERSION_MARK, version), version, thread


async def _thread_parts(request: Request, who: Viewer, case_id: int) -> dict[str, Any]:
    """What the case page's `_case_thread.html` needs."""
    fragment, _, thread = await _thread_fragment(request, who, case_id)
    sent = request.query_params.get("msg", "")
    return {
        "thread": thread,
        "thread_html": Markup(fragment),
        "thread_notice": sent if sent in THREAD_NOTICES else "",
        "not_delivered": NOT_DELIVERED,
    }


async def thread_fragment(request: Request) -> Response:
    """The thread alone, for the page's own refresh: 204 when nothing changed; not counted as
    activity for the idle expiry."""
    who = await viewer(request, touch=False)
    fragment, version, _ = await _thread_fragment(request, who, _case_id(request))
    if request.query_params.get("v") == version:
        return Response(status_code=204)
    return HTMLResponse(fragment, headers={"Cache-Control": "no-store"})


async def send_message(request: Request) -> Response:
    """The message box: to the patient through the bot, named as the clinician and clinic."""
    form = await checked_form(request)
    who = await viewer(request)
    case_id = _case_id(request)
    text = str(form.get("text") or "")
    problem = check_text(text)
    if problem is not None:
        raise Refused(problem)
    console = console_of(request)
    written = await write_to_patient(
        console.ctx, console.bot, case_id=case_id, by=(who.clinician,), text=text.strip()
    )
    if not written.found:
        raise NotFound("case")
    if written.outcome is WriteOutcome.REFUSED:
        raise Refused(C_("{problem} Nothing was sent.").format(problem=written.message), 409)
    done = "sent" if written.outcome is WriteOutcome.SENT else "undelivered"
    return RedirectResponse(f"/console/cases/{case_id}?msg={done}#thread", status_code=303)


ROUTES = [
    Route("/", queue, methods=["GET"]),
    Route("/cases/list", queue_fragment, methods=["GET"]),
    Route("/cases/{case_id}", case_page, methods=["GET"]),
    Route("/cases/{case_id}/acknowledge", acknowledge_case, methods=["POST"]),
    Route("/cases/{case_id}/resolve", resolve_case, methods=["POST"]),
    Route("/cases/{case_id}/outreach", log_attempt, methods=["POST"]),
    Route("/cases/{case_id}/thread", thread_fragment, methods=["GET"]),
    Route("/cases/{case_id}/messages", send_message, methods=["POST"]),
]

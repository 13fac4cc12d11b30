"""The audit log: the clinic's events, newest first, filtered by patient, actor, event and
dates, each with its details; and Verify, which checks the whole hash chain.

Every clinician of the clinic may read the log; only an admin may run the check (it is
recorded in the log as `audit.verified`).
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bot.console.web import checked_form, console_of, page, require_admin, viewer, whole_number
from bot.i18n import C_
from bot.services.clinic.audit_log import Filters, Verification, log_page, verify_chain
from bot.services.console_access import Viewer

MAX_CURSOR = 12


async def _page(
    request: Request,
    who: Viewer,
    filters: Filters,
    *,
    before: int | None = None,
    verification: Verification | None = None,
) -> Response:
    console = console_of(request)
    clinic = console.clinic(who)
    async with console.read() as session:
        log = await log_page(
            session, clinic_id=who.clinic_id, zone=clinic.zone, filters=filters, before=before
        )
    older: dict[str, Any] | None = None
    if log.older is not None:
        older = {**filters.query(), "before": log.older}
    return page(
        request,
        "audit.html",
        who=who,
        status=400 if log.errors else 200,
        section="audit",
        log=log,
        f=filters,
        errors=log.errors,
        older=older,
        paged=before is not None,
        verification=verification,
    )


async def audit_page(request: Request) -> Response:
    who = await viewer(request)
    before = whole_number(request.query_params.get("before", ""), max_digits=MAX_CURSOR - 1)
    return await _page(request, who, Filters.read(request.query_params), before=before)


async def verify(request: Request) -> Response:
    """Check the whole chain and show the result above the (unfiltered) log."""
    await checked_form(request)
    who = await viewer(request)
    require_admin(
        who,
        C_("Only an admin of this clinic can run the audit log check. Nothing was changed."),
    )
    console = console_of(request)
    result = await verify_chain(
        console.ctx.db, clinic_id=who.clinic_id, actor=who.actor, now=console.ctx.clock.now()
    )
    return await _page(request, who, Filters(), verification=result)


ROUTES = [
    Route("/audit", audit_page, methods=["GET"]),
    Route("/audit/verify", verify, methods=["POST"]),
]

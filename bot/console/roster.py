"""The on-call roster: the week hour by hour as the pager resolves it, who is on call now,
shifts added, changed and ended, and the weekly rotation (edited by admins of a clinic the
console manages).

Who may change shifts: as with /oncall in Telegram, any clinician their own; an admin anyone's.
A change that would leave the next 24 hours without a primary, where there is one now, shows
the gaps and is saved only when confirmed (`confirm=1`).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from bot.clinic_config import ClinicConfig
from bot.console import rotation
from bot.console.rotation import WEEKDAYS, confirmed, gap_warning
from bot.console.web import (
    PREFIX,
    NotFound,
    Refused,
    checked_form,
    console_of,
    page,
    viewer,
    whole_number,
)
from bot.i18n import C_, NC_
from bot.services.clinic import roster as service
from bot.services.clinic import settings as clinic_settings
from bot.services.console_access import Viewer
from storage.models import OnCallShift

LOCAL_INPUT = "%Y-%m-%dT%H:%M"
SHIFT_FIELDS = ("clinician", "role", "starts_at", "ends_at")
NOTICES = {
    "added": NC_("Shift added."),
    "changed": NC_("Shift changed."),
    "ended": NC_("Shift ended."),
    "rotation": NC_("Rotation saved; it applies from now."),
}
DEFAULT_SHIFT = timedelta(hours=8)


def _number(raw: str, what: str) -> int:
    number = whole_number(raw)
    if number is None:
        raise NotFound(what)
    return number


def _may_change(who: Viewer, clinician_id: int) -> bool:
    return who.clinician.is_admin or who.clinician.id == clinician_id


def _refuse_unless_may_change(who: Viewer, clinician_id: int) -> None:
    if not _may_change(who, clinician_id):
        raise Refused(
            C_(
                "You can add, change and end your own shifts; only an admin of this clinic can "
                "change someone else's. Nothing was changed."
            ),
            403,
        )


def _default_values(who: Viewer, clinic: ClinicConfig, now: datetime) -> dict[str, str]:
    local = (now.astimezone(clinic.zone) + timedelta(hours=1)).replace(minute=0, second=0)
    return {
        "clinician": str(who.clinician.id),
        "role": "primary",
        "starts_at": local.strftime(LOCAL_INPUT),
        "ends_at": (local + DEFAULT_SHIFT).strftime(LOCAL_INPUT),
    }


async def roster_page(
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
    now = console.ctx.clock.now()
    async with console.read() as session:
        week = await service.week(session, clinic=clinic, now=now)
        access = await clinic_settings.access(
            session, clinic_id=clinic.id, is_admin=who.clinician.is_admin
        )
    done = request.query_params.get("done", "")
    return page(
        request,
        "roster.html",
        who=who,
        status=status,
        section="roster",
        week=week,
        v=values or _default_values(who, clinic, now),
        errors=errors or {},
        choices=[c for c in week.team if _may_change(who, c.id or 0)],
        may_change=lambda clinician_id: _may_change(who, clinician_id),
        in_console=access.in_console,
        rotation_editable=access.editable,
        weekdays=WEEKDAYS,
        notice=C_(NOTICES[done]) if done in NOTICES else "",
    )


async def roster(request: Request) -> Response:
    return await roster_page(request)


def _clinician_id(raw: str) -> int | None:
    return whole_number(raw)


async def add_shift(request: Request) -> Response:
    form = await checked_form(request)
    who = await viewer(request)
    console = console_of(request)
    clinic = console.clinic(who)
    now = console.ctx.clock.now()
    values = {key: str(form.get(key) or "").strip() for key in SHIFT_FIELDS}
    clinician_id = _clinician_id(values["clinician"])
    if clinician_id is not None:
        _refuse_unless_may_change(who, clinician_id)
    starts = service.parse_local(values["starts_at"], clinic.zone)
    ends = service.parse_local(values["ends_at"], clinic.zone)
    async with console.ctx.db.transaction() as session:
        clinician = (
            await service.clinician_in(session, clinic=clinic, clinician_id=clinician_id)
            if clinician_id is not None
            else None
        )
        errors = service.check_shift(
            clinician=clinician, role=values["role"], starts_at=starts, ends_at=ends, now=now
        )
        gaps: list[service.Gap] = []
        if not errors:
            assert clinician is not None and clinician.id is not None
            assert isinstance(starts, datetime) and isinstance(ends, datetime)
            edit = service.ShiftEdit(clinician.id, values["role"], starts, ends)
            gaps = await service.gaps_opened(session, clinic=clinic, now=now, edit=edit)
            if not gaps or confirmed(form):
                await service.add(
                    session, clinic=clinic, edit=edit, now=now, actor=who.actor, gaps=gaps
                )
                return RedirectResponse(f"{PREFIX}/roster?done=added", status_code=303)
    if errors:
        return await roster_page(request, who=who, values=values, errors=errors, status=400)
    return gap_warning(request, who, form, gaps, action=f"{PREFIX}/roster/shifts", what="add")


async def _shift(
    request: Request, who: Viewer, session: AsyncSession, *, lock: bool = False
) -> OnCallShift:
    shift_id = _number(request.path_params["shift_id"], "shift")
    clinic = console_of(request).clinic(who)
    shift = await service.shift_in(session, clinic=clinic, shift_id=shift_id, lock=lock)
    if shift is None:
        raise NotFound("shift")
    return shift


def _shift_values(shift: OnCallShift, clinic: ClinicConfig) -> dict[str, str]:
    return {
        "role": str(shift.role),
        "starts_at": shift.starts_at.astimezone(clinic.zone).strftime(LOCAL_INPUT),
        "ends_at": shift.ends_at.astimezone(clinic.zone).strftime(LOCAL_INPUT),
    }


async def shift_page(request: Request) -> Response:
    who = await viewer(request)
    console = console_of(request)
    clinic = console.clinic(who)
    async with console.read() as session:
        shift = await _shift(request, who, session)
        week = await service.week(session, clinic=clinic, now=console.ctx.clock.now())
    return page(
        request,
        "roster_shift.html",
        who=who,
        section="roster",
        shift=shift,
        name=week.names.get(shift.clinician_id, "?"),
        v=_shift_values(shift, clinic),
        errors={},
        may_change=_may_change(who, shift.clinician_id),
    )


def _unless_kept(text: str, stored: datetime, clinic: ClinicConfig) -> datetime | str:
    """The time entered; the stored one, to the second, when the form shows it unchanged (the
    form has minutes only, and a shift from /oncall or the CLI has seconds)."""
    if text == stored.astimezone(clinic.zone).strftime(LOCAL_INPUT):
        return stored
    return service.parse_local(text, clinic.zone)


def _over(shift: OnCallShift, now: datetime) -> None:
    if shift.ends_at <= now:
        raise Refused(C_("This shift is already over; nothing was changed."), 409)


async def change_shift(request: Request) -> Response:
    form = await checked_form(request)
    who = await viewer(request)
    console = console_of(request)
    clinic = console.clinic(who)
    now = console.ctx.clock.now()
    values = {key: str(form.get(key) or "").strip() for key in ("role", "starts_at", "ends_at")}
    async with console.ctx.db.transaction() as session:
        shift = await _shift(request, who, session, lock=True)
        _refuse_unless_may_change(who, shift.clinician_id)
        _over(shift, now)
        starts = _unless_kept(values["starts_at"], shift.starts_at, clinic)
        ends = _unless_kept(values["ends_at"], shift.ends_at, clinic)
        clinician = await service.clinician_in(
            session, clinic=clinic, clinician_id=shift.clinician_id
        )
        name = clinician.name if clinician else "?"
        errors = service.check_shift(
            clinician=clinician,
            role=values["role"],
            starts_at=starts,
            ends_at=ends,
            now=now,
            stored_start=shift.starts_at,
        )
        gaps: list[service.Gap] = []
        if not errors:
            assert isinstance(starts, datetime) and isinstance(ends, datetime)
            edit = service.ShiftEdit(shift.clinician_id, values["role"], starts, ends, shift.id)
            gaps = await service.gaps_opened(session, clinic=clinic, now=now, edit=edit)
            if not gaps or confirmed(form):
                await service.change(
                    session,
                    clinic=clinic,
                    shift=shift,
                    edit=edit,
                    now=now,
                    actor=who.actor,
                    gaps=gaps,
                )
                return RedirectResponse(f"{PREFIX}/roster?done=changed", status_code=303)
    if errors:
        return page(
            request,
            "roster_shift.html",
            who=who,
            status=400,
            section="roster",
            shift=shift,
            name=name,
            v=values,
            errors=errors,
            may_change=True,
        )
    action = f"{PREFIX}/roster/shifts/{shift.id}"
    return gap_warning(request, who, form, gaps, action=action, what="change")


async def end_shift(request: Request) -> Response:
    form = await checked_form(request)
    who = await viewer(request)
    console = console_of(request)
    clinic = console.clinic(who)
    now = console.ctx.clock.now()
    async with console.ctx.db.transaction() as session:
        shift = await _shift(request, who, session, lock=True)
        _refuse_unless_may_change(who, shift.clinician_id)
        _over(shift, now)
        edit = service.ended_edit(shift, now)
        gaps = await service.gaps_opened(session, clinic=clinic, now=now, edit=edit)
        if not gaps or confirmed(form):
            await service.end(
                session, clinic=clinic, shift=shift, now=now, actor=who.actor, gaps=gaps
            )
            return RedirectResponse(f"{PREFIX}/roster?done=ended", status_code=303)
    action = f"{PREFIX}/roster/shifts/{shift.id}/end"
    return gap_warning(request, who, form, gaps, action=action, what="end")


ROUTES = [
    Route("/roster", roster, methods=["GET"]),
    Route("/roster/shifts", add_shift, methods=["POST"]),
    Route("/roster/shifts/{shift_id}", shift_page, methods=["GET"]),
    Route("/roster/shifts/{shift_id}", change_shift, methods=["POST"]),
    Route("/roster/shifts/{shift_id}/end", end_shift, methods=["POST"]),
    *rotation.ROUTES,
]

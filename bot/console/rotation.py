"""The clinic's weekly on-call rotation in the console: shown to everyone, edited by admins of
a clinic the console manages (saved as the clinic's next settings version through
`bot/services/clinic/settings.py`, used by this instance at once). Also the gap warning the
roster's changes share: nothing is saved until "Save anyway" sends the form again with
`confirm=1`."""

from __future__ import annotations

from typing import Any

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from bot.clinic_config import RotationSlot
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
from bot.services.clinic import roster as service
from bot.services.clinic import settings as clinic_settings
from bot.services.clinic.rotation import MAX_SLOTS, rotation_slot, save_rotation, with_rotation
from bot.services.console_access import Viewer

SLOT_FIELDS = ("clinician", "role", "start", "end")
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def confirmed(form: FormData) -> bool:
    return str(form.get("confirm") or "") == "1"


def _resent(form: FormData) -> list[tuple[str, str]]:
    """The submitted fields, to send again from the warning page."""
    return [
        (key, str(value))
        for key, value in form.multi_items()
        if key not in ("csrf", "confirm") and isinstance(value, str)
    ]


def gap_warning(
    request: Request,
    who: Viewer,
    form: FormData,
    gaps: list[service.Gap],
    *,
    action: str,
    what: str,
) -> Response:
    """Nothing saved yet: the gaps the change would open, and "Save anyway"."""
    return page(
        request,
        "roster_confirm.html",
        who=who,
        section="roster",
        gaps=gaps,
        action=action,
        what=what,
        fields=_resent(form),
    )


def _slot_values(slot: RotationSlot) -> dict[str, Any]:
    return {
        "clinician": slot.clinician,
        "role": slot.role,
        "days": {str(d) for d in slot.days},
        "start": slot.start.strftime("%H:%M"),
        "end": slot.end.strftime("%H:%M"),
        "remove": False,
    }


def _empty_slot() -> dict[str, Any]:
    return {
        "clinician": "",
        "role": "primary",
        "days": set(),
        "start": "",
        "end": "",
        "remove": False,
    }


FIELD_WORDS = {
    "clinician": NC_("clinician"),
    "role": NC_("role"),
    "days": NC_("days"),
    "start": NC_("from"),
    "end": NC_("to"),
}


def _field_label(key: str) -> str:
    """'slot0.days' as the page names it: 'Slot 1, days'; 'new.role': 'Add a slot, role'."""
    slot, _, part = key.partition(".")
    number = slot.removeprefix("slot")
    said = C_(FIELD_WORDS[part]) if part in FIELD_WORDS else part
    if number.isdigit():
        return C_("Slot {n}, {field}").format(n=int(number) + 1, field=said)
    return C_("Add a slot, {field}").format(field=said)


async def _rotation_page(
    request: Request,
    who: Viewer,
    *,
    slots: list[dict[str, Any]] | None = None,
    new: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    status: int = 200,
    conflict: str = "",
    based_on: int | None = None,
) -> Response:
    console = console_of(request)
    clinic = console.clinic(who)
    async with console.read() as session:
        access = await clinic_settings.access(
            session, clinic_id=clinic.id, is_admin=who.clinician.is_admin
        )
        week = await service.week(session, clinic=clinic, now=console.ctx.clock.now())
    version = console.ctx.settings_versions.get(clinic.id, 0)
    return page(
        request,
        "roster_rotation.html",
        who=who,
        status=status,
        section="roster",
        slots=slots if slots is not None else [_slot_values(s) for s in clinic.oncall.rotation],
        new=new or _empty_slot(),
        errors=errors or {},
        labels={key: _field_label(key) for key in errors or {}},
        names=sorted({c.name for c in week.team}, key=str.casefold),
        editable=access.editable,
        in_console=access.in_console,
        based_on=version if based_on is None else based_on,
        version=version,
        conflict=conflict,
        weekdays=WEEKDAYS,
        saved=request.query_params.get("saved", "") == "1",
    )


async def rotation(request: Request) -> Response:
    return await _rotation_page(request, await viewer(request))


def _read_slot(form: FormData, prefix: str) -> dict[str, Any]:
    found: dict[str, Any] = {key: str(form.get(f"{prefix}.{key}") or "") for key in SLOT_FIELDS}
    found["days"] = {str(d) for d in form.getlist(f"{prefix}.days")}
    found["remove"] = bool(form.get(f"{prefix}.remove"))
    return found


def _parse_rotation(
    form: FormData, names: list[str]
) -> tuple[list[dict[str, Any]], dict[str, Any], list[RotationSlot], dict[str, str]]:
    count = whole_number(str(form.get("count") or "0"), max_digits=3) or 0
    count = count if count <= MAX_SLOTS else 0
    shown = [_read_slot(form, f"slot{n}") for n in range(count)]
    new = _read_slot(form, "new")
    slots: list[RotationSlot] = []
    errors: dict[str, str] = {}
    wanted = [(f"slot{n}", values) for n, values in enumerate(shown) if not values["remove"]]
    if new["clinician"]:
        wanted.append(("new", new))
    for prefix, values in wanted:
        slot = rotation_slot(
            clinician=values["clinician"],
            role=values["role"],
            days=sorted(values["days"]),
            start=values["start"],
            end=values["end"],
            names=names,
        )
        if isinstance(slot, dict):
            errors.update({f"{prefix}.{key}": message for key, message in slot.items()})
        else:
            slots.append(slot)
    if len(slots) > MAX_SLOTS:
        errors["new.clinician"] = C_("A rotation can have at most {n} slots.").format(n=MAX_SLOTS)
    return shown, new, slots, errors


async def save_rotation_route(request: Request) -> Response:
    form = await checked_form(request, max_fields=MAX_SLOTS * 13 + 20)
    who = await viewer(request)
    require_admin(
        who,
        C_("Only an admin of this clinic can change the on-call rotation. Nothing was changed."),
    )
    console = console_of(request)
    clinic = console.clinic(who)
    now = console.ctx.clock.now()
    async with console.read() as session:
        access = await clinic_settings.access(session, clinic_id=clinic.id, is_admin=True)
        if not access.in_console:
            raise Refused(
                C_(
                    "This clinic's settings come from the clinic file, so its rotation can only "
                    "be changed there. Nothing was changed."
                ),
                403,
            )
        week = await service.week(session, clinic=clinic, now=now)
    based_on = whole_number(str(form.get("based_on") or ""))
    if based_on is None:
        raise Refused(C_("This form is incomplete; reload the page. Nothing was changed."))
    shown, new, slots, errors = _parse_rotation(form, [c.name for c in week.team])
    if errors:
        return await _rotation_page(
            request, who, slots=shown, new=new, errors=errors, status=400, based_on=based_on
        )
    if based_on != console.ctx.settings_versions.get(clinic.id, 0):
        return await _rotation_conflict(request, who, shown, new, based_on)
    try:
        async with console.ctx.db.transaction() as session:
            gaps = await service.gaps_opened(
                session, clinic=clinic, now=now, new_clinic=with_rotation(clinic, slots)
            )
            if gaps and not confirmed(form):
                return gap_warning(
                    request, who, form, gaps, action=f"{PREFIX}/roster/rotation", what="rotation"
                )
            saved = await save_rotation(
                session, clinic=clinic, rotation=slots, based_on=based_on, actor=who.actor, now=now
            )
    except clinic_settings.SettingsConflict:
        return await _rotation_conflict(request, who, shown, new, based_on)
    except clinic_settings.SettingsError as exc:
        raise Refused(C_("{problem} Nothing was changed.").format(problem=exc), 403) from None
    console.ctx.use_clinic(saved.clinic, saved.version)
    return RedirectResponse(f"{PREFIX}/roster?done=rotation", status_code=303)


async def _rotation_conflict(
    request: Request, who: Viewer, shown: list[dict[str, Any]], new: dict[str, Any], based_on: int
) -> Response:
    return await _rotation_page(
        request,
        who,
        slots=shown,
        new=new,
        status=409,
        based_on=based_on,
        conflict=C_(
            "Someone saved this clinic's settings since you opened this page, so your "
            "rotation was not saved. Reload the page to see theirs, then make your change again."
        ),
    )


ROUTES = [
    Route("/roster/rotation", rotation, methods=["GET"]),
    Route("/roster/rotation", save_rotation_route, methods=["POST"]),
]

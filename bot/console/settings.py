"""A clinic's settings edited live: the form with a preview, every saved version, compare and
restore. Saving goes through `bot/services/clinic/settings.py` (validated like the clinic file,
re-plans unsent check-ins, audited); this instance uses the new version at once, the others
within `AFTERCARE_SETTINGS_POLL_SECONDS`."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from bot.clinic_config import ClinicConfig
from bot.console import signing
from bot.console.forms.caring import SCHEDULES, preview_dates
from bot.console.forms.settings import (
    CHANNELS,
    CHOICE_LEVELS,
    LEVELS,
    MAX_FIELDS,
    NON_RESPONSE_LEVELS,
    TARGETS,
    form_values,
    protocol_names,
    read_form,
    rung_count,
)
from bot.console.forms.settings_words import (
    ChangeInWords,
    change_in_words,
    label,
    replanned_sentence,
)
from bot.console.web import (
    PREFIX,
    NotFound,
    Refused,
    checked_form,
    console_of,
    page,
    require_admin,
    viewer,
    whole_number,
)
from bot.i18n import C_
from bot.services.clinic import settings as clinic_settings
from bot.services.clinic.masking import shown, shown_changes
from bot.services.clinic.settings_shape import Change, changes_between
from bot.services.console_access import Viewer
from bot.services.paging.outbound import clinic_url_problems

PREVIEW_FORMAT = "%Y-%m-%dT%H:%M"


async def _access(request: Request, who: Viewer) -> clinic_settings.SettingsAccess:
    clinic_id = console_of(request).clinic(who).id
    async with console_of(request).read() as session:
        return await clinic_settings.access(
            session, clinic_id=clinic_id, is_admin=who.clinician.is_admin
        )


async def settings_page(request: Request) -> Response:
    who = await viewer(request)
    console = console_of(request)
    clinic = console.clinic(who)
    saved = whole_number(request.query_params.get("saved", ""))
    replanned = whole_number(request.query_params.get("replanned", ""))
    return await _form_page(
        request,
        who,
        clinic,
        form_values(clinic),
        notice=(
            C_("Saved as version {version}. {replanned}").format(
                version=saved, replanned=replanned_sentence(replanned, saved=True)
            )
            if saved is not None and replanned is not None
            else ""
        ),
    )


async def _form_page(
    request: Request,
    who: Viewer,
    clinic: ClinicConfig,
    values: dict[str, Any],
    *,
    errors: dict[str, str] | None = None,
    status: int = 200,
    based_on: int | None = None,
    **extra: Any,
) -> Response:
    console = console_of(request)
    access = await _access(request, who)
    now = console.ctx.clock.now().astimezone(clinic.zone)
    sample = extra.pop("caring_clinic", clinic)  # the previewed settings, or those in use
    preview = extra.get("preview")
    if preview is not None:
        extra["preview_changes"] = _in_words(preview.changes, who)
        extra["replanned"] = replanned_sentence(preview.patients_replanned, saved=False)
    if access.in_console and not access.editable:
        async with console.read() as session:
            extra["admins"] = await clinic_settings.admin_names(session, clinic_id=clinic.id)
    return page(
        request,
        "settings.html",
        who=who,
        status=status,
        section="settings",
        v=shown(values, stored=form_values(clinic), is_admin=who.clinician.is_admin),
        errors=errors or {},
        labels={key: label(key) for key in errors or {}},
        editable=access.editable,
        in_console=access.in_console,
        version=console.ctx.settings_versions.get(clinic.id, 0),
        protocols=protocol_names(values),
        levels=LEVELS,
        rungs={level: rung_count(values, level) for level in LEVELS},
        targets=TARGETS,
        channels=CHANNELS,
        choice_levels=CHOICE_LEVELS,
        non_response_levels=NON_RESPONSE_LEVELS,
        non_response_labels={key: label(f"non_response.{key}") for key in NON_RESPONSE_LEVELS},
        preview_at=extra.pop("preview_at", now.strftime(PREVIEW_FORMAT)),
        caring_start=now,
        caring_dates=preview_dates(
            sample.caring, zone=sample.zone, quiet=sample.quiet(), start=now
        ),
        schedules=SCHEDULES,
        based_on=based_on,
        **extra,
    )


async def settings_post(request: Request) -> Response:
    """Preview or save the edited settings (admins of a console-managed clinic)."""
    who = await viewer(request)
    form = await checked_form(request, max_fields=MAX_FIELDS)
    require_admin(
        who,
        C_("Only an admin of this clinic can change the clinic's settings. Nothing was changed."),
    )
    console = console_of(request)
    clinic = console.clinic(who)
    if not (await _access(request, who)).in_console:
        raise Refused(
            C_(
                "This clinic's settings come from the clinic file, which wins at every start; "
                "they can only be changed there. Nothing was changed."
            ),
            403,
        )
    based_on = whole_number(str(form.get("based_on", "")))
    if based_on is None:
        raise Refused(C_("This form is incomplete; reload the page. Nothing was changed."))
    shown, parsed = read_form(form, clinic)
    preview_protocol = str(form.get("preview_protocol") or clinic.default_protocol)
    preview_at_text = str(form.get("preview_at", ""))
    if parsed.clinic is not None and not parsed.errors:  # URLs that would reach inside
        parsed.errors.update(
            await clinic_url_problems(
                parsed.clinic, console.ctx.settings.outbound_policy(), before=clinic
            )
        )
    if parsed.errors or parsed.clinic is None:
        return await _form_page(
            request,
            who,
            clinic,
            shown,
            errors=parsed.errors,
            status=400,
            preview_at=preview_at_text,
            preview_protocol=preview_protocol,
            based_on=based_on,  # a second try must still be checked against what was read
        )
    if form.get("action") == "save":
        return await _save(request, who, clinic, parsed.clinic, based_on, shown)
    infusion_at = _preview_time(preview_at_text, clinic, console.ctx.clock.now())
    async with console.read() as session:
        preview = await clinic_settings.preview(
            session,
            before=clinic,
            after=parsed.clinic,
            protocol=preview_protocol,
            infusion_at=infusion_at,
        )
    return await _form_page(
        request,
        who,
        clinic,
        shown,
        preview=preview,
        caring_clinic=parsed.clinic,
        preview_at=infusion_at.astimezone(clinic.zone).strftime(PREVIEW_FORMAT),
        preview_protocol=preview_protocol,
        based_on=based_on,
    )


def _preview_time(text: str, clinic: ClinicConfig, now: datetime) -> datetime:
    try:
        return datetime.strptime(text, PREVIEW_FORMAT).replace(tzinfo=clinic.zone)
    except ValueError:
        return now.replace(second=0, microsecond=0)


async def _save(
    request: Request,
    who: Viewer,
    clinic: ClinicConfig,
    edited: ClinicConfig,
    based_on: int,
    shown: dict[str, Any],
) -> Response:
    console = console_of(request)
    try:
        async with console.ctx.db.transaction() as session:
            saved = await clinic_settings.save(
                session,
                clinic=edited,
                based_on=based_on,
                actor=who.actor,
                now=console.ctx.clock.now(),
            )
    except clinic_settings.SettingsConflict as exc:
        return await _form_page(
            request, who, clinic, shown, status=409, conflict=str(exc), based_on=based_on
        )
    except clinic_settings.SettingsError as exc:
        raise Refused(C_("{problem} Nothing was changed.").format(problem=exc), 403) from None
    console.ctx.use_clinic(saved.clinic, saved.version)
    return RedirectResponse(
        f"{PREFIX}/settings?saved={saved.version}&replanned={saved.replanned}", status_code=303
    )


async def versions(request: Request) -> Response:
    who = await viewer(request)
    console = console_of(request)
    clinic = console.clinic(who)
    async with console.read() as session:
        rows = await clinic_settings.history(session, clinic_id=clinic.id)
        names = await clinic_settings.saved_by_names(session, clinic_id=clinic.id)
    return page(
        request,
        "settings_versions.html",
        who=who,
        section="settings",
        rows=rows,
        names=names,
        current=console.ctx.settings_versions.get(clinic.id, 0),
    )


async def version_page(request: Request) -> Response:
    """One version compared with the one before it (or with `?with=N`)."""
    who = await viewer(request)
    console = console_of(request)
    clinic = console.clinic(who)
    number = _version_number(request.path_params["version"])
    other = whole_number(request.query_params.get("with", ""))
    other = number - 1 if other is None else other
    async with console.read() as session:
        this = await clinic_settings.stored_version(session, clinic_id=clinic.id, version=number)
        if this is None:
            raise NotFound("settings version")
        before = await clinic_settings.stored_version(session, clinic_id=clinic.id, version=other)
    changes = _in_words(changes_between(before, this) if before is not None else [], who)
    current = console.ctx.settings_versions.get(clinic.id, 0)
    access = await _access(request, who)
    return page(
        request,
        "settings_version.html",
        who=who,
        section="settings",
        number=number,
        other=other if before is not None else None,
        changes=changes,
        current=current,
        can_restore=access.editable and number != current,
    )


async def restore(request: Request) -> Response:
    who = await viewer(request)
    form = await checked_form(request)
    require_admin(
        who,
        C_("Only an admin of this clinic can restore the clinic's settings. Nothing was changed."),
    )
    console = console_of(request)
    clinic = console.clinic(who)
    number = _version_number(request.path_params["version"])
    based_on = whole_number(str(form.get("based_on", "")))
    if based_on is None:
        raise Refused(C_("This form is incomplete; reload the page. Nothing was changed."))
    await _refuse_inside_urls(request, clinic, number)
    try:
        async with console.ctx.db.transaction() as session:
            saved = await clinic_settings.restore(
                session,
                clinic_id=clinic.id,
                version=number,
                based_on=based_on,
                actor=who.actor,
                now=console.ctx.clock.now(),
            )
    except clinic_settings.SettingsConflict as exc:
        raise Refused(str(exc), 409) from None
    except clinic_settings.SettingsError as exc:
        raise Refused(C_("{problem} Nothing was changed.").format(problem=exc), 403) from None
    console.ctx.use_clinic(saved.clinic, saved.version)
    return RedirectResponse(
        f"{PREFIX}/settings?saved={saved.version}&replanned={saved.replanned}", status_code=303
    )


def _in_words(changes: list[Change], who: Viewer) -> list[ChangeInWords]:
    """Changed settings as this viewer may see them (keys masked), labelled and in words."""
    return [
        change_in_words(c.path, c.before, c.after)
        for c in shown_changes(changes, is_admin=who.clinician.is_admin)
    ]


async def _refuse_inside_urls(request: Request, clinic: ClinicConfig, number: int) -> None:
    """A version whose webhook or paging-service URL the outbound rules now refuse is not
    restored (`bot/services/paging/outbound.py`), as the form would not save it."""
    console = console_of(request)
    async with console.read() as session:
        old = await clinic_settings.stored_version(session, clinic_id=clinic.id, version=number)
    if old is None:
        return  # the restore says there is no such version
    problems = await clinic_url_problems(old, console.ctx.settings.outbound_policy(), before=clinic)
    if problems:
        said = "; ".join(f"{field} {problem}" for field, problem in problems.items())
        raise Refused(
            C_("Version {version} cannot be restored: {problems}. Nothing was changed.").format(
                version=number, problems=said
            )
        )


def _version_number(raw: str) -> int:
    number = whole_number(raw)
    if number is None:
        raise NotFound("settings version")
    return number


ROUTES = [
    Route("/settings", settings_page, methods=["GET"]),
    Route("/settings", settings_post, methods=["POST"]),
    Route("/settings/versions", versions, methods=["GET"]),
    Route("/settings/versions/{version}", version_page, methods=["GET"]),
    Route("/settings/versions/{version}/restore", restore, methods=["POST"]),
    *signing.ROUTES,  # the webhook's signing secret, under /settings
]

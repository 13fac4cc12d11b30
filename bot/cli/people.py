"""CLI commands for clinics: clinician invites, patient enrollment, infusions."""

from __future__ import annotations

from typing import Annotated
from zoneinfo import ZoneInfo

import typer
from sqlalchemy.ext.asyncio import AsyncSession

from bot.cli.support import CliError, parse_time, with_context
from bot.context import AppContext
from bot.i18n.resolve import chosen_language, offered_languages
from bot.services.clinic.team import TeamError, set_admin, set_contact
from bot.services.enrollment import (
    EnrollmentError,
    create_clinician_invite,
    deep_link,
    enroll_patient,
)
from bot.services.infusions import InfusionError, change_infusion, describe_plan, record_infusion
from bot.services.patients import ResumeError, resume
from bot.services.reaching.contact_details import change_contact, read_contact
from storage.infusions import get_infusion
from storage.models import Clinician, Patient
from storage.oncall import clinician_by_name
from storage.patients import get_patient, patient_by_ref, patients_by_ref, set_language
from storage.states import CLI

clinician_app = typer.Typer(help="Clinicians.", no_args_is_help=True)
patient_app = typer.Typer(help="Patients.", no_args_is_help=True)
infusion_app = typer.Typer(help="Infusions and their check-in plans.", no_args_is_help=True)

ACTOR = CLI


async def _bot_username(ctx: AppContext) -> str | None:
    """The bot's username for deep links: the setting, else ask the Bot API (best effort)."""
    if ctx.settings.bot_username:
        return ctx.settings.bot_username
    if ctx.settings.telegram_token is None:
        return None
    from telegram import Bot
    from telegram.error import TelegramError

    bot = Bot(
        ctx.settings.telegram_token.get_secret_value(),
        base_url=f"{ctx.settings.telegram_api_url}/bot",
    )
    try:
        async with bot:
            return bot.username
    except (TelegramError, OSError):
        return None


def _clinic(ctx: AppContext, clinic_id: str):  # type: ignore[no-untyped-def]
    try:
        return ctx.clinics.clinic(clinic_id)
    except KeyError:
        known = ", ".join(c.id for c in ctx.clinics.clinics)
        raise CliError(
            f"no clinic {clinic_id!r} in {ctx.clinics.source} (known: {known})", 2
        ) from None


async def _active_clinician(session: AsyncSession, clinic_id: str, name: str) -> Clinician:
    found = await clinician_by_name(session, clinic_id=clinic_id, name=name)
    if found is None:
        raise CliError(f"no active clinician {name!r} in clinic {clinic_id}", 2)
    return found


@clinician_app.command("contact")
def clinician_contact(
    clinic: Annotated[str, typer.Option(help="Clinic id.")],
    name: Annotated[str, typer.Option(help="The clinician's registered name.")],
    email: Annotated[
        str | None, typer.Option(help="E-mail address for pages; '' clears it.")
    ] = None,
    pager_key: Annotated[
        str | None, typer.Option(help="Paging-service routing key; '' clears it.")
    ] = None,
) -> None:
    """Set where a clinician is paged besides Telegram (rungs choose the channels)."""

    async def work(ctx: AppContext) -> str:
        config = _clinic(ctx, clinic)
        async with ctx.db.transaction() as session:
            found = await _active_clinician(session, config.id, name)
            try:
                await set_contact(
                    session,
                    clinician=found,
                    email=found.email if email is None else (email.strip() or None),
                    pager_key=found.pager_key if pager_key is None else (pager_key.strip() or None),
                    actor=ACTOR,
                    now=ctx.clock.now(),
                )
            except TeamError as exc:
                raise CliError(str(exc), 2) from None
            channels = ["telegram"] + ["e-mail"] * bool(found.email)
            return ", ".join(channels + ["paging service"] * bool(found.pager_key))

    typer.echo(f"{name} is paged by: {with_context(work)}")


@clinician_app.command("admin")
def clinician_admin(
    clinic: Annotated[str, typer.Option(help="Clinic id.")],
    name: Annotated[str, typer.Option(help="The clinician's registered name.")],
    revoke: Annotated[bool, typer.Option(help="Make them a clinician again.")] = False,
) -> None:
    """Make a registered clinician an admin of the clinic (or, with --revoke, not): the console's
    Settings, Export and Team. Audited; the clinic's last admin cannot be revoked."""

    async def work(ctx: AppContext) -> bool:
        config = _clinic(ctx, clinic)
        async with ctx.db.transaction() as session:
            found = await _active_clinician(session, config.id, name)
            try:
                return await set_admin(
                    session, clinician=found, admin=not revoke, actor=ACTOR, now=ctx.clock.now()
                )
            except TeamError as exc:
                raise CliError(str(exc), 2) from None

    changed = with_context(work)
    role = "a clinician (not an admin)" if revoke else "an admin"
    typer.echo(f"{name} is {'now' if changed else 'already'} {role} of clinic {clinic}.")


@clinician_app.command("invite")
def clinician_invite(
    clinic: Annotated[str, typer.Option(help="Clinic id.")],
    name: Annotated[str, typer.Option(help="The clinician's name, shown to colleagues.")],
    admin: Annotated[bool, typer.Option(help="May manage the clinic from the bot.")] = False,
) -> None:
    """Print a single-use invite that registers a clinician's Telegram account."""

    async def work(ctx: AppContext) -> tuple[str, str | None]:
        config = _clinic(ctx, clinic)
        try:
            async with ctx.db.transaction() as session:
                token = await create_clinician_invite(
                    session,
                    clinic=config,
                    name=name,
                    is_admin=admin,
                    now=ctx.clock.now(),
                    actor=ACTOR,
                )
        except EnrollmentError as exc:
            raise CliError(str(exc), 2) from None
        return token, await _bot_username(ctx)

    token, username = with_context(work)
    typer.echo(deep_link(username, token))
    typer.echo(f"token: {token}")


@patient_app.command("enroll")
def patient_enroll(
    clinic: Annotated[str, typer.Option(help="Clinic id.")],
    ref: Annotated[str, typer.Option(help="The clinic's pseudonymous reference (no names).")],
    timezone: Annotated[str | None, typer.Option(help="IANA zone; default the clinic's.")] = None,
    baseline_mood: Annotated[int | None, typer.Option(min=0, max=10)] = None,
    emergency_contact: Annotated[
        str | None, typer.Option(help="Free text; prefer the --emergency-* options.")
    ] = None,
    phone: Annotated[
        str | None, typer.Option(help="The patient's phone, e.g. '+44 20 7946 0000'.")
    ] = None,
    emergency_name: Annotated[str | None, typer.Option(help="Emergency contact's name.")] = None,
    emergency_relation: Annotated[
        str | None, typer.Option(help="Their relation to the patient, e.g. sister.")
    ] = None,
    emergency_phone: Annotated[str | None, typer.Option(help="Emergency contact's phone.")] = None,
    language: Annotated[
        str | None,
        typer.Option(
            help="The patient's language, e.g. es; default the clinic's. Refused unless a "
            "C-SSRS translation is installed (aftercare instrument list) and Aftercare's texts "
            "exist in it."
        ),
    ] = None,
) -> None:
    """Enroll a patient and print their single-use invite link."""
    typed = {
        "phone": phone or "",
        "emergency_name": emergency_name or "",
        "emergency_relation": emergency_relation or "",
        "emergency_phone": emergency_phone or "",
    }

    async def work(ctx: AppContext) -> tuple[Patient, str, str | None]:
        config = _clinic(ctx, clinic)
        contact, problems = read_contact(typed, country_code=config.phone_country_code)
        if contact is None:
            raise CliError(
                "; ".join(f"--{k.replace('_', '-')}: {m}" for k, m in problems.items()), 2
            )
        try:
            async with ctx.db.transaction() as session:
                patient, token = await enroll_patient(
                    session,
                    clinic=config,
                    ref=ref,
                    timezone=timezone,
                    baseline_mood=baseline_mood,
                    emergency_contact=emergency_contact,
                    now=ctx.clock.now(),
                    actor=ACTOR,
                    language=language,
                )
                await change_contact(
                    session, patient=patient, change=contact, actor=ACTOR, now=ctx.clock.now()
                )
        except EnrollmentError as exc:
            raise CliError(str(exc), 2) from None
        return patient, token, await _bot_username(ctx)

    patient, token, username = with_context(work)
    speaks = f", language {patient.language}" if patient.language else ""
    typer.echo(f"patient {patient.ref} ({patient.timezone}{speaks}) enrolled; invite:")
    typer.echo(deep_link(username, token))
    typer.echo(f"token: {token}")


@patient_app.command("resume")
def patient_resume(
    ref: Annotated[str, typer.Option(help="The patient's reference.")],
    clinic: Annotated[str | None, typer.Option(help="Clinic id (if the ref is ambiguous).")] = None,
) -> None:
    """Restart the check-ins of a patient who stopped them or was unreachable."""

    async def work(ctx: AppContext) -> tuple[Patient, int]:
        found = await _find_patient(ctx, ref, clinic)
        try:
            async with ctx.db.transaction() as session:
                planned = await resume(
                    session,
                    patient=found,
                    clinic=_clinic(ctx, found.clinic_id),
                    now=ctx.clock.now(),
                    actor=ACTOR,
                )
        except ResumeError as exc:
            raise CliError(str(exc), 1) from None
        return found, planned

    patient, planned = with_context(work)
    typer.echo(
        f"patient {patient.ref}: check-ins restarted, {planned} planned; they are not told by "
        "the CLI (use /resume in the bot, or call them)"
    )


async def _find_patient(ctx: AppContext, ref: str, clinic: str | None) -> Patient:
    async with ctx.db.transaction() as session:
        if clinic is not None:
            found = await patient_by_ref(session, clinic_id=clinic, ref=ref)
            matches = [found] if found else []
        else:
            matches = await patients_by_ref(session, ref=ref)
    if not matches:
        raise CliError(f"no patient {ref!r}", 1)
    if len(matches) > 1:
        raise CliError(f"patient {ref!r} exists in several clinics; add --clinic", 2)
    return matches[0]


@infusion_app.command("record")
def infusion_record(
    patient: Annotated[str, typer.Option(help="The patient's reference.")],
    at: Annotated[str | None, typer.Option(help="When it ended (ISO-8601); default now.")] = None,
    protocol: Annotated[
        str | None, typer.Option(help="Protocol name; default the clinic's.")
    ] = None,
    clinic: Annotated[
        str | None, typer.Option(help="Clinic id, if the reference is ambiguous.")
    ] = None,
) -> None:
    """Record an infusion and print its planned check-ins in the patient's local time."""

    async def work(ctx: AppContext) -> list[str]:
        found = await _find_patient(ctx, patient, clinic)
        now = ctx.clock.now()
        ended = parse_time(at, default=now)
        config = ctx.clinic(found.clinic_id)
        try:
            async with ctx.db.transaction() as session:
                row = await get_patient(session, patient_id=found.id or 0)
                assert row is not None
                infusion, planned = await record_infusion(
                    session,
                    patient=row,
                    clinic=config,
                    ended_at=ended,
                    protocol=protocol,
                    now=now,
                    actor=ACTOR,
                )
        except InfusionError as exc:
            raise CliError(str(exc), 2) from None
        zone = ZoneInfo(found.timezone)
        head = (
            f"infusion {infusion.id} for {found.ref} ended "
            f"{ended.astimezone(zone):%a %d %b %Y %H:%M %Z}; planned check-ins:"
        )
        return [head, *(f"  {line}" for line in describe_plan(planned, zone))]

    for line in with_context(work):
        typer.echo(line)


def _change(infusion_id: int, *, cancel: bool, at: str | None) -> list[str]:
    async def work(ctx: AppContext) -> list[str]:
        now = ctx.clock.now()
        try:
            async with ctx.db.transaction() as session:
                infusion = await get_infusion(session, infusion_id=infusion_id)
                if infusion is None:
                    raise CliError(f"no infusion {infusion_id}", 1)
                patient = await get_patient(session, patient_id=infusion.patient_id)
                assert patient is not None
                result = await change_infusion(
                    session,
                    infusion=infusion,
                    patient=patient,
                    clinic=ctx.clinic(patient.clinic_id),
                    now=now,
                    actor=ACTOR,
                    cancel=cancel,
                    ended_at=None if cancel else parse_time(at, default=now),
                )
        except InfusionError as exc:
            raise CliError(str(exc), 2) from None
        return [
            f"infusion {infusion_id} {'cancelled' if cancel else 'moved'}: "
            f"{result.added} check-ins planned, {result.moved} moved, "
            f"{result.cancelled} cancelled, {result.superseded} superseded"
        ]

    return with_context(work)


@infusion_app.command("cancel")
def infusion_cancel(infusion_id: Annotated[int, typer.Argument(help="Infusion id.")]) -> None:
    """Cancel an infusion and its check-ins not yet sent."""
    for line in _change(infusion_id, cancel=True, at=None):
        typer.echo(line)


@infusion_app.command("move")
def infusion_move(
    infusion_id: Annotated[int, typer.Argument(help="Infusion id.")],
    at: Annotated[str, typer.Option(help="When it really ended (ISO-8601).")],
) -> None:
    """Move an infusion's end time and re-plan its check-ins not yet sent."""
    for line in _change(infusion_id, cancel=False, at=at):
        typer.echo(line)


@patient_app.command("language")
def patient_language(
    ref: Annotated[str, typer.Option(help="The patient's reference.")],
    language: Annotated[str, typer.Option(help='A language tag (e.g. "es"), or "default".')],
    clinic: Annotated[str | None, typer.Option(help="Clinic id (if the ref is ambiguous).")] = None,
) -> None:
    """Set the language a patient is written to in ("default": the clinic's)."""
    try:
        chosen = chosen_language(language, offered=offered_languages())
    except ValueError as exc:
        raise CliError(str(exc), 2) from None

    async def work(ctx: AppContext) -> Patient:
        found = await _find_patient(ctx, ref, clinic)
        async with ctx.db.transaction() as session:
            row = await get_patient(session, patient_id=found.id or 0)
            assert row is not None
            await set_language(
                session, patient=row, language=chosen, actor=ACTOR, now=ctx.clock.now()
            )
        return row

    patient = with_context(work)
    typer.echo(f"patient {patient.ref}: language {patient.language or 'default (the clinic’s)'}")

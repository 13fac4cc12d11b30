"""Clinician commands /oncall and /offcall: take or leave the primary on-call role."""

from __future__ import annotations

from datetime import datetime

from telegram import Update

from bot.clinic_config import ClinicConfig
from bot.context import AftercareContext
from bot.i18n import C_, NC_
from bot.services.oncall import OnCallError, go_off_call, take_primary_now, who_is_on_call
from handlers.auth import NOT_AUTHORISED

# The roster still names the clinician: one whole sentence for each set of roles.
STILL_ON = {
    ("primary",): NC_(
        "The roster still has you as primary on-call for {clinic} "
        "(rotation or a scheduled shift): ask an administrator to change it."
    ),
    ("backup",): NC_(
        "The roster still has you as backup on-call for {clinic} "
        "(rotation or a scheduled shift): ask an administrator to change it."
    ),
    ("primary", "backup"): NC_(
        "The roster still has you as primary and backup on-call for {clinic} "
        "(rotation or a scheduled shift): ask an administrator to change it."
    ),
}


def on_call_text(clinic: str, until: str) -> str:
    return C_("You're the primary on-call for {clinic} until {until} (or /offcall).").format(
        clinic=clinic, until=until
    )


def off_call_lines(clinic: str, ended: bool, roles: tuple[str, ...], *, nobody: bool) -> list[str]:
    """/offcall for one clinic: whether a shift ended, and who the roster still says is on."""
    lines = [
        (
            C_("You're off call for {clinic}.")
            if ended
            else C_("You had no /oncall shift to end for {clinic}.")
        ).format(clinic=clinic)
    ]
    if roles:
        lines.append(C_(STILL_ON[roles]).format(clinic=clinic))
    elif nobody:
        lines.append(C_("Nobody is primary on-call for {clinic} now.").format(clinic=clinic))
    return lines


def _local(moment: datetime, clinic: ClinicConfig) -> str:
    return f"{moment.astimezone(clinic.zone):%a %d %b %H:%M %Z}"


async def oncall(update: Update, context: AftercareContext) -> None:
    """/oncall: become primary on-call for your clinic for its bot shift length."""
    message = update.effective_message
    assert message is not None
    if not context.identity.clinicians:
        await message.reply_text(C_(NOT_AUTHORISED))
        return
    clinician = context.identity.clinicians[0]
    ctx = context.app
    clinic = ctx.clinic(clinician.clinic_id)
    try:
        async with context.effects() as session:
            shift = await take_primary_now(
                session, clinic=clinic, clinician=clinician, now=ctx.clock.now()
            )
    except OnCallError as exc:
        await message.reply_text(C_("Not on call: {problem}").format(problem=str(exc)[:500]))
        return
    await message.reply_text(on_call_text(clinic.name, _local(shift.ends_at, clinic)))


async def offcall(update: Update, context: AftercareContext) -> None:
    """/offcall: end your /oncall shifts; say plainly if the roster still has you on call."""
    message = update.effective_message
    assert message is not None
    if not context.identity.clinicians:
        await message.reply_text(C_(NOT_AUTHORISED))
        return
    ctx = context.app
    now = ctx.clock.now()
    lines = []
    for clinician in context.identity.clinicians:
        clinic = ctx.clinic(clinician.clinic_id)
        async with context.effects() as session:
            ended = await go_off_call(session, clinic=clinic, clinician=clinician, now=now)
            current = await who_is_on_call(session, clinic=clinic, at=now)
        roles = tuple(
            r
            for r, who in (("primary", current.primary), ("backup", current.backup))
            if who == clinician.id
        )
        lines.extend(off_call_lines(clinic.name, ended, roles, nobody=current.primary is None))
    await message.reply_text("\n".join(lines))

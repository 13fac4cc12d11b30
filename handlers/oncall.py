"""Clinician commands /oncall and /offcall: take or leave the primary on-call role."""

from __future__ import annotations

from datetime import datetime

from telegram import Update

from bot.clinic_config import ClinicConfig
from bot.context import AftercareContext
from bot.services.oncall import OnCallError, go_off_call, take_primary_now, who_is_on_call
from handlers.auth import NOT_AUTHORISED


def _local(moment: datetime, clinic: ClinicConfig) -> str:
    return f"{moment.astimezone(clinic.zone):%a %d %b %H:%M %Z}"


async def oncall(update: Update, context: AftercareContext) -> None:
    """/oncall: become primary on-call for your clinic for its bot shift length."""
    message = update.effective_message
    assert message is not None
    if not context.identity.clinicians:
        await message.reply_text(NOT_AUTHORISED)
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
        await message.reply_text(f"Not on call: {str(exc)[:500]}")
        return
    await message.reply_text(
        f"You're the primary on-call for {clinic.name} until "
        f"{_local(shift.ends_at, clinic)} (or /offcall)."
    )


async def offcall(update: Update, context: AftercareContext) -> None:
    """/offcall: end your /oncall shifts; say plainly if the roster still has you on call."""
    message = update.effective_message
    assert message is not None
    if not context.identity.clinicians:
        await message.reply_text(NOT_AUTHORISED)
        return
    ctx = context.app
    now = ctx.clock.now()
    lines = []
    for clinician in context.identity.clinicians:
        clinic = ctx.clinic(clinician.clinic_id)
        async with context.effects() as session:
            ended = await go_off_call(session, clinic=clinic, clinician=clinician, now=now)
            current = await who_is_on_call(session, clinic=clinic, at=now)
        lines.append(
            f"You're off call for {clinic.name}."
            if ended
            else f"You had no /oncall shift to end for {clinic.name}."
        )
        roles = [
            r
            for r, who in (("primary", current.primary), ("backup", current.backup))
            if who == clinician.id
        ]
        if roles:
            lines.append(
                f"The roster still has you as {' and '.join(roles)} on-call for {clinic.name} "
                "(rotation or a scheduled shift): ask an administrator to change it."
            )
        elif current.primary is None:
            lines.append(f"Nobody is primary on-call for {clinic.name} now.")
    await message.reply_text("\n".join(lines))

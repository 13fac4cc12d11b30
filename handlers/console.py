"""/console: a sign-in link for the clinic console; `/console logout` ends every session;
an admin's `/console end NAME` ends a clinician's sessions working in the admin's clinic."""

from __future__ import annotations

import logging

from telegram import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    LinkPreviewOptions,
    Message,
    Update,
)
from telegram.error import BadRequest

from bot.context import AftercareContext
from bot.i18n import C_, NC_, Cn_
from bot.services.console_access import end_all_sessions, end_clinic_sessions, issue_link
from handlers.auth import clinicians_only
from storage.console import clinician_named
from storage.models import Clinician
from storage.states import SessionEnd, clinician_actor

log = logging.getLogger(__name__)

NOT_SET_UP = NC_(
    "The clinic console is not set up for this Aftercare (AFTERCARE_CONSOLE_URL is not set). "
    "Ask whoever runs it; everything still works here in Telegram."
)
USAGE = NC_("Usage: /console (a sign-in link), /console logout, or /console end NAME (admins).")


@clinicians_only
async def console(
    update: Update, context: AftercareContext, message: Message, me: Clinician
) -> None:
    args = context.args or []
    if not args:
        await _link(context, message, me)
    elif args[0].lower() in ("logout", "signout") and len(args) == 1:
        await _end(context, message, me, me, by=SessionEnd.TELEGRAM)
    elif args[0].lower() == "end" and len(args) > 1:
        if not me.is_admin:
            await message.reply_text(C_("Only an admin of your clinic can end someone's sessions."))
            return
        name = " ".join(args[1:])[:120]
        async with context.app.db.transaction() as session:
            found = await clinician_named(session, clinic_id=me.clinic_id, name=name)
        if len(found) != 1:
            await message.reply_text(
                C_("No clinician named {name} in your clinic.").format(name=name)
                if not found
                else Cn_(
                    "{count} clinician is named {name}; nothing was ended.",
                    "{count} clinicians are named {name}; nothing was ended.",
                    len(found),
                ).format(count=len(found), name=name)
            )
            return
        await _end(context, message, me, found[0], by=SessionEnd.ADMIN)
    else:
        await message.reply_text(C_(USAGE))


async def _link(context: AftercareContext, message: Message, me: Clinician) -> None:
    ctx = context.app
    base = ctx.settings.console_url
    if base is None:
        await message.reply_text(C_(NOT_SET_UP))
        return
    async with context.effects() as session:
        token = await issue_link(session, clinician=me, now=ctx.clock.now())
    link = f"{base}/signin/{token}"
    text = signin_text(link)
    no_preview = LinkPreviewOptions(is_disabled=True)  # a preview fetch must not meet it first
    button = InlineKeyboardMarkup([[InlineKeyboardButton(C_("Open the console"), url=link)]])
    try:
        await message.reply_text(text, reply_markup=button, link_preview_options=no_preview)
    except BadRequest as exc:  # Telegram refuses URL buttons to some addresses (a LAN host)
        log.warning("console.link_button_refused error=%s", exc.message)
        await message.reply_text(text, link_preview_options=no_preview)


async def _end(
    context: AftercareContext, message: Message, me: Clinician, whose: Clinician, *, by: SessionEnd
) -> None:
    # `/console logout` ends all of the person's own sessions; an admin ends only those
    # working in their clinic (the same person may belong to another clinic too).
    ending = end_all_sessions if by == SessionEnd.TELEGRAM else end_clinic_sessions
    async with context.effects() as session:
        ended = await ending(
            session,
            clinician=whose,
            actor=clinician_actor(me.id),
            now=context.app.clock.now(),
            by=by,
        )
    await message.reply_text(ended_text(ended, None if whose.id == me.id else whose.name))


def signin_text(link: str) -> str:
    return C_(
        "Your sign-in link for the clinic console. It works once, within 10 minutes, and only "
        "for you: do not forward it.\n{link}"
    ).format(link=link)


def ended_text(ended: int, name: str | None) -> str:
    """`/console logout` (`name` None: one's own) or an admin's `/console end NAME`."""
    if name is None:
        said = Cn_(
            "Ended {count} console session(s) of your; they must sign in again.",
            "Ended {count} console session(s) of your; they must sign in again.",
            ended,
        )
    else:
        said = Cn_(
            "Ended {count} console session(s) of {name}'s; they must sign in again.",
            "Ended {count} console session(s) of {name}'s; they must sign in again.",
            ended,
        )
    return said.format(count=ended, name=name)

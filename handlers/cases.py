"""Clinicians reading cases and patients in Telegram: /open, /patients, /history, /contact."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re

from telegram import InputFile, Message, Update
from telegram.error import TelegramError

from bot.charts import render_png, summary_text
from bot.context import AftercareContext
from bot.i18n import C_, NC_
from bot.messaging.listings import contact_text, history_text, open_cases_text, patients_text
from bot.services.case_queue import open_case_cards
from bot.services.mood_chart import mood_chart_for
from bot.services.overview import patient_rows
from bot.services.patient_views import patient_of_clinic
from bot.services.reaching.contact_details import look_up_contact
from bot.services.timeline import patient_timeline, recent
from handlers.auth import clinicians_only
from storage.models import Clinician
from storage.states import clinician_actor

log = logging.getLogger(__name__)


@clinicians_only
async def open_cases(
    update: Update, context: AftercareContext, message: Message, me: Clinician
) -> None:
    """/open: the clinic's unresolved cases, oldest first, each with who and why."""
    ctx = context.app
    clinic = ctx.clinic(me.clinic_id)
    async with ctx.db.transaction() as session:
        cards = await open_case_cards(session, clinic=clinic)
    await message.reply_text(open_cases_text(cards, clinic=clinic, now=ctx.clock.now()))


@clinicians_only
async def patients(
    update: Update, context: AftercareContext, message: Message, me: Clinician
) -> None:
    """/patients: each patient with last check-in, last mood and current risk."""
    ctx = context.app
    async with ctx.db.transaction() as session:
        rows = await patient_rows(session, clinic_id=me.clinic_id, now=ctx.clock.now())
    await message.reply_text(patients_text(rows, clinic=ctx.clinic(me.clinic_id)))


@clinicians_only
async def patient_history(
    update: Update, context: AftercareContext, message: Message, me: Clinician
) -> None:
    """/history REF: recent check-ins and answers, with the mood trend."""
    args = context.args or []
    if len(args) != 1:
        await message.reply_text(C_("Usage: /history REF"))
        return
    ctx = context.app
    clinic = ctx.clinic(me.clinic_id)
    now = ctx.clock.now()
    async with ctx.db.transaction() as session:
        patient = await patient_of_clinic(session, clinic_id=me.clinic_id, ref=args[0])
        if patient is None:
            found, chart = None, None
        else:
            found = await patient_timeline(
                session, clinic_id=me.clinic_id, patient_ref=args[0], now=now, days=30
            )
            chart = await mood_chart_for(session, patient=patient, clinic=clinic, now=now, days=30)
    if found is None or chart is None or patient is None:
        await message.reply_text(C_("No patient {ref} in your clinic.").format(ref=args[0][:64]))
        return
    await message.reply_text(history_text(recent(found), clinic=clinic))
    # The chart follows the text and never holds it back: a failure costs only the picture.
    try:
        png = await asyncio.to_thread(render_png, chart)
    except Exception:
        log.exception("history.chart_render_failed chat=%s", message.chat_id)
        return
    try:
        await message.reply_photo(
            InputFile(png, filename=chart_filename(patient.ref)),
            caption=summary_text(chart)[:1024],
        )
    except TelegramError as exc:
        log.warning("history.chart_not_sent chat=%s error=%s", message.chat_id, exc.message)
        with contextlib.suppress(TelegramError):  # say so; the text above stands either way
            await message.reply_text(C_(CHART_NOT_SENT).format(ref=patient.ref))


@clinicians_only
async def patient_contact(
    update: Update, context: AftercareContext, message: Message, me: Clinician
) -> None:
    """/contact REF: the patient's phone and emergency contact, in this chat only (audited);
    another clinic's patient is answered exactly as an unknown reference."""
    args = context.args or []
    if len(args) != 1:
        await message.reply_text(C_("Usage: /contact REF"))
        return
    ctx = context.app
    async with context.effects() as session:
        details = await look_up_contact(
            session,
            clinic_id=me.clinic_id,
            ref=args[0][:64],
            actor=clinician_actor(me.id),
            now=ctx.clock.now(),
            via="telegram",
        )
    if details is None:
        await message.reply_text(C_("No patient {ref} in your clinic.").format(ref=args[0][:64]))
        return
    await message.reply_text(contact_text(details))


CHART_NOT_SENT = NC_(
    "The mood chart did not go through (Telegram did not confirm it). "
    "If it is not above, send /history {ref} again."
)


def chart_filename(ref: str) -> str:
    """`mood-P-0042.png`: a name and type a clinician's phone shows and saves as a picture."""
    return f"mood-{re.sub(r'[^A-Za-z0-9_-]', '_', ref)[:64]}.png"

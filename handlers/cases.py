"""Clinicians reading cases and patients in Telegram: /open, /patients, /history."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from telegram import Message, Update
from telegram.error import TelegramError

from bot.charts import render_png, summary_text
from bot.context import AftercareContext
from bot.messaging.listings import case_summary, fit
from bot.messaging.pages import when
from bot.services.mood_chart import mood_chart_for
from handlers.auth import clinicians_only
from storage.cases import pages_of_cases, unresolved_for_clinic
from storage.models import Clinician
from storage.patients import patient_by_ref, patients_by_ids
from storage.views.reports import clinicians_by_ids, history, messages_of, patients_of_clinic

log = logging.getLogger(__name__)


@clinicians_only
async def open_cases(
    update: Update, context: AftercareContext, message: Message, me: Clinician
) -> None:
    """/open: the clinic's unresolved cases, oldest first, each with who and why."""
    ctx = context.app
    clinic = ctx.clinic(me.clinic_id)
    async with ctx.db.transaction() as session:
        cases = await unresolved_for_clinic(session, clinic_id=me.clinic_id)
        patients = await patients_by_ids(session, ids=[c.patient_id for c in cases])
        paged = await pages_of_cases(session, case_ids=[c.id for c in cases if c.id is not None])
        people = await clinicians_by_ids(session, ids=sorted({p.clinician_id for p in paged}))
    if not cases:
        await message.reply_text("No open cases.")
        return
    names = {c.id: c.name for c in people}
    blocks = [
        case_summary(
            case,
            patients[case.patient_id],
            [p for p in paged if p.case_id == case.id],
            names,
            clinic,
            ctx.clock.now(),
        )
        for case in cases
    ]
    await message.reply_text(fit(blocks, header=f"Open cases of {clinic.name}, oldest first:"))


@clinicians_only
async def patients(
    update: Update, context: AftercareContext, message: Message, me: Clinician
) -> None:
    """/patients: each patient with last check-in, last mood and current risk."""
    ctx = context.app
    async with ctx.db.transaction() as session:
        lines = await patients_of_clinic(session, clinic_id=me.clinic_id)
    if not lines:
        await message.reply_text("No patients yet.")
        return
    clinic = ctx.clinic(me.clinic_id)
    out = []
    for line in lines:
        last = (
            f"{when(line.last_checkin.sent_at, clinic, line.patient)} {line.last_checkin.status}"
            if line.last_checkin and line.last_checkin.sent_at
            else "no check-in yet"
        )
        mood = f"mood {line.last_mood}/10" if line.last_mood is not None else "no mood yet"
        risk = f"open {line.open_level}" if line.open_level else "no open case"
        out.append(f"{line.patient.ref} ({line.patient.status}): {last}; {mood}; {risk}")
    await message.reply_text("\n".join(out)[:4000])


@clinicians_only
async def patient_history(
    update: Update, context: AftercareContext, message: Message, me: Clinician
) -> None:
    """/history REF: recent check-ins and answers, with the mood trend."""
    args = context.args or []
    if len(args) != 1:
        await message.reply_text("Usage: /history REF")
        return
    ctx = context.app
    clinic = ctx.clinic(me.clinic_id)
    async with ctx.db.transaction() as session:
        patient = await patient_by_ref(session, clinic_id=me.clinic_id, ref=args[0])
        if patient is None or patient.id is None:
            await message.reply_text(f"No patient {args[0][:64]} in your clinic.")
            return
        now = ctx.clock.now()
        since = now - timedelta(days=30)
        rows = await history(session, patient_id=patient.id, since=since)
        typed = await messages_of(session, patient_id=patient.id, since=since)
        chart = await mood_chart_for(session, patient=patient, clinic=clinic, now=now, days=30)
    moods = [a["mood"] for _, a in reversed(rows) if "mood" in a]
    baseline = patient.baseline_mood if patient.baseline_mood is not None else "unset"
    out = [
        f"{patient.ref}: baseline {baseline}; mood trend (oldest→newest): "
        f"{' → '.join(moods) or 'none'}"
    ]
    for checkin, answers in rows:
        shown = ", ".join(f"{k}={v}" for k, v in answers.items())
        out.append(
            f"{when(checkin.due_at, clinic, patient)} {checkin.kind} "
            f"{checkin.status} risk {checkin.risk_level}: {shown or 'no answers'}"
        )
    if typed:
        out.append("Messages (newest first):")
        out.extend(
            f"{when(m.answered_at, clinic, patient)} «{m.value[:300]}»"
            if m.item_id == "message"
            else f"{when(m.answered_at, clinic, patient)} late {m.item_id}={m.value}"
            for m in typed
        )
    await message.reply_text("\n".join(out)[:4000])
    # The chart follows the text and never holds it back: a failure costs only the picture.
    try:
        png = await asyncio.to_thread(render_png, chart)
    except Exception:
        log.exception("history.chart_render_failed chat=%s", message.chat_id)
        return
    try:
        await message.reply_photo(png, caption=summary_text(chart)[:1024])
    except TelegramError as exc:
        log.warning("history.chart_not_sent chat=%s error=%s", message.chat_id, exc.message)

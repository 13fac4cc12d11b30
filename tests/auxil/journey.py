"""Steps of a patient journey against the sandbox, shared by the end-to-end tests."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, time, timedelta
from typing import Any

from bot.services.enrollment import (
    accept_consent,
    check_invite,
    create_clinician_invite,
    enroll_patient,
)
from bot.services.infusions import record_infusion
from sandbox import BotApiSandbox
from storage.patients import get_patient
from tests.auxil.harness import RunningBot, rehearsal_clinic

TOKEN_IN_LINK = re.compile(r"start=([A-Za-z0-9_-]+)")
FAST = rehearsal_clinic()  # a clinic whose check-ins, windows and ladders take seconds


def noon_zone(now: datetime) -> str:
    """A fixed-offset zone where it is about midday now, so seconds-apart times stay on one day."""
    shift = 12 - now.hour
    return "Etc/GMT" if shift == 0 else f"Etc/GMT{'-' if shift > 0 else '+'}{abs(shift)}"


def local_time_in(seconds: float, now: datetime, zone: str) -> time:
    from zoneinfo import ZoneInfo

    return (
        (now + timedelta(seconds=seconds)).astimezone(ZoneInfo(zone)).time().replace(microsecond=0)
    )


async def join_clinician(bot: RunningBot, user_id: int, name: str = "Dr Ada") -> None:
    ctx = bot.ctx
    async with ctx.db.transaction() as session:
        token = await create_clinician_invite(
            session,
            clinic=ctx.clinics.clinics[0],
            name=name,
            is_admin=False,
            now=ctx.clock.now(),
            actor="cli",
        )
    bot.sandbox.add_user(user_id, name)
    bot.sandbox.send_text(user_id, f"/start {token}")
    await bot.sandbox.wait_for_message(user_id, "registered as a clinician")


async def enroll_and_consent(
    bot: RunningBot, clinician_id: int, patient_id: int, ref: str, zone: str
) -> None:
    sandbox = bot.sandbox
    after = _last_id(sandbox, clinician_id)
    sandbox.send_text(clinician_id, f"/enroll {ref} {zone}")
    reply = await sandbox.wait_for_message(clinician_id, "invited", after=after)
    match = TOKEN_IN_LINK.search(reply["text"])
    assert match, reply["text"]
    sandbox.add_user(patient_id, "Pat")
    sandbox.send_text(patient_id, f"/start {match.group(1)}")
    screen = await sandbox.wait_for_message(patient_id, "Do you agree?")
    sandbox.tap(patient_id, screen["message_id"], button_text="I agree")
    await sandbox.wait_for_message(patient_id, "you're enrolled")


def _last_id(sandbox: BotApiSandbox, chat_id: int) -> int:
    last = sandbox.last_message(chat_id)
    return int(last["message_id"]) if last else 0


def open_question(sandbox: BotApiSandbox, chat_id: int, contains: str) -> dict[str, Any] | None:
    """The latest question containing `contains` that still has its buttons, if any."""
    return next(
        (
            m
            for m in reversed(sandbox.chat(chat_id))
            if contains in (m.get("text") or "")
            and (m.get("reply_markup") or {}).get("inline_keyboard")
        ),
        None,
    )


async def answer(
    sandbox: BotApiSandbox, chat_id: int, contains: str, button: str, *, wait: float = 5.0
) -> dict[str, Any]:
    """Wait for an unanswered question (buttons still on) containing `contains`; tap `button`."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait
    while True:
        question = open_question(sandbox, chat_id, contains)
        if question is not None:
            sandbox.tap(chat_id, question["message_id"], button_text=button)
            return question
        if loop.time() > deadline:
            raise TimeoutError(
                f"no open question {contains!r}; chat: "
                f"{[m.get('text', '')[:40] for m in sandbox.chat(chat_id)]}"
            )
        await asyncio.sleep(0.05)


async def log_contact(
    sandbox: BotApiSandbox,
    chat_id: int,
    page_id: int,
    *,
    method: str = "Phone",
    outcome: str = "Reached",
    wait: float = 5.0,
) -> dict[str, Any]:
    """A clinician logs an attempt to reach the patient from a page in Telegram, as a real one
    does: *Log contact* on the (acknowledged) page, then the method, then the outcome, each a
    button. Returns the confirmation ("✓ Recorded on case #…")."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait
    while True:  # the page gets its Log contact button once acknowledged (an edit)
        page = next((m for m in sandbox.chat(chat_id) if m["message_id"] == page_id), None)
        rows = ((page or {}).get("reply_markup") or {}).get("inline_keyboard") or []
        if any(b.get("text") == "Log contact" for row in rows for b in row):
            break
        if loop.time() > deadline:
            raise TimeoutError(f"page {page_id} in chat {chat_id} has no Log contact button")
        await asyncio.sleep(0.05)
    before = _last_id(sandbox, chat_id)
    sandbox.tap(chat_id, page_id, button_text="Log contact")
    asked = await sandbox.wait_for_message(
        chat_id, "how did you try to reach the patient?", after=before, timeout=wait
    )
    sandbox.tap(chat_id, asked["message_id"], button_text=method)
    since = asked["message_id"] - 1
    asked = await sandbox.wait_for_message(chat_id, "what came of it?", after=since, timeout=wait)
    sandbox.tap(chat_id, asked["message_id"], button_text=outcome)
    return await sandbox.wait_for_message(chat_id, "✓ Recorded on case", after=since, timeout=wait)


async def enrolled_patient(
    bot: RunningBot, user_id: int, ref: str, *, infusion: bool = True
) -> int:
    """Enroll, consent and (optionally) record an infusion whose check-in is due in a second."""
    ctx, clinic = bot.ctx, bot.ctx.clinics.clinics[0]
    now = ctx.clock.now()
    bot.sandbox.add_user(user_id, ref)
    async with ctx.db.transaction() as session:
        patient, token = await enroll_patient(
            session,
            clinic=clinic,
            ref=ref,
            timezone=noon_zone(datetime.now(UTC)),
            baseline_mood=None,
            emergency_contact=None,
            now=now,
            actor="cli",
        )
        checked = await check_invite(session, token=token, chat_id=user_id, now=now)
        assert checked.invite is not None and checked.problem is None
        await accept_consent(
            session, invite=checked.invite, user_id=user_id, chat_id=user_id, now=now
        )
    assert patient.id is not None
    if infusion:
        await infusions_ended_at(bot, [patient.id], ended_at=now)
    return patient.id


async def infusions_ended_at(
    bot: RunningBot, patient_ids: list[int], *, ended_at: datetime
) -> None:
    """Infusions that ended at `ended_at`, in one transaction: their check-ins fall due together."""
    ctx, clinic = bot.ctx, bot.ctx.clinics.clinics[0]
    async with ctx.db.transaction() as session:
        for patient_id in patient_ids:
            patient = await get_patient(session, patient_id=patient_id)
            assert patient is not None
            await record_infusion(
                session,
                patient=patient,
                clinic=clinic,
                ended_at=ended_at,
                protocol=None,
                now=ctx.clock.now(),
                actor="cli",
            )


async def report_intent(sandbox: BotApiSandbox, chat_id: int) -> None:
    """A check-in answered up to C-SSRS item 4 = Yes (intent): a HIGH case."""
    await answer(sandbox, chat_id, "mood", "3", wait=8)
    await answer(sandbox, chat_id, "wished you were dead", "Yes")
    await answer(sandbox, chat_id, "thoughts of killing yourself", "Yes")
    await answer(sandbox, chat_id, "how you might do this", "No")
    await answer(sandbox, chat_id, "intention of acting on them", "Yes")

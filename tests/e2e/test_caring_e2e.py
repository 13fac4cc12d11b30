"""Caring contacts end to end over the sandbox (CLINICAL.md §12, issue 27).

A resolved high case starts the clinic's default track. Moving the injected clock, each
message arrives at its planned day inside the send window and never in quiet hours; none while
a new case is open (it goes once the case is resolved); none after /stop. A reply with crisis
words pages on-call; an ordinary reply reaches the care team's queue as low.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlmodel import col

from bot.clock import OffsetClock
from bot.domain.levels import Level
from bot.domain.triage import Finding
from bot.services.case_taking import CaseAction, Taker, take
from bot.services.cases import raise_case
from sandbox import BotApiSandbox
from storage.models import Case, Clinician, Patient
from storage.models.care import CaringMessage, CaringTrack
from storage.states import CaringStatus, CaseStatus, CaseTrigger
from tests.auxil.databases import IsolatedDatabase
from tests.auxil.harness import RunningBot, make_clinics, running_bot
from tests.auxil.journey import enrolled_patient, join_clinician, report_intent

ADA = 7701
PAT = 8701
QUIET = (time(22, 0), time(9, 0))
WINDOW = (time(6, 0), time(20, 0))  # 06:00–09:00 of it is quiet: never sent then
CLINIC = f"""
[[clinics]]
id = "north"
name = "North Clinic"
timezone = "UTC"
contact_phone = "+1 555 0100"
quiet_hours = {{ start = "{QUIET[0]:%H:%M}", end = "{QUIET[1]:%H:%M}" }}

[clinics.protocols.standard]
offsets = ["PT1S"]
red_flags_at = "PT1S"
daily_days = 0

[clinics.caring]
signed_by = "Dr Ana Ruiz"
window_start = "{WINDOW[0]:%H:%M}"
window_end = "{WINDOW[1]:%H:%M}"
"""
CARING = "Thinking of you today"


async def _tick_after(bot: RunningBot, clock: OffsetClock) -> None:
    since = clock.now()
    dispatcher: Any = bot.ctx.dispatcher
    for _ in range(200):
        if dispatcher.last_tick_at is not None and dispatcher.last_tick_at > since:
            return
        await asyncio.sleep(0.05)
    raise TimeoutError("the dispatcher did not tick")


async def _resolved_high_case(bot: RunningBot) -> None:
    await join_clinician(bot, ADA, "Dr Ada")
    await enrolled_patient(bot, PAT, "P-71")
    await report_intent(bot.sandbox, PAT)
    page = await bot.sandbox.wait_for_message(ADA, "HIGH priority", timeout=8)
    case_id = int(page["text"].split("case #")[1].split()[0])
    bot.sandbox.send_text(ADA, f"/resolve {case_id} Called her. not reached: seen in clinic today")
    await bot.sandbox.wait_for_message(ADA, "resolved", timeout=8)


async def _messages(bot: RunningBot) -> list[CaringMessage]:
    async with bot.ctx.db.transaction() as session:
        rows = await session.scalars(
            select(CaringMessage).order_by(col(CaringMessage.track_id), col(CaringMessage.number))
        )
        return list(rows.all())


async def _patient(bot: RunningBot) -> Patient:
    async with bot.ctx.db.transaction() as session:
        row = await session.scalar(select(Patient).where(col(Patient.chat_id) == PAT))
    assert row is not None
    return row


def _caring_in_chat(sandbox: BotApiSandbox) -> list[dict[str, Any]]:
    return [m for m in sandbox.chat(PAT) if CARING in (m.get("text") or "")]


async def _move_to(bot: RunningBot, clock: OffsetClock, due: datetime) -> None:
    clock.advance(due - clock.now() + timedelta(minutes=1))
    await _tick_after(bot, clock)
    await _tick_after(bot, clock)


async def test_a_resolved_high_case_starts_the_track_paused_and_stopped(
    sandbox: BotApiSandbox, test_db: IsolatedDatabase
) -> None:
    clock = OffsetClock()
    async with running_bot(sandbox, test_db, clinics=make_clinics(CLINIC), clock=clock) as bot:
        await _resolved_high_case(bot)
        async with bot.ctx.db.transaction() as session:
            (track,) = (await session.scalars(select(CaringTrack))).all()
        assert track.schedule == "comtois11" and track.reason == "case_resolved"
        planned = await _messages(bot)
        zone = ZoneInfo((await _patient(bot)).timezone)
        start_day = track.started_at.astimezone(zone).date()

        # Day 1 and week 1 arrive on their days, in the window, outside quiet hours.
        for message in planned[:2]:
            await _move_to(bot, clock, message.due_at)
            await sandbox.wait_for_message(PAT, CARING, timeout=8)
        sent = [m for m in await _messages(bot) if m.status == CaringStatus.SENT]
        assert [m.number for m in sent] == [1, 2]
        for message, days in zip(sent, (1, 7), strict=True):
            assert message.sent_at is not None and message.text is not None
            local = message.sent_at.astimezone(zone)
            assert (local.date() - start_day).days == days
            assert WINDOW[0] <= local.time() < WINDOW[1]
            assert not (local.time() >= QUIET[0] or local.time() < QUIET[1])
            assert "— Dr Ana Ruiz" in message.text and "?" not in message.text

        # A new case is open: message 3 waits; resolved (low: no new track), it goes.
        patient = await _patient(bot)
        async with bot.ctx.db.transaction() as session:
            raised = await raise_case(
                session,
                patient=patient,
                level=Level.LOW,
                findings=[Finding(Level.LOW, "clinic note")],
                trigger=CaseTrigger.CHECKIN,
                now=clock.now(),
            )
        assert raised is not None
        await _move_to(bot, clock, planned[2].due_at)
        assert len(_caring_in_chat(sandbox)) == 2
        async with bot.ctx.db.transaction() as session:
            ada = await session.scalar(select(Clinician).where(col(Clinician.chat_id) == ADA))
            assert ada is not None
            await take(
                session,
                case_id=raised.case.id or 0,
                by=Taker.clinician(ada),
                action=CaseAction.RESOLVE,
                now=clock.now(),
                note="read",
                clinic_of=bot.ctx.clinic,
            )
        await _tick_after(bot, clock)
        await _tick_after(bot, clock)
        await sandbox.wait_for_message(PAT, CARING, after=0, timeout=8)
        for _ in range(40):
            if len(_caring_in_chat(sandbox)) == 3:
                break
            await asyncio.sleep(0.05)
        assert len(_caring_in_chat(sandbox)) == 3

        # /stop: nothing more.
        after = sandbox.last_message(PAT)
        sandbox.send_text(PAT, "/stop")
        confirm = await sandbox.wait_for_message(
            PAT, "", after=after["message_id"] if after else 0, timeout=8
        )
        sandbox.tap(PAT, confirm["message_id"], button_text="Yes, stop check-ins")
        for _ in range(100):
            if (await _patient(bot)).status == "opted_out":
                break
            await asyncio.sleep(0.05)
        await _move_to(bot, clock, planned[3].due_at)
        await _move_to(bot, clock, planned[4].due_at)
        assert len(_caring_in_chat(sandbox)) == 3


async def test_replies_to_a_caring_message(
    sandbox: BotApiSandbox, test_db: IsolatedDatabase
) -> None:
    clock = OffsetClock()
    async with running_bot(sandbox, test_db, clinics=make_clinics(CLINIC), clock=clock) as bot:
        await _resolved_high_case(bot)
        planned = await _messages(bot)
        await _move_to(bot, clock, planned[0].due_at)
        await sandbox.wait_for_message(PAT, CARING, timeout=8)

        # An ordinary reply: kept, and a low case in the care team's queue.
        sandbox.send_text(PAT, "thank you, that was kind")
        for _ in range(100):
            async with bot.ctx.db.transaction() as session:
                open_cases = (
                    await session.scalars(
                        select(Case).where(col(Case.status) != CaseStatus.RESOLVED)
                    )
                ).all()
            if open_cases:
                break
            await asyncio.sleep(0.05)
        (low,) = open_cases
        assert low.level == Level.LOW

        # Crisis words in a reply page on-call.
        last = sandbox.last_message(ADA)
        sandbox.send_text(PAT, "honestly I would be better off dead")
        page = await sandbox.wait_for_message(
            ADA, "priority — case #", after=last["message_id"] if last else 0, timeout=8
        )
        assert "MODERATE priority" in page["text"] or "HIGH priority" in page["text"]

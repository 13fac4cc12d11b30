"""The patient journey end to end, on a protocol of seconds, against the sandbox Bot API."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from bot.services.infusions import record_infusion
from sandbox import BotApiSandbox
from storage.models import Answer, Checkin
from storage.patients import patient_by_ref
from tests.auxil.databases import IsolatedDatabase
from tests.auxil.harness import make_clinics, running_bot
from tests.auxil.journey import answer, enroll_and_consent, join_clinician, local_time_in, noon_zone

CLINICIAN, PATIENT, DAILY_PATIENT = 7001, 8001, 8002


def seconds_clinic(daily_at: str) -> str:
    return f"""
[[clinics]]
id = "north"
name = "North Clinic"
timezone = "UTC"
contact_phone = "+1 555 0100"
quiet_hours = {{ start = "00:00", end = "00:00" }}
default_protocol = "fast"

[clinics.protocols.fast]
offsets = ["PT2S", "PT4S"]
red_flags_at = "PT2S"
daily_time = "{daily_at}"
daily_days = 0

[clinics.protocols.daily]
offsets = []
daily_time = "{daily_at}"
daily_days = 1

[clinics.checkins]
reminder_after = "PT3S"
missed_after = "PT6S"
"""


async def test_invite_consent_infusion_checkins_answered_fully_and_half_way(
    sandbox: BotApiSandbox, test_db: IsolatedDatabase
) -> None:
    from datetime import UTC, datetime

    now = datetime.now(UTC)
    zone = noon_zone(now)
    daily_at = local_time_in(8, now, zone).isoformat()
    clinics = make_clinics(seconds_clinic(daily_at))
    async with running_bot(sandbox, test_db, clinics=clinics) as bot:
        await join_clinician(bot, CLINICIAN)
        await enroll_and_consent(bot, CLINICIAN, PATIENT, "P-0001", zone)
        await enroll_and_consent(bot, CLINICIAN, DAILY_PATIENT, "P-0002", zone)

        # The daily patient's infusion ended yesterday: day 1's daily check-in is seconds away.
        ctx = bot.ctx
        async with ctx.db.transaction() as session:
            daily_patient = await patient_by_ref(session, clinic_id="north", ref="P-0002")
            assert daily_patient is not None
            await record_infusion(
                session,
                patient=daily_patient,
                clinic=clinics.clinics[0],
                ended_at=ctx.clock.now() - timedelta(days=1),
                protocol="daily",
                now=ctx.clock.now(),
                actor="cli",
            )
        sandbox.send_text(CLINICIAN, "/infusion P-0001")
        plan = await sandbox.wait_for_message(CLINICIAN, "Planned check-ins")
        assert "2-second check-in" in plan["text"] and "4-second check-in" in plan["text"]

        # +2 s check-in: answered fully, red flags included, with a note.
        first = await answer(sandbox, PATIENT, "2-second check-in after your infusion on", "7")
        assert first["reply_markup"]["inline_keyboard"]
        await answer(sandbox, PATIENT, "wished you were dead", "No")
        await answer(sandbox, PATIENT, "thoughts of killing yourself", "No")
        await answer(sandbox, PATIENT, "prepared to do anything to end your life", "No")
        await answer(sandbox, PATIENT, "chest pain", "No")
        await sandbox.wait_for_message(PATIENT, "Anything else")
        sandbox.send_text(PATIENT, "slept well, a bit tired")
        await sandbox.wait_for_message(PATIENT, "answers are saved")
        edited = next(m for m in sandbox.chat(PATIENT) if m["message_id"] == first["message_id"])
        assert "✓ 7/10" in edited["text"] and not edited.get("reply_markup")

        # +4 s check-in: abandoned half-way after item 2 = Yes.
        await answer(sandbox, PATIENT, "4-second check-in", "4", wait=8)
        await answer(sandbox, PATIENT, "wished you were dead", "Yes")
        await sandbox.wait_for_message(PATIENT, "988")  # crisis card at once
        await answer(sandbox, PATIENT, "thoughts of killing yourself", "Yes")
        await sandbox.wait_for_message(PATIENT, "thinking about how you might do this")

        # The daily check-in arrives for the other patient at its local time.
        daily = await sandbox.wait_for_message(DAILY_PATIENT, "Day 1 daily check-in", timeout=10)
        assert "after your infusion on" in daily["text"]

        await sandbox.wait_for_message(PATIENT, "Reminder", timeout=8)
        async with ctx.db.transaction() as session:
            patient = await patient_by_ref(session, clinic_id="north", ref="P-0001")
            assert patient is not None
        await _wait_closed(bot, patient.id)
        async with ctx.db.transaction() as session:
            rows = (
                await session.scalars(
                    select(Checkin).where(Checkin.patient_id == patient.id).order_by(Checkin.due_at)
                )
            ).all()
            answers = (
                await session.scalars(
                    select(Answer).where(Answer.patient_id == patient.id).order_by(Answer.id)
                )
            ).all()
    full, half = rows
    assert full.status == "completed" and full.risk_level == "none" and full.asks_red_flags
    assert half.status == "abandoned" and half.risk_level == "moderate"
    assert full.sent_at is not None and full.sent_at - full.due_at < timedelta(seconds=5)
    by_checkin = {(a.checkin_id, a.item_id): a for a in answers}
    assert [k[1] for k in by_checkin if k[0] == full.id] == ["mood", "s1", "s2", "s6", "rf", "note"]
    assert by_checkin[(full.id, "note")].value == "slept well, a bit tired"
    assert [k[1] for k in by_checkin if k[0] == half.id] == ["mood", "s1", "s2"]
    cssrs = by_checkin[(half.id, "s2")]
    assert (cssrs.instrument_id, cssrs.instrument_version) == ("cssrs-screener-slc", "2008-01-14")
    assert all(a.answered_at.tzinfo is not None for a in answers)


async def _wait_closed(bot: object, patient_id: int | None) -> None:
    import asyncio

    from tests.auxil.harness import RunningBot

    assert isinstance(bot, RunningBot)
    for _ in range(100):
        async with bot.ctx.db.transaction() as session:
            statuses = (
                await session.scalars(
                    select(Checkin.status).where(Checkin.patient_id == patient_id)
                )
            ).all()
        if "in_progress" not in statuses and "sent" not in statuses and "scheduled" not in statuses:
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"check-ins never closed: {statuses}")

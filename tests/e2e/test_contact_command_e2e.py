"""/contact REF end to end: a clinician of the patient's clinic gets the phone and emergency
contact in their own chat (audited, without the values); another clinic's clinician is answered
exactly as for an unknown reference; a stranger gets the stranger's reply, a patient is
refused."""

from __future__ import annotations

import json
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from bot.services.enrollment import (
    accept_consent,
    check_invite,
    create_clinician_invite,
    enroll_patient,
)
from bot.services.reaching.contact_details import change_contact, read_contact
from handlers.auth import NOT_AUTHORISED
from sandbox import BotApiSandbox
from storage.models import AuditEvent
from tests.auxil.databases import IsolatedDatabase
from tests.auxil.harness import RunningBot, make_clinics, rehearsal_clinic, running_bot

pytestmark = pytest.mark.slow

ADA, SAM, PAT, STRANGER = 7501, 7502, 8501, 8599  # Ada: north; Sam: south; Pat: P-7501
REF, ZONE = "P-7501", "Asia/Tokyo"
TWO_CLINICS = rehearsal_clinic() + rehearsal_clinic(
    clinic_id="south", name="South Clinic", phone="+1 555 0200"
)


async def _join(bot: RunningBot, user_id: int, name: str, clinic_index: int) -> None:
    ctx = bot.ctx
    async with ctx.db.transaction() as session:
        token = await create_clinician_invite(
            session,
            clinic=ctx.clinics.clinics[clinic_index],
            name=name,
            is_admin=False,
            now=ctx.clock.now(),
            actor="cli",
        )
    bot.sandbox.add_user(user_id, name)
    bot.sandbox.send_text(user_id, f"/start {token}")
    await bot.sandbox.wait_for_message(user_id, "registered as a clinician")


async def _patient_with_contact(bot: RunningBot) -> None:
    ctx = bot.ctx
    now = ctx.clock.now()
    contact, problems = read_contact(
        {
            "phone": "+81 3 1234 5678",
            "emergency_name": "Sam Doe",
            "emergency_relation": "sister",
            "emergency_phone": "+44 20 7946 0000",
        },
        country_code=None,
    )
    assert contact is not None, problems
    bot.sandbox.add_user(PAT, "Pat")
    async with ctx.db.transaction() as session:
        patient, token = await enroll_patient(
            session,
            clinic=ctx.clinic("north"),
            ref=REF,
            timezone=ZONE,
            baseline_mood=None,
            emergency_contact=None,
            now=now,
            actor="cli",
        )
        await change_contact(session, patient=patient, change=contact, actor="cli", now=now)
        checked = await check_invite(session, token=token, chat_id=PAT, now=now)
        assert checked.invite is not None
        await accept_consent(session, invite=checked.invite, user_id=PAT, chat_id=PAT, now=now)


async def _ask(bot: RunningBot, chat_id: int, text: str, expect: str) -> str:
    sandbox = bot.sandbox
    last = sandbox.last_message(chat_id)
    after = int(last["message_id"]) if last else 0
    sandbox.send_text(chat_id, text)
    reply = await sandbox.wait_for_message(chat_id, expect, after=after, timeout=8)
    return str(reply["text"])


async def _viewed(bot: RunningBot) -> list[AuditEvent]:
    async with bot.ctx.db.transaction() as session:
        rows = await session.scalars(
            select(AuditEvent).where(AuditEvent.event == "patient.contact_viewed")
        )
        return list(rows.all())


async def test_contact_answers_the_clinics_own_clinician_only(
    sandbox: BotApiSandbox, test_db: IsolatedDatabase
) -> None:
    async with running_bot(sandbox, test_db, clinics=make_clinics(TWO_CLINICS)) as bot:
        await _join(bot, ADA, "Dr Ada", 0)
        await _join(bot, SAM, "Dr Sam", 1)
        await _patient_with_contact(bot)
        sam_before = len(sandbox.chat(SAM))

        now = bot.ctx.clock.now().astimezone(ZoneInfo(ZONE))
        text = await _ask(bot, ADA, f"/contact {REF}", "for the patient")
        assert any(
            f"{REF}: it is {moment:%H:%M} for the patient ({ZONE})." in text
            for moment in (now, now + timedelta(minutes=1))
        ), text
        assert "Phone: +81 3 1234 5678 (+81312345678)" in text
        assert "Emergency contact: Sam Doe (sister): +44 20 7946 0000 (+442079460000)" in text
        (viewed,) = await _viewed(bot)
        assert viewed.actor == "clinician:1" and viewed.clinic_id == "north"
        assert json.loads(viewed.detail) == {"via": "telegram"}

        # Another clinic's clinician: word for word what an unknown reference gets, no audit.
        other = await _ask(bot, SAM, f"/contact {REF}", "No patient")
        assert other == f"No patient {REF} in your clinic."
        unknown = await _ask(bot, SAM, "/contact P-0000", "No patient")
        assert unknown == "No patient P-0000 in your clinic."
        assert "7946" not in " ".join(m.get("text", "") for m in sandbox.chat(SAM))
        assert len(await _viewed(bot)) == 1

        sandbox.add_user(STRANGER, "Eve")
        stranger = await _ask(bot, STRANGER, f"/contact {REF}", "invite")
        assert REF not in stranger and "7946" not in stranger
        assert await _ask(bot, PAT, f"/contact {REF}", "Not authorised") == NOT_AUTHORISED
        assert await _ask(bot, ADA, "/contact", "Usage") == "Usage: /contact REF"
        # The answer went to the asking chat only.
        assert len(sandbox.chat(SAM)) == sam_before + 2  # the bot's two answers
        for chat in (SAM, PAT, STRANGER):
            assert not any("7946" in m.get("text", "") for m in sandbox.chat(chat)), chat
        assert sum("7946" in m.get("text", "") for m in sandbox.chat(ADA)) == 1
        assert len(await _viewed(bot)) == 1

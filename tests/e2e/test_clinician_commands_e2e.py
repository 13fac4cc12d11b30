"""Clinician case commands end to end, the real app against the sandbox Bot API.

/patients, /history, /open, /ack and /resolve serve registered clinicians of the patient's own
clinic only (CLINICAL.md §8, §9): a stranger and a patient are refused and never shown a patient
reference or an answer; a clinician of another clinic sees nothing of this clinic.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select

from bot.services.enrollment import (
    accept_consent,
    check_invite,
    create_clinician_invite,
    enroll_patient,
)
from sandbox import BotApiSandbox
from storage.models import Case
from storage.states import CaseStatus
from tests.auxil.databases import IsolatedDatabase
from tests.auxil.harness import RunningBot, make_clinics, rehearsal_clinic, running_bot
from tests.auxil.journey import log_contact, noon_zone

pytestmark = pytest.mark.slow

ADA = 7301  # clinician, north
SAM = 7302  # clinician, south
PAT = 8301  # patient, north
STRANGER = 8399
REF = "P-4242"
CRISIS_TEXT = "i want to kill myself"

TWO_CLINICS = rehearsal_clinic(offset="PT1H", red_flags=False) + rehearsal_clinic(
    clinic_id="south", name="South Clinic", phone="+1 555 0200", offset="PT1H", red_flags=False
)


def _last_id(sandbox: BotApiSandbox, chat_id: int) -> int:
    last = sandbox.last_message(chat_id)
    return int(last["message_id"]) if last else 0


def _texts(sandbox: BotApiSandbox, chat_id: int, after: int = 0) -> list[str]:
    return [
        m.get("text") or m.get("caption") or ""
        for m in sandbox.chat(chat_id)
        if m["message_id"] > after
    ]


async def _say(
    sandbox: BotApiSandbox, chat_id: int, text: str, contains: str | None = None
) -> dict[str, Any]:
    """Send a message and return the bot's first reply after it (containing `contains`)."""
    after = _last_id(sandbox, chat_id)
    sandbox.send_text(chat_id, text)
    return await sandbox.wait_for_message(chat_id, contains, after=after, timeout=6)


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
    await _say(bot.sandbox, user_id, f"/start {token}", "registered as a clinician")


async def _enroll(bot: RunningBot) -> None:
    """The patient is enrolled and consents through the services (no infusion: no schedule)."""
    ctx, clinic = bot.ctx, bot.ctx.clinics.clinics[0]
    now = ctx.clock.now()
    bot.sandbox.add_user(PAT, "Pat")
    async with ctx.db.transaction() as session:
        _, token = await enroll_patient(
            session,
            clinic=clinic,
            ref=REF,
            timezone=noon_zone(datetime.now(UTC)),
            baseline_mood=7,
            emergency_contact=None,
            now=now,
            actor="cli",
        )
        checked = await check_invite(session, token=token, chat_id=PAT, now=now)
        assert checked.invite is not None and checked.problem is None
        await accept_consent(session, invite=checked.invite, user_id=PAT, chat_id=PAT, now=now)


async def _checkin(sandbox: BotApiSandbox, mood: str) -> None:
    """The patient starts a check-in with /checkin and answers it: mood, all No, skip note."""
    after = _last_id(sandbox, PAT)
    sandbox.send_text(PAT, "/checkin")
    for question, button in (
        ("How is your mood", mood),
        ("wished you were dead", "No"),
        ("thoughts of killing yourself", "No"),
        ("prepared to do anything", "No"),
        ("Anything else", "Skip"),
    ):
        asked = await sandbox.wait_for_message(PAT, question, after=after)
        sandbox.tap(PAT, asked["message_id"], button_text=button)
        after = asked["message_id"]
    await sandbox.wait_for_message(PAT, "Thank you", after=after)


async def _case(bot: RunningBot) -> Case:
    async with bot.ctx.db.transaction() as session:
        rows = (await session.scalars(select(Case))).all()
    assert len(rows) == 1, rows
    return rows[0]


@dataclass
class World:
    bot: RunningBot
    sandbox: BotApiSandbox
    case_id: int
    crisis_reply_from: int  # the patient's last bot message id before the crisis words


async def _world(bot: RunningBot) -> World:
    """Two clinics; Ada (north, on call) and Sam (south); a north patient with two moods and
    an open case from typed crisis words; a stranger."""
    sandbox = bot.sandbox
    await _join(bot, ADA, "Dr Ada", 0)
    await _join(bot, SAM, "Dr Sam", 1)
    await _say(sandbox, ADA, "/oncall", "primary on-call")
    await _enroll(bot)
    sandbox.add_user(STRANGER, "Stan")
    await _checkin(sandbox, "6")
    await _checkin(sandbox, "4")
    before = _last_id(sandbox, PAT)
    sandbox.send_text(PAT, CRISIS_TEXT)
    await sandbox.wait_for_message(ADA, "priority — case #", timeout=6)
    await sandbox.wait_for_message(PAT, "has been paged now", after=before, timeout=6)
    case = await _case(bot)
    assert case.id is not None
    return World(bot, sandbox, case.id, before)


def _assert_no_leak(world: World, chat: int, after: int = 0) -> None:
    for text in _texts(world.sandbox, chat, after):
        assert REF not in text, f"patient reference leaked to chat {chat}: {text!r}"
        assert CRISIS_TEXT not in text, f"patient's words leaked to chat {chat}: {text!r}"
        assert "mood 4/10" not in text and "mood=" not in text, f"answers leaked: {text!r}"
        assert f"#{world.case_id}" not in text, f"case leaked to chat {chat}: {text!r}"


async def test_strangers_and_patients_are_refused_and_see_no_patient_data(
    sandbox: BotApiSandbox, test_db: IsolatedDatabase
) -> None:
    async with running_bot(sandbox, test_db, clinics=make_clinics(TWO_CLINICS)) as bot:
        world = await _world(bot)
        n = world.case_id
        commands = [
            "/patients",
            f"/history {REF}",
            "/open",
            f"/ack {n}",
            f"/resolve {n} called, safe",
        ]
        patient_from = _last_id(sandbox, PAT)
        for command in commands:
            reply = await _say(sandbox, STRANGER, command)
            assert "invite" in reply["text"] or "Not authorised" in reply["text"], (
                command,
                reply["text"],
            )
            reply = await _say(sandbox, PAT, command)
            assert "Not authorised" in reply["text"], (command, reply["text"])
        await asyncio.sleep(0.5)  # let any late second reply arrive before scanning
        # Every bot message the stranger ever got, and every reply to the patient's commands.
        _assert_no_leak(world, STRANGER)
        _assert_no_leak(world, PAT, after=patient_from)
        # Nor did anything else the patient was sent name them by reference.
        assert all(REF not in text for text in _texts(sandbox, PAT))
        case = await _case(bot)
        assert case.status == CaseStatus.OPEN and case.acknowledged_by is None


async def test_clinician_commands_work_for_the_patients_clinic(
    sandbox: BotApiSandbox, test_db: IsolatedDatabase
) -> None:
    async with running_bot(sandbox, test_db, clinics=make_clinics(TWO_CLINICS)) as bot:
        world = await _world(bot)
        n = world.case_id

        # The crisis words: the crisis card first, before any other reply; the on-call paged.
        replies = [m for m in sandbox.chat(PAT) if m["message_id"] > world.crisis_reply_from]
        assert replies and "988" in replies[0]["text"], [m["text"][:60] for m in replies]
        assert "not an emergency service" in replies[0]["text"]
        page = await sandbox.wait_for_message(ADA, f"case #{n}")
        assert REF in page["text"] and "MODERATE" in page["text"]
        assert CRISIS_TEXT in page["text"], "the page must carry the patient's words"
        case = await _case(bot)
        assert (case.level, case.trigger, case.status) == ("moderate", "message", "open")
        assert case.quote is not None and CRISIS_TEXT in case.quote

        reply = await _say(sandbox, ADA, "/patients")
        assert REF in reply["text"] and "mood 4/10" in reply["text"], reply["text"]
        assert "open moderate" in reply["text"], reply["text"]

        reply = await _say(sandbox, ADA, f"/history {REF}")
        assert REF in reply["text"], reply["text"]
        assert "6 → 4" in reply["text"], reply["text"]
        assert "mood=6" in reply["text"] and "mood=4" in reply["text"], reply["text"]
        assert "s1=no" in reply["text"], reply["text"]
        # The chart follows the text as a photo; wait for it so the next reply is /open's.
        await sandbox.wait_for_message(ADA, f"Mood of {REF}", after=reply["message_id"])

        reply = await _say(sandbox, ADA, "/open")
        assert f"#{n}" in reply["text"] and "MODERATE" in reply["text"], reply["text"]

        # No note: refused, nothing changes.
        reply = await _say(sandbox, ADA, f"/resolve {n}")
        assert "note" in reply["text"] and "resolved." not in reply["text"], reply["text"]
        assert (await _case(bot)).status == CaseStatus.OPEN

        reply = await _say(sandbox, ADA, f"/ack {n}")
        assert f"acknowledged case #{n}" in reply["text"], reply["text"]
        case = await _case(bot)
        assert case.status == CaseStatus.ACKNOWLEDGED and case.next_step_at is None
        assert case.acknowledged_by is not None

        # Acknowledged is not reached: resolving a moderate case with no outreach is refused.
        reply = await _say(sandbox, ADA, f"/resolve {n} Called Pat; safe with family")
        assert "resolved." not in reply["text"], reply["text"]
        assert (
            f"Record that the patient was reached, or give the reason, before resolving case #{n}."
            in reply["text"]
        )
        assert f"/resolve {n} not reached: <why>" in reply["text"], reply["text"]
        assert (await _case(bot)).status == CaseStatus.ACKNOWLEDGED

        # Ada calls Pat and logs it from the page, then resolves.
        await log_contact(sandbox, ADA, page["message_id"], method="Phone", outcome="Reached")
        reply = await _say(sandbox, ADA, f"/resolve {n} Called Pat; safe with family")
        assert f"Case #{n} resolved." in reply["text"], reply["text"]
        case = await _case(bot)
        assert case.status == CaseStatus.RESOLVED
        assert case.resolution_note == "Called Pat; safe with family"

        reply = await _say(sandbox, ADA, "/open")
        assert "No open cases." in reply["text"] and f"#{n}" not in reply["text"]


async def test_a_clinician_of_another_clinic_sees_and_changes_nothing(
    sandbox: BotApiSandbox, test_db: IsolatedDatabase
) -> None:
    async with running_bot(sandbox, test_db, clinics=make_clinics(TWO_CLINICS)) as bot:
        world = await _world(bot)
        n = world.case_id
        assert not [t for t in _texts(sandbox, SAM) if "priority" in t], "south was paged"

        reply = await _say(sandbox, SAM, "/open")
        assert f"#{n}" not in reply["text"] and REF not in reply["text"], reply["text"]

        reply = await _say(sandbox, SAM, "/patients")
        assert REF not in reply["text"], reply["text"]

        reply = await _say(sandbox, SAM, f"/ack {n}")
        assert "acknowledged case" not in reply["text"], reply["text"]
        reply = await _say(sandbox, SAM, f"/resolve {n} closing someone else's case")
        assert "resolved." not in reply["text"], reply["text"]

        reply = await _say(sandbox, SAM, f"/history {REF}")
        assert "mood" not in reply["text"] and "6 → 4" not in reply["text"], reply["text"]

        case = await _case(bot)
        assert case.status == CaseStatus.OPEN
        assert case.acknowledged_by is None and case.resolved_by is None
        assert case.resolution_note is None
        # Ada (north) was never told that someone took her case.
        assert not [t for t in _texts(sandbox, ADA) if "acknowledged by" in t or "resolved by" in t]
        for text in _texts(sandbox, SAM):
            assert CRISIS_TEXT not in text and "mood 4/10" not in text, text

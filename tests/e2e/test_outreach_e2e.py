"""Reaching the patient in Telegram, end to end against the sandbox Bot API (CLINICAL.md §10).

The page's *Log contact* flow (method, then outcome) stores and audits each attempt and says
what it stored; forged, stale and other clinics' button data are answered plainly and change
nothing. `/resolve` on a high case with no outreach is refused until the patient was reached or
the reason is given. With compressed targets and the injected clock, an acknowledged case with no
attempt goes back up the ladder with the outreach wording, and logging "reached" ends the clock.
"""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlmodel import col

from bot.clock import OffsetClock
from bot.services.enrollment import create_clinician_invite
from sandbox import BotApiSandbox
from storage.models import AuditEvent, Case, Clinician, Outreach
from storage.states import CLI, CaseStatus, OutreachMethod, OutreachOutcome, clinician_actor
from tests.auxil.databases import IsolatedDatabase
from tests.auxil.harness import RunningBot, make_clinics, rehearsal_clinic, running_bot
from tests.auxil.journey import enrolled_patient, join_clinician, log_contact, report_intent

ADA = 7601  # clinician, north (the only one: paged for every case)
SAM = 7602  # clinician, south
PAT = 8601  # patient, north
UNKNOWN = "Unknown case: this button is not one of ours."

TWO_CLINICS = rehearsal_clinic(red_flags=False) + rehearsal_clinic(
    clinic_id="south", name="South Clinic", phone="+1 555 0200", red_flags=False
)


def _pages(sandbox: BotApiSandbox, chat: int) -> list[dict[str, Any]]:
    return [m for m in sandbox.chat(chat) if "priority — case #" in (m.get("text") or "")]


def _buttons(message: dict[str, Any]) -> list[str]:
    rows = (message.get("reply_markup") or {}).get("inline_keyboard") or []
    return [b["text"] for row in rows for b in row]


def _last_id(sandbox: BotApiSandbox, chat: int) -> int:
    last = sandbox.last_message(chat)
    return int(last["message_id"]) if last else 0


async def _answered(sandbox: BotApiSandbox, query: str) -> dict[str, Any]:
    await sandbox.wait_for_call(
        "answerCallbackQuery", lambda c: c.params.get("callback_query_id") == query
    )
    return sandbox.callback_answer(query) or {}


async def _say(sandbox: BotApiSandbox, chat: int, text: str) -> str:
    after = _last_id(sandbox, chat)
    sandbox.send_text(chat, text)
    return str((await sandbox.wait_for_message(chat, after=after, timeout=6))["text"])


async def _join_south(bot: RunningBot, user_id: int, name: str) -> None:
    ctx = bot.ctx
    async with ctx.db.transaction() as session:
        token = await create_clinician_invite(
            session,
            clinic=ctx.clinic("south"),
            name=name,
            is_admin=False,
            now=ctx.clock.now(),
            actor=CLI,
        )
    bot.sandbox.add_user(user_id, name)
    bot.sandbox.send_text(user_id, f"/start {token}")
    await bot.sandbox.wait_for_message(user_id, "registered as a clinician")


async def _high_case(bot: RunningBot, ref: str = "P-61") -> tuple[dict[str, Any], int]:
    """Ada joins (nobody on call: she is paged); the patient reports intent: a HIGH case."""
    await join_clinician(bot, ADA, "Dr Ada")
    await enrolled_patient(bot, PAT, ref)
    await report_intent(bot.sandbox, PAT)
    page = await bot.sandbox.wait_for_message(ADA, "HIGH priority", timeout=8)
    return page, int(page["text"].split("case #")[1].split()[0])


async def _case(bot: RunningBot, case_id: int) -> Case:
    async with bot.ctx.db.transaction() as session:
        case = await session.get(Case, case_id, populate_existing=True)
    assert case is not None
    return case


async def _attempts(bot: RunningBot, case_id: int) -> list[Outreach]:
    async with bot.ctx.db.transaction() as session:
        rows = await session.scalars(
            select(Outreach).where(col(Outreach.case_id) == case_id).order_by(col(Outreach.id))
        )
        return list(rows.all())


async def _audit(bot: RunningBot, event: str) -> list[AuditEvent]:
    async with bot.ctx.db.transaction() as session:
        rows = await session.scalars(
            select(AuditEvent).where(col(AuditEvent.event) == event).order_by(col(AuditEvent.id))
        )
        return list(rows.all())


async def _acknowledge(sandbox: BotApiSandbox, chat: int, page: dict[str, Any]) -> None:
    after = _last_id(sandbox, chat)
    sandbox.tap(chat, page["message_id"], button_text="Acknowledge")
    await sandbox.wait_for_message(chat, "You acknowledged case", after=after)


async def test_log_contact_from_the_page_stores_audits_and_says_what_it_stored(
    sandbox: BotApiSandbox, test_db: IsolatedDatabase
) -> None:
    async with running_bot(sandbox, test_db, clinics=make_clinics(TWO_CLINICS)) as bot:
        page, n = await _high_case(bot)
        await _join_south(bot, SAM, "Dr Sam")
        assert "Log contact" not in _buttons(page)  # offered once the case is taken
        await _acknowledge(sandbox, ADA, page)
        async with bot.ctx.db.transaction() as session:
            ada = await session.scalar(select(Clinician).where(col(Clinician.chat_id) == ADA))
        assert ada is not None and ada.id is not None

        # Phone, no answer: stored, audited (without a note's words), the next target said.
        before = _last_id(sandbox, ADA)
        sandbox.tap(ADA, page["message_id"], button_text="Log contact")
        asked = await sandbox.wait_for_message(ADA, "how did you try to reach", after=before)
        assert asked["text"] == f"Case #{n}: how did you try to reach the patient?"
        assert _buttons(asked) == [
            "Phone",
            "Telegram message",
            "Video",
            "In person",
            "Emergency contact",
            "Emergency services",
        ]
        sandbox.tap(ADA, asked["message_id"], button_text="Phone")
        asked = await sandbox.wait_for_message(ADA, "what came of it?", after=before)
        assert asked["text"] == f"Case #{n}, Phone: what came of it?"
        assert "Reached" in _buttons(asked) and "No answer" in _buttons(asked)
        query = sandbox.tap(ADA, asked["message_id"], button_text="No answer")
        done = await sandbox.wait_for_message(ADA, "✓ Recorded on case", after=before)
        assert (await _answered(sandbox, query)).get("text") == "Recorded"
        (tried,) = await _attempts(bot, n)
        assert (tried.method, tried.outcome) == (OutreachMethod.PHONE, OutreachOutcome.NO_ANSWER)
        assert tried.clinician_id == ada.id and tried.clinic_id == "north" and tried.note is None
        case = await _case(bot, n)
        assert case.status == CaseStatus.ACKNOWLEDGED and case.reached_at is None
        assert case.outreach_due_at is not None  # not reached: the clock runs on
        due = f"{case.outreach_due_at:%a %d %b %H:%M} UTC"
        assert done["text"] == (
            f"✓ Recorded on case #{n}: Phone — No answer. Next outreach target: {due}."
        )
        assert _buttons(done) == []  # the outcome buttons are gone: one tap, one attempt
        again = sandbox.tap(ADA, asked["message_id"], data=f"esc:lo:{n}:p:n", forge=True)
        assert (await _answered(sandbox, again)).get(
            "text"
        ) == "Already recorded: see the message above."
        assert len(await _attempts(bot, n)) == 1, "a double tap recorded the attempt twice"
        (logged,) = await _audit(bot, "outreach.logged")
        assert logged.case_id == n and logged.actor == clinician_actor(ada.id)
        detail = json.loads(logged.detail)
        assert (detail["method"], detail["outcome"]) == ("phone", "no_answer")
        assert detail["note_length"] == 0 and detail["due_at"] is not None

        # A second try, by Telegram message, reaches her: the clock ends.
        done = await log_contact(sandbox, ADA, page["message_id"], method="Telegram message")
        assert done["text"] == f"✓ Recorded on case #{n}: Telegram message — Reached."
        assert [a.outcome for a in await _attempts(bot, n)] == ["no_answer", "reached"]
        case = await _case(bot, n)
        assert case.reached_at is not None and case.outreach_due_at is None
        assert len(await _audit(bot, "outreach.logged")) == 2


async def test_forged_stale_and_other_clinics_log_contact_data_change_nothing(
    sandbox: BotApiSandbox, test_db: IsolatedDatabase
) -> None:
    async with running_bot(sandbox, test_db, clinics=make_clinics(TWO_CLINICS)) as bot:
        page, n = await _high_case(bot)
        await _join_south(bot, SAM, "Dr Sam")
        await _acknowledge(sandbox, ADA, page)

        # Ada starts a log and leaves it at the outcome (a keyboard that goes stale below).
        before = _last_id(sandbox, ADA)
        sandbox.tap(ADA, page["message_id"], button_text="Log contact")
        asked = await sandbox.wait_for_message(ADA, "how did you try to reach", after=before)
        sandbox.tap(ADA, asked["message_id"], button_text="Video")
        stale = await sandbox.wait_for_message(ADA, "what came of it?", after=before)

        # Forged data on her own page: not ours, said plainly, as an alert.
        for data in (
            f"esc:lo:{n}:z:r",  # no such method
            f"esc:lo:{n}:p:z",  # no such outcome
            f"esc:lm:{n}:q",
            "esc:log:abc",
            f"esc:lo:{n}:p",
        ):
            query = sandbox.tap(ADA, page["message_id"], data=data, forge=True)
            answer = await _answered(sandbox, query)
            assert (answer.get("text"), answer.get("show_alert")) == (UNKNOWN, True), data
        query = sandbox.tap(ADA, page["message_id"], data="esc:lo:99999:p:r", forge=True)
        assert (await _answered(sandbox, query)).get("text") == "No case #99999 in your clinic."

        # Another clinic's clinician, and a patient, cannot log on this case.
        welcome = sandbox.chat(SAM)[0]["message_id"]
        for data in (f"esc:log:{n}", f"esc:lm:{n}:p", f"esc:lo:{n}:p:r"):
            query = sandbox.tap(SAM, welcome, data=data, forge=True)
            answer = await _answered(sandbox, query)
            assert answer.get("text") == f"No case #{n} in your clinic.", data
        own = sandbox.chat(PAT)[0]["message_id"]
        query = sandbox.tap(PAT, own, data=f"esc:lo:{n}:p:r", forge=True)
        assert "Not authorised" in ((await _answered(sandbox, query)).get("text") or "")
        await asyncio.sleep(0.3)  # any late effect would show by now
        assert await _attempts(bot, n) == []
        assert await _audit(bot, "outreach.logged") == []
        assert not [m for m in sandbox.chat(SAM) if f"#{n}" in (m.get("text") or "")]
        assert not [m for m in sandbox.chat(PAT) if "what came of it" in (m.get("text") or "")]

        # Resolved (the patient was reached, logged): the old outcome keyboard is stale.
        await log_contact(sandbox, ADA, page["message_id"], outcome="Reached")
        assert "resolved." in await _say(sandbox, ADA, f"/resolve {n} Called her; safe at home")
        query = sandbox.tap(ADA, stale["message_id"], button_text="No answer")
        answer = await _answered(sandbox, query)
        assert answer.get("text") == f"Case #{n} is resolved; its outreach log is closed."
        assert answer.get("show_alert") is True
        query = sandbox.tap(ADA, page["message_id"], data=f"esc:log:{n}", forge=True)
        answer = await _answered(sandbox, query)
        assert answer.get("text") == f"Case #{n} is resolved; its outreach log is closed."
        assert [a.outcome for a in await _attempts(bot, n)] == ["reached"]
        assert len(await _audit(bot, "outreach.logged")) == 1


async def test_resolving_a_high_case_needs_the_patient_reached_or_the_reason(
    sandbox: BotApiSandbox, test_db: IsolatedDatabase
) -> None:
    async with running_bot(sandbox, test_db, clinics=make_clinics(TWO_CLINICS)) as bot:
        page, n = await _high_case(bot)
        await _acknowledge(sandbox, ADA, page)

        reply = await _say(sandbox, ADA, f"/resolve {n} Seems fine now")
        assert reply.startswith(
            f"Record that the patient was reached, or give the reason, before resolving case #{n}."
        ), reply
        assert "Log contact" in reply and f"/resolve {n} not reached: <why>" in reply
        case = await _case(bot, n)
        assert case.status == CaseStatus.ACKNOWLEDGED and case.resolution_note is None
        assert await _audit(bot, "escalation.resolved") == []

        # An attempt that did not reach her is not enough either.
        await log_contact(sandbox, ADA, page["message_id"], outcome="Voicemail")
        reply = await _say(sandbox, ADA, f"/resolve {n} Left a voicemail")
        assert reply.startswith("Record that the patient was reached"), reply
        assert (await _case(bot, n)).status == CaseStatus.ACKNOWLEDGED

        reply = await _say(
            sandbox,
            ADA,
            f"/resolve {n} Police welfare check done not reached: not reachable after 3 "
            "attempts, emergency contact informed",
        )
        assert reply == f"✓ Case #{n} resolved.", reply
        case = await _case(bot, n)
        assert case.status == CaseStatus.RESOLVED and case.resolution_note is not None
        assert case.resolution_note.endswith(
            "Not reached — reason: not reachable after 3 attempts, emergency contact informed"
        )
        (resolved,) = await _audit(bot, "escalation.resolved")
        assert json.loads(resolved.detail)["outreach"] == "reason"
        (shown,) = _pages(sandbox, ADA)
        assert "✓ Resolved by Dr Ada" in shown["text"] and _buttons(shown) == []


OVERDUE_SOON = rehearsal_clinic(
    red_flags=False,
    extra="""
[clinics.outreach]
high_first_attempt = "PT2S"
again_after = "PT5M"
""",
)


async def _tick_after(bot: RunningBot, clock: OffsetClock) -> None:
    """Wait until the dispatcher has run a whole round at the clock's current time."""
    since = clock.now()
    dispatcher: Any = bot.ctx.dispatcher
    for _ in range(100):
        if dispatcher.last_tick_at is not None and dispatcher.last_tick_at > since:
            return
        await asyncio.sleep(0.05)
    raise TimeoutError("the dispatcher did not tick")


async def test_an_acknowledged_case_with_no_attempt_goes_back_up_until_reached(
    sandbox: BotApiSandbox, test_db: IsolatedDatabase
) -> None:
    clock = OffsetClock()
    clinics = make_clinics(OVERDUE_SOON)
    async with running_bot(sandbox, test_db, clinics=clinics, clock=clock) as bot:
        page, n = await _high_case(bot, "P-62")
        await _acknowledge(sandbox, ADA, page)
        case = await _case(bot, n)
        assert case.status == CaseStatus.ACKNOWLEDGED and case.first_paged_at is not None
        assert case.outreach_due_at == case.first_paged_at + timedelta(seconds=2)

        # Acknowledged, nobody tries to reach her: past the first-attempt target (and past
        # `again_after`, however late the acknowledgement came) the case goes back up.
        clock.advance(timedelta(minutes=6))
        repage = await sandbox.wait_for_message(
            ADA, "no contact attempt recorded", after=page["message_id"], timeout=8
        )
        assert f"HIGH priority — case #{n}" in repage["text"]
        assert "Outreach overdue: acknowledged by Dr Ada" in repage["text"]
        assert _buttons(repage)[:2] == ["Acknowledge", "Resolve"]
        case = await _case(bot, n)
        assert case.status == CaseStatus.OPEN and case.acknowledged_by is None
        (overdue,) = await _audit(bot, "outreach.overdue")
        assert json.loads(overdue.detail)["missing"] == "first_attempt"

        # Taken again, and this time she is reached: the clock ends, nothing goes up again.
        await _acknowledge(sandbox, ADA, repage)
        case = await _case(bot, n)
        assert case.outreach_due_at is not None and case.outreach_due_at > clock.now()
        await log_contact(sandbox, ADA, repage["message_id"], outcome="Reached")
        case = await _case(bot, n)
        assert case.reached_at is not None and case.outreach_due_at is None
        pages_before = len(_pages(sandbox, ADA))
        clock.advance(timedelta(hours=13))  # past again_after and the 12 h "reached" target
        await _tick_after(bot, clock)
        await _tick_after(bot, clock)
        case = await _case(bot, n)
        assert case.status == CaseStatus.ACKNOWLEDGED and case.outreach_due_at is None
        assert len(_pages(sandbox, ADA)) == pages_before
        assert len(await _audit(bot, "outreach.overdue")) == 1
        assert "resolved." in await _say(sandbox, ADA, f"/resolve {n} Called her; safe at home")

"""A case's thread over the sandbox Bot API and the console: a clinician writes to the patient
(console and Telegram), the patient's replies reach the thread and the writer's Telegram and are
still triaged, a blocked chat says "not delivered — call instead", resolving closes the thread
and tells the patient, and another clinic's clinician can do none of it."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from sqlalchemy import select

from bot.domain.levels import Level
from bot.domain.triage import Finding
from bot.services.cases import raise_case
from sandbox import BotApiSandbox
from storage.models import AuditEvent, Case, CaseMessage
from storage.patients import get_patient
from storage.states import CaseTrigger, MessageStatus
from tests.auxil.console import ConsoleBot, console_bot, csrf_of, join, sign_in
from tests.auxil.databases import IsolatedDatabase
from tests.auxil.journey import enrolled_patient

ADA, SAM, PAT = 7101, 7201, 7301  # Dr Ada (north), Dr Sam (south), the patient (north)


async def _case(app: ConsoleBot, patient_id: int, level: Level = Level.LOW) -> int:
    ctx = app.bot.ctx
    async with ctx.db.transaction() as session:
        patient = await get_patient(session, patient_id=patient_id)
        assert patient is not None
        raised = await raise_case(
            session,
            patient=patient,
            level=level,
            findings=[Finding(level, "mood 3/10, below baseline")],
            trigger=CaseTrigger.NON_RESPONSE,
            now=ctx.clock.now(),
        )
    assert raised is not None and raised.case.id is not None
    return raised.case.id


async def _setup(app: ConsoleBot, level: Level = Level.LOW) -> tuple[int, int]:
    await join(app, ADA, "Dr Ada", "north")
    await join(app, SAM, "Dr Sam", "south")
    patient_id = await enrolled_patient(app.bot, PAT, "P-31", infusion=False)
    return patient_id, await _case(app, patient_id, level)


async def _write(client: httpx.AsyncClient, app: ConsoleBot, case_id: int, text: str) -> str:
    page = await client.get(f"{app.base}/cases/{case_id}")
    assert page.status_code == 200, page.text
    assert "Messages with the patient" in page.text and 'id="message-form"' in page.text
    sent = await client.post(
        f"{app.base}/cases/{case_id}/messages",
        data={"csrf": csrf_of(page.text), "text": text},
        follow_redirects=True,
    )
    assert sent.status_code == 200, sent.text
    return sent.text


def _reply_to(prompt: dict[str, Any], user_id: int, name: str, text: str) -> dict[str, Any]:
    return {
        "message": {
            "message_id": 90_000 + user_id,
            "date": 0,
            "text": text,
            "chat": {"id": user_id, "type": "private", "first_name": name},
            "from": {"id": user_id, "is_bot": False, "first_name": name},
            "reply_to_message": prompt,
        }
    }


async def test_console_and_telegram_messages_replies_and_crisis_words(
    sandbox: BotApiSandbox, test_db: IsolatedDatabase
) -> None:
    async with console_bot(sandbox, test_db) as app:
        patient_id, case_id = await _setup(app)
        client = await sign_in(app, ADA)
        try:
            shown = await _write(client, app, case_id, "Hello, this is Ada. How are you today?")
            assert "delivered to the patient" in shown
            got = await sandbox.wait_for_message(PAT, "Dr Ada, North Clinic: Hello, this is Ada")
            assert got["text"] == "Dr Ada, North Clinic: Hello, this is Ada. How are you today?"

            # The patient answers: the thread, the writer's Telegram, an honest confirmation.
            sandbox.send_text(PAT, "Tired but at home with my sister")
            passed = await sandbox.wait_for_message(ADA, f"Case #{case_id}: P-31 replied")
            assert "Tired but at home with my sister" in passed["text"]
            told = await sandbox.wait_for_message(PAT, "Your message was passed to Dr Ada")
            assert "not watch" not in told["text"] and "Nobody watches" in told["text"]
            thread = await client.get(f"{app.base}/cases/{case_id}/thread")
            assert thread.status_code == 200 and "Tired but at home with my sister" in thread.text
            version = thread.text.split("thread?v=")[1].split('"')[0]
            same = await client.get(f"{app.base}/cases/{case_id}/thread?v={version}")
            assert same.status_code == 204

            # Telegram: the Message patient button under the reply, then the clinician's text.
            sandbox.tap(ADA, passed["message_id"], button_text="Message patient")
            prompt = await sandbox.wait_for_message(ADA, "Message to the patient of case #")
            calls = sandbox.calls_to("sendMessage")
            (asked,) = [c for c in calls if "force_reply" in str(c.params)]
            assert "Message to the patient" in str(asked.params)
            sandbox.enqueue_update(_reply_to(prompt, ADA, "Ada", "I will call you at 5pm."))
            await sandbox.wait_for_message(PAT, "Dr Ada, North Clinic: I will call you at 5pm.")
            await sandbox.wait_for_message(ADA, f"✓ Sent to P-31 (case #{case_id})")

            # Crisis words in a reply still raise the case (§5): moderate, paged, the card.
            sandbox.send_text(PAT, "honestly I want to take all my pills")
            await sandbox.wait_for_message(ADA, "MODERATE priority", timeout=8)
            await sandbox.wait_for_message(ADA, "take all my pills")
            async with app.bot.ctx.db.transaction() as session:
                case = await session.get(Case, case_id)
                assert case is not None and case.level == Level.MODERATE
                rows = (await session.scalars(select(CaseMessage).order_by(CaseMessage.id))).all()
                events = (await session.scalars(select(AuditEvent.event))).all()
            assert [(m.direction, m.status) for m in rows] == [
                ("to_patient", MessageStatus.SENT),
                ("from_patient", MessageStatus.RECEIVED),
                ("to_patient", MessageStatus.SENT),
                ("from_patient", MessageStatus.RECEIVED),
            ]
            assert events.count("case_message.sent") == 2
            assert events.count("case_message.received") == 2

            # The timeline shows the clinician's messages.
            timeline = await client.get(f"{app.base}/patients/P-31")
            assert "Dr Ada wrote to the patient" in timeline.text
            assert "I will call you at 5pm." in timeline.text
        finally:
            await client.aclose()
    _ = patient_id


async def test_resolve_closes_the_thread_and_tells_the_patient(
    sandbox: BotApiSandbox, test_db: IsolatedDatabase
) -> None:
    async with console_bot(sandbox, test_db) as app:
        _, case_id = await _setup(app)
        client = await sign_in(app, ADA)
        try:
            await _write(client, app, case_id, "Checking in after your answers.")
            await sandbox.wait_for_message(PAT, "Checking in after your answers.")
            page = await client.get(f"{app.base}/cases/{case_id}")
            done = await client.post(
                f"{app.base}/cases/{case_id}/resolve",
                data={"csrf": csrf_of(page.text), "note": "Spoke by phone; safe."},
                follow_redirects=True,
            )
            assert done.status_code == 200, done.text
            assert "its thread is closed" in done.text and 'id="message-form"' not in done.text
            closed = await sandbox.wait_for_message(PAT, "finished following up")
            assert "read during clinic hours" in closed["text"]
            assert "this chat is not watched" in closed["text"]
            await asyncio.sleep(0.3)
            assert (
                sum("finished following up" in (m.get("text") or "") for m in sandbox.chat(PAT))
                == 1
            )

            # Closed: a new message is not passed on and the usual wording comes back.
            sandbox.send_text(PAT, "thanks again")
            await sandbox.wait_for_message(PAT, "your message is saved in your record")
            refused = await client.post(
                f"{app.base}/cases/{case_id}/messages",
                data={"csrf": csrf_of(page.text), "text": "one more"},
            )
            assert refused.status_code == 409 and "thread is closed" in refused.text
        finally:
            await client.aclose()


async def test_blocked_chat_is_shown_as_not_delivered(
    sandbox: BotApiSandbox, test_db: IsolatedDatabase
) -> None:
    async with console_bot(sandbox, test_db) as app:
        _, case_id = await _setup(app)
        sandbox.block(PAT)
        client = await sign_in(app, ADA)
        try:
            shown = await _write(client, app, case_id, "Can you hear me?")
            assert "not delivered — call instead" in shown
            thread = await client.get(f"{app.base}/cases/{case_id}/thread")
            assert "Not delivered — call instead" in thread.text
        finally:
            await client.aclose()
        async with app.bot.ctx.db.transaction() as session:
            (row,) = (await session.scalars(select(CaseMessage))).all()
        assert row.status == MessageStatus.FAILED and row.error


async def test_another_clinic_cannot_message_the_patient(
    sandbox: BotApiSandbox, test_db: IsolatedDatabase
) -> None:
    async with console_bot(sandbox, test_db) as app:
        _, case_id = await _setup(app)
        client = await sign_in(app, SAM)
        try:
            home = await client.get(f"{app.base}/")
            posted = await client.post(
                f"{app.base}/cases/{case_id}/messages",
                data={"csrf": csrf_of(home.text), "text": "hello from the wrong clinic"},
            )
            assert posted.status_code == 404
            assert (await client.get(f"{app.base}/cases/{case_id}/thread")).status_code == 404
        finally:
            await client.aclose()

        # Telegram: a forged button, a button not of ours, and a forged prompt reply.
        last = sandbox.last_message(SAM)
        assert last is not None
        query = sandbox.tap(SAM, last["message_id"], data=f"esc:msg:{case_id}", forge=True)
        await sandbox.wait_for_call("answerCallbackQuery", timeout=5)
        await asyncio.sleep(0.3)
        answer = sandbox.callback_answer(query)
        assert answer is not None and f"No case #{case_id} in your clinic." in answer["text"]
        odd = sandbox.tap(SAM, last["message_id"], data="esc:msg:12x", forge=True)
        await asyncio.sleep(0.5)
        odd_answer = sandbox.callback_answer(odd)
        assert odd_answer is not None and "Unknown case" in odd_answer["text"]
        fake_prompt = {
            "message_id": last["message_id"],
            "date": 0,
            "text": f"Message to the patient of case #{case_id} (P-31): reply to this message",
            "chat": {"id": SAM, "type": "private"},
            "from": {"id": 1, "is_bot": True, "first_name": "Aftercare"},
        }
        sandbox.enqueue_update(_reply_to(fake_prompt, SAM, "Sam", "hello from the wrong clinic"))
        await sandbox.wait_for_message(SAM, f"No case #{case_id} in your clinic.")
        assert not any("wrong clinic" in (m.get("text") or "") for m in sandbox.chat(PAT))
        assert not any("Message to the patient" in (m.get("text") or "") for m in sandbox.chat(SAM))

"""The patient's language at the boundaries, end to end over the sandbox (issue 29): Telegram's
language recorded once; /language stores the choice and confirms it in the new language, a
forged button is refused; a dispatcher send to a pseudo-locale patient is in the pseudo-locale
while the clinician's page stays English and names the patient's language; the patients' menu
set per language at start-up."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlmodel import col

from bot.domain import checkin_flow, instruments
from bot.domain.levels import Level
from bot.i18n import _, use_language
from bot.messaging import questions, texts
from bot.services.clinic.instruments import check
from handlers import common
from sandbox import BotApiSandbox
from storage import patients as patient_store
from storage.models import AuditEvent, Case
from storage.patients import get_patient, set_language
from storage.states import Actor, ActorKind
from tests.auxil.databases import IsolatedDatabase
from tests.auxil.harness import RunningBot, make_clinics, rehearsal_clinic, running_bot
from tests.auxil.journey import enrolled_patient, infusions_ended_at
from tests.e2e.test_escalation_e2e import ADA, _staff

pytestmark = pytest.mark.slow

PAT = 8701
PSEUDO = "en-XA"
FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "instruments"


@pytest.fixture(autouse=True)
def pseudo_cssrs() -> Iterator[None]:
    """The test-only C-SSRS in the pseudo-locale installed: en-XA is offered."""
    content = (FIXTURE / "cssrs_screener_slc.en-XA.toml").read_text(encoding="utf-8")
    instruments.install_cssrs(PSEUDO, instruments.cssrs_from(dict(check(content).data)))
    yield
    instruments.forget_cssrs(PSEUDO)


def _say(sandbox: BotApiSandbox, user_id: int, text: str, language_code: str) -> int:
    """A message from a user whose Telegram app is set to `language_code`."""
    chat = sandbox.state.chats[user_id]
    message: dict[str, Any] = {
        "message_id": chat.allocate_id(),
        "from": {
            "id": user_id,
            "is_bot": False,
            "first_name": "Pat",
            "language_code": language_code,
        },
        "chat": {"id": user_id, "type": "private", "first_name": "Pat"},
        "date": int(time.time()),
        "text": text,
    }
    if text.startswith("/"):
        message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(text)}]
    chat.messages[message["message_id"]] = message
    return sandbox.enqueue_update({"message": message})


def _in(speaking: str, text: str, **values: str) -> str:
    with use_language(speaking):
        return _(text).format(**values)


async def _patient(bot: RunningBot, patient_id: int) -> Any:
    async with bot.ctx.db.transaction() as session:
        return await get_patient(session, patient_id=patient_id)


async def test_language_is_recorded_once_chosen_confirmed_and_forgeries_refused(
    sandbox: BotApiSandbox, test_db: IsolatedDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    written: list[str | None] = []

    async def spy(session: Any, *, patient: Any, language_code: str | None) -> bool:
        changed = await patient_store.record_telegram_language(
            session, patient=patient, language_code=language_code
        )
        if changed:
            written.append(language_code)
        return changed

    monkeypatch.setattr(common, "record_telegram_language", spy)
    async with running_bot(sandbox, test_db) as bot:
        patient_id = await enrolled_patient(bot, PAT, "P-87", infusion=False)
        _say(sandbox, PAT, "/language", "pt-BR")
        first = await sandbox.wait_for_message(PAT, "Which language")
        _say(sandbox, PAT, "/language", "pt-BR")
        await sandbox.wait_for_message(PAT, "Which language", after=first["message_id"])
        assert written == ["pt-BR"]  # one UPDATE, only when it changed
        assert (await _patient(bot, patient_id)).telegram_language == "pt-BR"

        rows = first["reply_markup"]["inline_keyboard"]
        data = [b["callback_data"] for row in rows for b in row]
        assert f"lang:{PSEUDO}" in data and "lang:en" in data and "lang:default" in data
        assert all(len(d.encode()) <= 64 for d in data)
        sandbox.tap(PAT, first["message_id"], data=f"lang:{PSEUDO}")
        confirm = _in(
            PSEUDO, "From now on I write to you in {language}.", language="Pseudo-locale (en-XA)"
        )
        await sandbox.wait_for_message(PAT, confirm)
        assert (await _patient(bot, patient_id)).language == PSEUDO
        async with bot.ctx.db.transaction() as session:
            events = await session.scalars(
                select(AuditEvent).where(col(AuditEvent.event) == "patient.language")
            )
            assert [e.actor for e in events.all()] == [f"patient:{patient_id}"]

        query = sandbox.tap(PAT, first["message_id"], data="lang:xx", forge=True)
        refused = _in(
            PSEUDO, "That language cannot be chosen now. Send /language to see the ones offered."
        )
        call = await sandbox.wait_for_call(
            "answerCallbackQuery", lambda c: c.params.get("callback_query_id") == query
        )
        assert call.params.get("text") == refused and call.params.get("show_alert") in (
            True,
            "true",
        )
        assert (await _patient(bot, patient_id)).language == PSEUDO  # unchanged


async def test_a_pseudo_locale_patient_is_written_to_in_it_and_the_page_stays_english(
    sandbox: BotApiSandbox, test_db: IsolatedDatabase
) -> None:
    async with running_bot(sandbox, test_db, clinics=make_clinics(rehearsal_clinic())) as bot:
        await _staff(bot, roster=True)
        patient_id = await enrolled_patient(bot, PAT, "P-88", infusion=False)
        async with bot.ctx.db.transaction() as session:
            patient = await get_patient(session, patient_id=patient_id)
            assert patient is not None
            await set_language(
                session,
                patient=patient,
                language=PSEUDO,
                actor=Actor.of(ActorKind.CLI),
                now=bot.ctx.clock.now(),
            )
        sandbox.send_text(PAT, "I want to kill myself")
        page = await sandbox.wait_for_message(ADA, "priority — case #", timeout=8)
        assert "Patient reads Pseudo-locale (en-XA)." in page["text"]
        assert "Patient: P-88" in page["text"]  # the clinician's page: English
        async with bot.ctx.db.transaction() as session:
            case = (await session.scalars(select(Case))).one()
        clinic = bot.ctx.clinics.clinics[0]
        with use_language(PSEUDO):
            notice = texts.paged_notice(clinic, Level(case.level), about="message")
        assert notice != texts.paged_notice(clinic, Level(case.level), about="message")
        await sandbox.wait_for_message(PAT, notice[:60], timeout=8)  # the pager's, in en-XA

        await infusions_ended_at(bot, [patient_id], ended_at=bot.ctx.clock.now())
        with use_language(PSEUDO):
            mood = questions.question_text(checkin_flow.MOOD)
        assert mood != questions.question_text(checkin_flow.MOOD)
        question = await sandbox.wait_for_message(PAT, mood, timeout=10)  # the dispatcher's
        assert questions.question_text(checkin_flow.MOOD) not in question["text"]


async def test_the_patients_menu_is_set_per_language_at_start(
    sandbox: BotApiSandbox, test_db: IsolatedDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("bot.app.menu_languages", lambda: ("es", "pt"))
    async with running_bot(sandbox, test_db):
        for code in ("es", "pt"):
            await sandbox.wait_for_call(
                "setMyCommands", lambda c, code=code: c.params.get("language_code") == code
            )
        default = [
            c for c in sandbox.calls_to("setMyCommands") if not c.params.get("language_code")
        ]
        assert default, "the default menu is set too"

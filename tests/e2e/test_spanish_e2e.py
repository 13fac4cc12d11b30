"""A Spanish-reading patient, end to end over the sandbox (issue 29): enrolled in Spanish, they
consent, answer a check-in with a Yes, get the crisis card, the paged notice and their safety
plan, and ask for /plan, all in Spanish; the clinician's page stays English and says the
patient reads Spanish. The C-SSRS part comes from a TEST-ONLY instrument file (the English
items accented, marked as a fixture, installed for "es" through the real install path):
Aftercare never ships nor makes up a Spanish C-SSRS."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bot.clinic_defaults import DEFAULT_CRISIS_CARDS
from bot.domain import checkin_flow, instruments
from bot.i18n import _, use_language
from bot.messaging import questions, texts
from bot.messaging import safety_plan as plan_texts
from bot.services.clinic.instruments import install, load_installed
from bot.services.enrollment import enroll_patient
from sandbox import BotApiSandbox
from tests.auxil.databases import IsolatedDatabase
from tests.auxil.harness import make_clinics, rehearsal_clinic, running_bot
from tests.auxil.journey import answer, infusions_ended_at, noon_zone
from tests.e2e.test_escalation_e2e import ADA, _staff
from tests.e2e.test_safety_plan_e2e import PLAN, _save

pytestmark = pytest.mark.slow

PAT = 8801
FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "instruments"
TOKEN = re.compile(r"start=([A-Za-z0-9_-]+)")


@pytest.fixture(autouse=True)
def no_translation_left_behind() -> Iterator[None]:
    yield
    instruments.forget_cssrs("es")


def _test_file_for_spanish() -> str:
    """The pseudo-locale fixture relabelled "es": still TEST ONLY, still accented English."""
    content = (FIXTURE / "cssrs_screener_slc.en-XA.toml").read_text(encoding="utf-8")
    assert "test_only = true" in content and 'language = "en-XA"' in content
    return content.replace('language = "en-XA"', 'language = "es"')


def es(text: str, **values: Any) -> str:
    with use_language("es"):
        return _(text).format(**values) if values else _(text)


async def test_a_spanish_reader_goes_through_consent_a_positive_screen_and_plan_in_spanish(
    sandbox: BotApiSandbox, test_db: IsolatedDatabase
) -> None:
    reminders = '[clinics.checkins]\nreminder_after = "PT3S"\nmissed_after = "PT30S"\n'
    clinics = make_clinics(rehearsal_clinic(extra=reminders))
    async with running_bot(sandbox, test_db, clinics=clinics) as bot:
        ctx = bot.ctx
        clinic = ctx.clinics.clinics[0]
        await _staff(bot, roster=True)
        async with ctx.db.transaction() as session:
            await install(
                session,
                content=_test_file_for_spanish(),
                installed_by="test suite",
                now=ctx.clock.now(),
            )
            assert "es" in await load_installed(session)
            patient, token = await enroll_patient(
                session,
                clinic=clinic,
                ref="P-ES",
                timezone=noon_zone(datetime.now(UTC)),
                baseline_mood=None,
                emergency_contact=None,
                now=ctx.clock.now(),
                actor="cli",
                language="es",
            )
        assert patient.id is not None and patient.language == "es"

        # consent, in Spanish (an English Telegram app changes nothing: the setting wins)
        sandbox.add_user(PAT, "Pat")
        sandbox.send_text(PAT, f"/start {token}")
        with use_language("es"):
            screen_text = texts.consent_screen(clinic)
            agree = _(texts.AGREE)
        screen = await sandbox.wait_for_message(PAT, screen_text[:50], timeout=10)
        assert "Do you agree?" not in screen["text"]
        sandbox.tap(PAT, screen["message_id"], button_text=agree)
        with use_language("es"):
            given = texts.consent_given(clinic)
        await sandbox.wait_for_message(PAT, given[:40], timeout=10)

        # a check-in with a Yes on intent: the questions, the card, the notice and the plan
        await _save(bot, patient.id, PLAN)
        await infusions_ended_at(bot, [patient.id], ended_at=ctx.clock.now())
        with use_language("es"):
            mood = questions.question_text(checkin_flow.MOOD).split("\n")[0][:30]
            yes, no = texts.answer_text("s1", "yes"), texts.answer_text("s1", "no")
            item = {i: instruments.item(i, "es").text[:30] for i in ("s1", "s2", "s3", "s4")}
            heading = _(plan_texts.HEADING)
        assert yes != "Yes" and mood not in questions.question_text(checkin_flow.MOOD)
        await answer(sandbox, PAT, mood, "3", wait=10)
        await answer(sandbox, PAT, item["s1"], yes)
        await answer(sandbox, PAT, item["s2"], yes)
        await answer(sandbox, PAT, item["s3"], no)
        await answer(sandbox, PAT, item["s4"], yes)

        card = DEFAULT_CRISIS_CARDS["es"].splitlines()[0][:40]
        await sandbox.wait_for_message(PAT, card, timeout=10)  # the US Spanish card (988, 2)
        page = await sandbox.wait_for_message(ADA, "priority — case #", timeout=10)
        assert "Patient reads Spanish (es)." in page["text"]
        assert "Patient: P-ES" in page["text"]  # the clinician's page, in English
        step = await sandbox.wait_for_message(PAT, f"{heading} — ", timeout=10)
        assert "Pulling away from people" in step["text"]  # the plan is in the patient's words

        last = sandbox.chat(PAT)[-1]["message_id"]
        sandbox.send_text(PAT, "/plan")
        again = await sandbox.wait_for_message(PAT, f"{heading} — ", after=last, timeout=10)
        assert "Your safety plan" not in again["text"]

        # item 5 left unanswered: the dispatcher's reminder, its text and its buttons in Spanish
        with use_language("es"):
            reminder = _(texts.REMINDER)
        nudge = await sandbox.wait_for_message(PAT, reminder[:30], timeout=15)
        labels = [b["text"] for row in nudge["reply_markup"]["inline_keyboard"] for b in row]
        assert labels == [yes, no], labels

        said = "\n".join(m.get("text") or "" for m in sandbox.chat(PAT))
        for english in ("Do you agree?", "How is your mood", "Your safety plan", "Yes", "Call"):
            assert english not in said, english

"""/enroll REF [ZONE] [LANG] over the sandbox (issue 29): a language whose C-SSRS translation
is not installed is refused naming what is missing, and nothing is stored; once a (test-only)
translation is installed the patient is invited in it and the clinician is told what the
patient reads. Malformed input gets the usage line."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bot.domain import instruments
from bot.services.clinic.instruments import install, load_installed
from sandbox import BotApiSandbox
from storage.patients import patient_by_ref
from tests.auxil.databases import IsolatedDatabase
from tests.auxil.harness import make_clinics, rehearsal_clinic, running_bot
from tests.e2e.test_escalation_e2e import ADA, _staff
from tests.e2e.test_spanish_e2e import _test_file_for_spanish


@pytest.fixture(autouse=True)
def no_translation_left_behind() -> Iterator[None]:
    yield
    instruments.forget_cssrs("es")


async def _said(sandbox: BotApiSandbox, text: str, expect: str) -> str:
    last = sandbox.last_message(ADA)
    after = int(last["message_id"]) if last else 0
    sandbox.send_text(ADA, text)
    reply = await sandbox.wait_for_message(ADA, expect, after=after, timeout=10)
    return str(reply["text"])


async def test_enroll_names_the_language_or_what_is_missing(
    sandbox: BotApiSandbox, test_db: IsolatedDatabase
) -> None:
    async with running_bot(sandbox, test_db, clinics=make_clinics(rehearsal_clinic())) as bot:
        ctx = bot.ctx
        clinic = ctx.clinics.clinics[0]
        await _staff(bot, roster=False)

        refused = await _said(sandbox, "/enroll P-20 - es", "Not enrolled")
        assert "Spanish" in refused and "no C-SSRS translation is installed" in refused
        async with ctx.db.transaction() as session:
            assert await patient_by_ref(session, clinic_id=clinic.id, ref="P-20") is None

        usage = await _said(sandbox, "/enroll P-20 - es extra", "Usage: /enroll REF")
        assert "[LANG]" in usage

        async with ctx.db.transaction() as session:
            await install(
                session,
                content=_test_file_for_spanish(),
                installed_by="test suite",
                now=ctx.clock.now(),
            )
            assert "es" in await load_installed(session)  # as the settings poll loads it
        invited = await _said(sandbox, "/enroll P-20 - es", "invited")
        assert f"P-20 ({clinic.timezone}) invited" in invited
        assert "Patient reads Spanish (es)." in invited
        berlin = await _said(sandbox, "/enroll P-21 Europe/Berlin es", "invited")
        assert "P-21 (Europe/Berlin) invited" in berlin
        english = await _said(sandbox, "/enroll P-22 UTC", "invited")
        assert "Patient reads" not in english
        async with ctx.db.transaction() as session:
            stored = {
                ref: (await patient_by_ref(session, clinic_id=clinic.id, ref=ref))
                for ref in ("P-20", "P-21", "P-22")
            }
        assert {ref: p.language if p else "missing" for ref, p in stored.items()} == {
            "P-20": "es",
            "P-21": "es",
            "P-22": None,
        }

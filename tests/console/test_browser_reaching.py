"""Reaching the patient, end to end (issue 26): a high case over the sandbox Bot API and the
console in headless Chromium. The clinician records the patient's phone and emergency contact
and sees them as `tel:` links on the case, writes to the patient (who reads it in Telegram as
from the care team), sees the reply in the case thread and in their own Telegram, sees a reply
with crisis words re-open the acknowledged case and page again, logs "reached", resolves, and
finds the case's four durations on the Response times page."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import select

from bot.services.oncall import add_shift
from sandbox import BotApiSandbox
from storage.models import Case, Outreach
from storage.states import CLI, CaseStatus, OutreachOutcome
from tests.auxil.console import console_bot, join, link_for
from tests.auxil.databases import IsolatedDatabase
from tests.auxil.harness import make_clinics, rehearsal_clinic
from tests.auxil.journey import enrolled_patient, report_intent
from tests.console.conftest import NEEDS_CHROMIUM, press, shot

ADA, PAT = 7001, 8601

pytestmark = NEEDS_CHROMIUM


async def test_a_high_case_from_page_to_patient_reached_in_the_browser(
    sandbox: BotApiSandbox, test_db: IsolatedDatabase, browser: object
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import Select, WebDriverWait

    driver = browser
    wait = WebDriverWait(driver, 20)  # type: ignore[arg-type]

    clinic = rehearsal_clinic(red_flags=False)
    async with console_bot(sandbox, test_db, clinics=make_clinics(clinic)) as app:
        ctx = app.bot.ctx
        await join(app, ADA, "Dr Ada")
        now = ctx.clock.now()
        async with ctx.db.transaction() as session:
            await add_shift(
                session,
                clinic=ctx.clinic("north"),
                clinician_name="Dr Ada",
                starts_at=now - timedelta(minutes=1),
                ends_at=now + timedelta(hours=8),
                now=now,
                actor=CLI,
            )
        await enrolled_patient(app.bot, PAT, "P-7")
        await report_intent(sandbox, PAT)
        page = await sandbox.wait_for_message(ADA, "HIGH priority", timeout=10)
        async with ctx.db.transaction() as session:
            case = await session.scalar(select(Case))
        assert case is not None and case.id is not None
        case_id = case.id
        link = await link_for(app, ADA)

        def records_contact_and_sees_it_on_the_case() -> tuple[str, str, str]:
            driver.get(link)  # type: ignore[attr-defined]
            press(driver, "sign-in")
            wait.until(ec.presence_of_element_located((By.ID, "queue")))
            driver.get(f"{app.base}/patients/P-7")  # type: ignore[attr-defined]
            driver.find_element(By.CSS_SELECTOR, "#contact-edit summary").click()  # type: ignore[attr-defined]
            for field, value in (
                ("f-phone", "+44 20 7946 0018"),
                ("f-emergency_name", "Sam Doe"),
                ("f-emergency_relation", "sister"),
                ("f-emergency_phone", "+44 20 7946 0000"),
            ):
                box = driver.find_element(By.ID, field)  # type: ignore[attr-defined]
                box.clear()
                box.send_keys(value)
            press(driver, "contact-save")
            wait.until(ec.presence_of_element_located((By.ID, "contact-phone")))
            driver.get(f"{app.base}/cases/{case_id}")  # type: ignore[attr-defined]
            press(driver, f"ack-{case_id}")  # the on-call clinician takes the case
            wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, ".notice")))
            phone = wait.until(ec.presence_of_element_located((By.ID, "contact-phone")))
            sister = driver.find_element(By.ID, "contact-emergency-phone")  # type: ignore[attr-defined]
            local = driver.find_element(By.ID, "contact-local-time").text  # type: ignore[attr-defined]
            shot(driver, "reaching-case")
            return phone.get_attribute("href"), sister.get_attribute("href"), local

        phone, sister, local = await asyncio.to_thread(records_contact_and_sees_it_on_the_case)
        assert phone == "tel:+442079460018" and sister == "tel:+442079460000"
        assert local.startswith("It is ") and "for the patient" in local

        def writes_to_the_patient() -> None:
            box = driver.find_element(By.ID, "message-text")  # type: ignore[attr-defined]
            box.send_keys("This is Dr Ada. Can I call you now?")
            press(driver, "message-send")
            wait.until(ec.text_to_be_present_in_element((By.ID, "thread"), "delivered"))

        await asyncio.to_thread(writes_to_the_patient)
        got = await sandbox.wait_for_message(PAT, "Can I call you now?", timeout=10)
        assert got["text"].startswith("Dr Ada, North Clinic: ")

        sandbox.send_text(PAT, "Yes please, I'm at home")
        await sandbox.wait_for_message(ADA, "at home", after=page["message_id"], timeout=10)

        def sees_the_reply_in_the_thread() -> None:
            wait.until(ec.text_to_be_present_in_element((By.ID, "thread"), "I'm at home"))
            shot(driver, "reaching-thread")

        await asyncio.to_thread(sees_the_reply_in_the_thread)

        before = len(sandbox.chat(ADA))
        sandbox.send_text(PAT, "actually I want to kill myself tonight")
        await _new_page(sandbox, ADA, before, case_id)  # the acknowledged case re-opens, pages
        await sandbox.wait_for_message(PAT, "988", timeout=10)  # the crisis card
        async with ctx.db.transaction() as session:
            reopened = await session.get(Case, case_id, populate_existing=True)
        assert reopened is not None and reopened.status == CaseStatus.OPEN

        def logs_reached_and_resolves() -> str:
            driver.get(f"{app.base}/cases/{case_id}")  # type: ignore[attr-defined]
            Select(driver.find_element(By.ID, "f-method")).select_by_value("phone")  # type: ignore[attr-defined]
            Select(driver.find_element(By.ID, "f-outcome")).select_by_value("reached")  # type: ignore[attr-defined]
            press(driver, f"log-{case_id}")
            note = wait.until(ec.presence_of_element_located((By.ID, f"note-{case_id}")))
            note.send_keys("Phoned her; safe at home with her sister; seen tomorrow 09:00")
            press(driver, f"resolve-{case_id}")
            wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, ".notice")))
            driver.get(f"{app.base}/response-times")  # type: ignore[attr-defined]
            row = wait.until(ec.presence_of_element_located((By.ID, "response-cases")))
            shot(driver, "reaching-response-times")
            return str(row.text)

        table = await asyncio.to_thread(logs_reached_and_resolves)
        async with ctx.db.transaction() as session:
            done = await session.get(Case, case_id, populate_existing=True)
            attempts = (await session.scalars(select(Outreach))).all()
        assert done is not None and done.status == CaseStatus.RESOLVED
        assert [a.outcome for a in attempts] == [OutreachOutcome.REACHED]
        line = next(line for line in table.splitlines() if line.startswith(f"#{case_id}"))
        assert "P-7" in line and "HIGH" in line
        assert "—" not in line, f"a duration is missing: {line}"  # all four measured
        await sandbox.wait_for_message(PAT, "clinic hours", timeout=10)


async def _new_page(sandbox: BotApiSandbox, chat: int, before: int, case_id: int) -> None:
    """The on-call clinician gets a page of the case again (its crisis words), within 10 s."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10
    while True:
        later = sandbox.chat(chat)[before:]
        if any(
            f"case #{case_id}" in (m.get("text") or "") and "priority" in (m.get("text") or "")
            for m in later
        ):
            return
        assert loop.time() < deadline, [m.get("text") for m in later]
        await asyncio.sleep(0.05)

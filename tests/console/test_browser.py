"""The console in a real browser: Debian's Chromium, headless, driven through chromedriver.

Signs in through a link from /console, sees a new case appear without reloading, acknowledges
it, resolves it with a note, opens the patient's timeline and checks the chart is drawn.
Screenshots of each page go to test-artifacts/console/ (git-ignored).
"""

from __future__ import annotations

import asyncio

from sqlalchemy import select

from sandbox import BotApiSandbox
from storage.models import Case
from storage.states import CaseStatus
from tests.auxil.console import console_bot, join, link_for, patient_with_case
from tests.auxil.databases import IsolatedDatabase
from tests.console.conftest import NEEDS_CHROMIUM, press, shot
from tests.console.test_patients_routes import _history

ADA = 7001

pytestmark = NEEDS_CHROMIUM


async def test_a_clinician_works_a_case_in_the_browser(
    sandbox: BotApiSandbox, test_db: IsolatedDatabase, browser: object
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    driver = browser
    wait = WebDriverWait(driver, 20)  # type: ignore[arg-type]
    async with console_bot(sandbox, test_db) as app:
        await join(app, ADA, "Dr Ada")
        link = await link_for(app, ADA)

        def sign_in() -> str:
            driver.get(link)  # type: ignore[attr-defined]
            shot(driver, "signin")
            driver.find_element(By.ID, "sign-in").click()  # type: ignore[attr-defined]
            wait.until(ec.presence_of_element_located((By.ID, "queue")))
            # A marker that a reload would wipe.
            driver.execute_script("window.__stayed = 'yes';")  # type: ignore[attr-defined]
            return driver.find_element(By.ID, "queue-count").text  # type: ignore[attr-defined]

        assert "No open cases" in await asyncio.to_thread(sign_in)

        patient, case = await patient_with_case(app, "P-042")
        await _history(app, patient)

        def sees_the_new_case() -> str:
            card = wait.until(ec.presence_of_element_located((By.ID, f"case-{case.id}")))
            assert driver.execute_script("return window.__stayed;") == "yes"  # type: ignore[attr-defined]
            wait.until(ec.text_to_be_present_in_element((By.ID, f"case-{case.id}"), "delivered"))
            shot(driver, "queue")
            driver.set_window_size(390, 844)  # type: ignore[attr-defined]
            shot(driver, "queue-phone")
            driver.set_window_size(1200, 1400)  # type: ignore[attr-defined]
            return str(card.text)

        text = await asyncio.to_thread(sees_the_new_case)
        assert "HIGH" in text and "P-042" in text and "I keep thinking about it" in text

        def acknowledges() -> str:
            driver.find_element(By.ID, f"ack-{case.id}").click()  # type: ignore[attr-defined]
            notice = wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, ".notice")))
            return str(notice.text)

        assert f"You acknowledged case #{case.id}" in await asyncio.to_thread(acknowledges)
        assert (await _status(app, case.id)) == CaseStatus.ACKNOWLEDGED

        def logs_the_call() -> str:
            """She phoned the patient and reached her: logged before resolving (CLINICAL.md
            §10: a high case is resolved once the patient was reached, or with the reason)."""
            from selenium.webdriver.support.ui import Select

            driver.get(f"{app.base}/cases/{case.id}")  # type: ignore[attr-defined]
            Select(driver.find_element(By.ID, "f-method")).select_by_value("phone")  # type: ignore[attr-defined]
            Select(driver.find_element(By.ID, "f-outcome")).select_by_value("reached")  # type: ignore[attr-defined]
            button = driver.find_element(By.ID, f"log-{case.id}")  # type: ignore[attr-defined]
            driver.execute_script("arguments[0].click();", button)  # type: ignore[attr-defined]  # under the sticky bar
            notice = wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, ".notice")))
            return str(notice.text)

        assert "The contact attempt is recorded" in await asyncio.to_thread(logs_the_call)

        def resolves() -> str:
            driver.get(f"{app.base}/cases/{case.id}")  # type: ignore[attr-defined]
            note = driver.find_element(By.ID, f"note-{case.id}")  # type: ignore[attr-defined]
            note.send_keys("Phoned her; safe at home with her sister; seen tomorrow 09:00")
            shot(driver, "case")
            press(
                driver, f"resolve-{case.id}"
            )  # the form ends the page: Simple.css scrolls smoothly
            notice = wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, ".notice")))
            return str(notice.text)

        assert "This case is resolved" in await asyncio.to_thread(resolves)
        assert (await _status(app, case.id)) == CaseStatus.RESOLVED

        def timeline() -> dict[str, float]:
            driver.find_element(By.LINK_TEXT, "P-042").click()  # type: ignore[attr-defined]
            chart = wait.until(
                ec.presence_of_element_located((By.CSS_SELECTOR, "figure.chart svg[role=img]"))
            )
            shot(driver, "timeline")
            box = driver.execute_script(  # type: ignore[attr-defined]
                """
                const svg = arguments[0];
                const line = svg.querySelector('[id$="mood-line"] path');
                const r = svg.getBoundingClientRect();
                return {width: r.width, height: r.height,
                        line: line ? line.getTotalLength() : 0,
                        title: svg.querySelector('title') ? 1 : 0};
                """,
                chart,
            )
            return dict(box)

        drawn = await asyncio.to_thread(timeline)
        assert drawn["width"] > 300 and drawn["height"] > 100
        assert drawn["line"] > 50  # the mood line is a drawn path, not an empty group
        assert drawn["title"] == 1

        def patients_list() -> str:
            driver.get(f"{app.base}/patients")  # type: ignore[attr-defined]
            shot(driver, "patients")
            return str(driver.find_element(By.TAG_NAME, "table").text)  # type: ignore[attr-defined]

        assert "P-042" in await asyncio.to_thread(patients_list)


async def _status(app: object, case_id: int | None) -> str:
    async with app.bot.ctx.db.transaction() as session:  # type: ignore[attr-defined]
        case = (await session.scalars(select(Case).where(Case.id == case_id))).one()
    return case.status

"""A clinician writes a patient's safety plan in the console, in headless Chromium (issue 27):
the six steps in the patient's words, a first save that is not active (no help contact with a
number), then a second version that is, its contacts as `tel:` links, the older version kept,
and the printable page."""

from __future__ import annotations

import asyncio

from sqlalchemy import select

from sandbox import BotApiSandbox
from storage.models import SafetyPlan
from tests.auxil.console import console_bot, join, link_for, patient_with_case
from tests.auxil.databases import IsolatedDatabase
from tests.console.conftest import NEEDS_CHROMIUM, press, shot

ADA = 7001

pytestmark = NEEDS_CHROMIUM

FIRST = {
    "step1": "Not sleeping\nPulling away from friends",
    "step2": "Walk the dog\nMusic",
    "step3": "Coffee shop on Main Street",
    "step4": "Sam (sister)",  # no number yet: the plan cannot be active
    "step5": "North Clinic +44 20 7946 0100\nCrisis line 988",
    "step6": "Medicines kept by Sam",
}


async def test_a_clinician_writes_a_safety_plan_in_the_browser(
    sandbox: BotApiSandbox, test_db: IsolatedDatabase, browser: object
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    driver = browser
    wait = WebDriverWait(driver, 20)  # type: ignore[arg-type]

    def fill(steps: dict[str, str]) -> None:
        for field, text in steps.items():
            box = driver.find_element(By.ID, f"plan-{field}")  # type: ignore[attr-defined]
            driver.execute_script("arguments[0].value = arguments[1];", box, text)  # type: ignore[attr-defined]

    async with console_bot(sandbox, test_db) as app:
        await join(app, ADA, "Dr Ada")
        await patient_with_case(app, "P-21")
        link = await link_for(app, ADA)

        def writes_a_plan_missing_a_help_contact() -> str:
            driver.get(link)  # type: ignore[attr-defined]
            press(driver, "sign-in")
            wait.until(ec.presence_of_element_located((By.ID, "queue")))
            driver.get(f"{app.base}/patients/P-21")  # type: ignore[attr-defined]
            assert "No safety plan yet" in driver.find_element(By.ID, "plan-none").text  # type: ignore[attr-defined]
            fill(FIRST)
            press(driver, "plan-save")
            version = wait.until(ec.presence_of_element_located((By.ID, "plan-version")))
            return str(version.text)

        first = await asyncio.to_thread(writes_a_plan_missing_a_help_contact)
        assert "Version 1" in first and "Not active" in first and "4" in first

        def adds_the_number_and_saves_again() -> tuple[str, list[str]]:
            fill({**FIRST, "step4": "Sam (sister) +44 20 7946 0000"})
            press(driver, "plan-save")
            wait.until(ec.text_to_be_present_in_element((By.ID, "plan-version"), "Version 2"))
            shot(driver, "safety-plan")
            steps = driver.find_element(By.ID, "plan-steps")  # type: ignore[attr-defined]
            links = [a.get_attribute("href") for a in steps.find_elements(By.TAG_NAME, "a")]
            return str(driver.find_element(By.ID, "plan-version").text), links  # type: ignore[attr-defined]

        second, links = await asyncio.to_thread(adds_the_number_and_saves_again)
        assert "Active" in second and "Not active" not in second
        assert "tel:+442079460000" in links and "tel:+442079460100" in links

        def prints_it() -> str:
            driver.get(f"{app.base}/patients/P-21/plan/print")  # type: ignore[attr-defined]
            shot(driver, "safety-plan-print")
            return str(driver.find_element(By.TAG_NAME, "body").text)  # type: ignore[attr-defined]

        printed = await asyncio.to_thread(prints_it)
        assert "Walk the dog" in printed and "Sam (sister)" in printed
        async with app.bot.ctx.db.transaction() as session:
            versions = (
                await session.scalars(select(SafetyPlan).order_by(SafetyPlan.version))
            ).all()
        assert [(v.version, v.active) for v in versions] == [(1, False), (2, True)]

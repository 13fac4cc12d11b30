"""The monthly report in Chromium: axe-core finds no violation on screen, and printed
(`Page.printToPDF`) it is one short PDF without the navigation, the menu or buttons, its
tables and chart shown."""

from __future__ import annotations

import asyncio
import base64
import re
from typing import Any

import pytest

from sandbox import BotApiSandbox
from tests.auxil.console import console_bot, join, link_for
from tests.auxil.databases import IsolatedDatabase
from tests.console.conftest import ARTIFACTS, NEEDS_CHROMIUM
from tests.console.test_browser_sweep import _axe
from tests.console.test_monthly_report_routes import ADA, SAM, _seed

pytestmark = NEEDS_CHROMIUM

SHOWN = (
    "return [...document.querySelectorAll(arguments[0])]"
    ".map(e => getComputedStyle(e).display !== 'none' && e.getClientRects().length > 0);"
)


async def test_the_report_passes_axe_and_prints_as_one_clean_pdf(
    sandbox: BotApiSandbox, test_db: IsolatedDatabase, browser: object
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    if test_db.url.startswith("postgresql"):
        pytest.skip("layout and printing are the same on either database: SQLite's run")
    driver: Any = browser
    driver.set_script_timeout(30)
    async with console_bot(sandbox, test_db) as app:
        await join(app, ADA, "Dr Ada")
        await join(app, SAM, "Dr Sam", clinic="south")
        seeded = await _seed(app)
        link = await link_for(app, ADA)

        def look() -> tuple[list[dict[str, Any]], dict[str, list[bool]], bytes]:
            driver.get(link)
            driver.find_element(By.ID, "sign-in").click()
            WebDriverWait(driver, 20).until(ec.presence_of_element_located((By.ID, "queue")))
            driver.get(f"{app.base}/report?month={seeded.month}")
            WebDriverWait(driver, 20).until(
                ec.presence_of_element_located((By.ID, "mood-series-chart"))
            )
            violations = _axe(driver)
            driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": "print"})
            shown = {
                what: driver.execute_script(SHOWN, what)
                for what in ("header.top", "nav", "details.menu", "button", "form",
                             "table.data", "#mood-series-chart", "h1")
            }  # fmt: skip
            driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": ""})
            printed = driver.execute_cdp_cmd(
                "Page.printToPDF", {"printBackground": False, "preferCSSPageSize": True}
            )
            return violations, shown, base64.b64decode(printed["data"])

        violations, shown, pdf = await asyncio.to_thread(look)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "monthly-report.pdf").write_bytes(pdf)
    assert violations == [], violations
    for hidden in ("header.top", "nav", "details.menu", "button", "form"):
        assert shown[hidden] and not any(shown[hidden]), (hidden, shown[hidden])
    for kept in ("table.data", "#mood-series-chart", "h1"):
        assert shown[kept] and all(shown[kept]), (kept, shown[kept])
    assert len(shown["table.data"]) == 6
    assert pdf.startswith(b"%PDF")
    pages = len(re.findall(rb"/Type\s*/Page(?!s)", pdf))
    assert 1 <= pages <= 6, pages

"""The roster and the team on a phone (390x844, Debian's Chromium, headless): a failed Add shift
opens at its error summary, no page is wider than the screen, the week comes as day cards
before which the gaps and the form stand, and axe finds nothing in the page's own content."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

from sandbox import BotApiSandbox
from tests.auxil.console import console_bot, join, link_for
from tests.auxil.databases import IsolatedDatabase
from tests.auxil.harness import make_clinics
from tests.console.conftest import NEEDS_CHROMIUM, press, shot
from tests.console.test_roster_routes import CLINICS

ADMIN, BEN = 7001, 7002
AXE = Path(__file__).parent / "vendor" / "axe.min.js"

pytestmark = NEEDS_CHROMIUM


def _axe_violations(driver: object) -> list[str]:
    """axe-core's violations in <main> (the page's own content), as 'rule: target' lines."""
    driver.execute_script(AXE.read_text())  # type: ignore[attr-defined]
    found = driver.execute_async_script(  # type: ignore[attr-defined]
        "const done = arguments[arguments.length - 1];"
        "axe.run(document.querySelector('main')).then(r => done(r.violations.map("
        "v => v.id + ': ' + v.nodes.map(n => n.target.join(' ')).join(', '))));"
    )
    return list(found)


async def test_on_a_phone_a_failed_shift_opens_at_its_summary_and_nothing_is_too_wide(
    sandbox: BotApiSandbox, test_db: IsolatedDatabase, browser: object
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    driver = browser
    wait = WebDriverWait(driver, 20)  # type: ignore[arg-type]

    def js(script: str, *args: object) -> object:
        return driver.execute_script(script, *args)  # type: ignore[attr-defined]

    async with console_bot(sandbox, test_db, clinics=make_clinics(CLINICS)) as app:
        ctx = app.bot.ctx
        await join(app, ADMIN, "Admin Ada")
        await join(app, BEN, "Dr Ben")
        link = await link_for(app, ADMIN)
        zone = ctx.clinic("north").zone
        starts = (ctx.clock.now() + timedelta(days=1)).astimezone(zone)
        ends = starts - timedelta(hours=1)

        def on_a_phone() -> dict[str, object]:
            driver.set_window_size(390, 844)  # type: ignore[attr-defined]
            driver.get(link)  # type: ignore[attr-defined]
            driver.find_element(By.ID, "sign-in").click()  # type: ignore[attr-defined]
            wait.until(ec.presence_of_element_located((By.ID, "queue")))
            seen: dict[str, object] = {}
            driver.get(f"{app.base}/roster")  # type: ignore[attr-defined]
            seen["roster_wide"] = js("return [document.documentElement.scrollWidth, innerWidth]")
            seen["grid_shown"] = js("return document.getElementById('roster').offsetParent")
            seen["cards_top"] = js("return document.getElementById('roster-days').offsetTop")
            seen["form_top"] = js("return document.getElementById('add-shift').offsetTop")
            seen["roster_axe"] = _axe_violations(driver)
            for field, value in (("f-starts_at", starts), ("f-ends_at", ends)):
                js(
                    "arguments[0].value = arguments[1];",
                    driver.find_element(By.ID, field),  # type: ignore[attr-defined]
                    value.strftime("%Y-%m-%dT%H:%M"),
                )
            press(driver, "add-shift-submit")
            wait.until(ec.presence_of_element_located((By.ID, "error-summary")))
            # console.js focuses it; the page scrolls there (smoothly: wait for it to arrive)
            inside = (
                "const r = document.getElementById('error-summary').getBoundingClientRect();"
                "return 0 <= r.top && r.bottom <= innerHeight;"
            )
            wait.until(lambda _: js(inside))
            seen["summary"] = js(
                "const r = document.getElementById('error-summary').getBoundingClientRect();"
                "return [r.top, r.bottom, innerHeight, document.activeElement.id, scrollY];"
            )
            shot(driver, "roster-phone-error")
            driver.get(f"{app.base}/team")  # type: ignore[attr-defined]
            seen["team_wide"] = js("return [document.documentElement.scrollWidth, innerWidth]")
            seen["team_actions"] = js(
                "const b = document.querySelector('#team .actions button');"
                "const r = b.getBoundingClientRect();"
                "return [r.left, r.right, r.height, innerWidth];"
            )
            seen["team_axe"] = _axe_violations(driver)
            shot(driver, "team-phone")
            return seen

        seen = await asyncio.to_thread(on_a_phone)
    width, inner = seen["roster_wide"]  # type: ignore[misc]
    assert width <= inner, seen["roster_wide"]
    assert seen["grid_shown"] is None  # the hour-by-hour table gives way to day cards
    assert seen["form_top"] < seen["cards_top"]  # type: ignore[operator]
    top, bottom, height, focused, scrolled = seen["summary"]  # type: ignore[misc]
    assert 0 <= top < bottom <= height, seen["summary"]
    assert focused == "error-summary" and scrolled > 0
    width, inner = seen["team_wide"]  # type: ignore[misc]
    assert width <= inner, seen["team_wide"]
    left, right, tall, inner = seen["team_actions"]  # type: ignore[misc]
    assert 0 <= left < right <= inner and tall >= 44, seen["team_actions"]
    assert seen["roster_axe"] == [] and seen["team_axe"] == [], seen

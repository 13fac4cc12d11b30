"""Every console page in a real browser (Debian's Chromium, headless) at a phone's size
(390×844) and a desk's (1440×900): no page is wider than the screen, a case page's primary action
is in the first screen on the phone, and axe-core (vendored, injected) finds no violation of any
impact. Screenshots go to test-artifacts/console/sweep-*.png (git-ignored)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from bot.services.paging.ack_links import issue_ack_link
from sandbox import BotApiSandbox
from tests.auxil.console import console_bot, link_for
from tests.auxil.console_pages import seed_every_page
from tests.auxil.databases import IsolatedDatabase
from tests.auxil.harness import make_clinics
from tests.console.conftest import NEEDS_CHROMIUM, press, shot
from tests.console.test_settings_routes import CLINICS

ADMIN, BEN = 7001, 7002
AXE = (Path(__file__).parent / "vendor" / "axe.min.js").read_text(encoding="utf-8")
PHONE, DESK = (390, 844), (1440, 900)

pytestmark = NEEDS_CHROMIUM


def _size(driver: Any, width: int, height: int) -> None:
    """The page's viewport exactly this size, as a phone (or a desk) shows it."""
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 600},
    )


def _axe(driver: Any) -> list[dict[str, Any]]:
    """axe-core's violations on the page as it stands, each with the nodes it names."""
    if not driver.execute_script("return typeof window.axe !== 'undefined';"):
        driver.execute_script(AXE)
    result = driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "axe.run(document, {resultTypes: ['violations']})"
        ".then(r => done(JSON.stringify(r.violations.map(v => ({id: v.id, impact: v.impact,"
        " help: v.help, nodes: v.nodes.slice(0, 5).map(n => n.target.join(' '))})))))"
        ".catch(e => done(JSON.stringify([{id: 'axe-error', impact: 'critical', help: String(e),"
        " nodes: []}])));"
    )
    violations: list[dict[str, Any]] = json.loads(result)
    return violations


def _too_wide(driver: Any) -> list[str]:
    """The page's width against the viewport, and the widest elements past its right edge."""
    found: list[str] = driver.execute_script(
        "const w = document.documentElement.clientWidth;"
        "if (document.documentElement.scrollWidth <= w) return [];"
        "const out = ['scrollWidth ' + document.documentElement.scrollWidth + ' > ' + w];"
        "for (const el of document.querySelectorAll('body *')) {"
        "  const r = el.getBoundingClientRect();"
        "  if (r.right > w + 1 && out.length < 8) out.push(el.tagName.toLowerCase() +"
        "    (el.id ? '#' + el.id : '') + (el.className && el.className.baseVal === undefined"
        "    ? '.' + el.className : '') + ' right=' + Math.round(r.right));"
        "}"
        "return out;"
    )
    return found


# Forms sent wrong on purpose: (page, what the script sets, the button) -> the error summary.
FAILING = [
    ("/roster", "document.getElementById('f-starts_at').value = '';", "add-shift-submit"),
    ("/settings", "document.getElementById('f-name').value = '';", "settings-save"),
    ("/export", "document.getElementById('f-since').value = '2099-01-01';", "export-button"),
]


def _check(driver: Any, what: str, width: int, problems: list[str]) -> None:
    shot(driver, f"sweep-{width}-" + (what.strip("/").replace("/", "-") or "queue"))
    for line in _too_wide(driver):
        problems.append(f"{width}px {what}: {line}")
    for v in _axe(driver):
        problems.append(
            f"{width}px {what}: axe {v['impact']} {v['id']} ({v['help']}) at {v['nodes']}"
        )


def _sweep(driver: Any, base: str, pages: list[str], problems: list[str], tag: str) -> None:
    for width, height in (PHONE, DESK):
        _size(driver, width, height)
        for path in pages:
            driver.get(base + path)
            _check(driver, f"{tag}{path}", width, problems)


def _failing_forms(driver: Any, base: str, problems: list[str]) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    for width, height in (PHONE, DESK):
        _size(driver, width, height)
        for path, script, button in FAILING:
            driver.get(base + path)
            driver.execute_script(script)
            press(driver, button)
            WebDriverWait(driver, 20).until(
                ec.presence_of_element_located((By.CSS_SELECTOR, "[data-error-summary]"))
            )
            _check(driver, f"failed{path}", width, problems)


async def test_every_console_page_fits_a_phone_and_passes_axe(
    sandbox: BotApiSandbox, test_db: IsolatedDatabase, browser: object
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    if test_db.url.startswith("postgresql"):
        pytest.skip("layout and accessibility are the same on either database: SQLite's run")
    driver: Any = browser
    wait = WebDriverWait(driver, 20)
    driver.set_script_timeout(30)
    async with console_bot(sandbox, test_db, clinics=make_clinics(CLINICS)) as app:
        ctx = app.bot.ctx
        seeded = await seed_every_page(app, admin=ADMIN, ben=BEN, second_admin=7003)
        case, infusion, shift, ben = seeded.case, seeded.infusion, seeded.shift, seeded.ben
        admin_link, ben_link = await link_for(app, ADMIN), await link_for(app, BEN)
        async with ctx.db.transaction() as session:
            ack_token = await issue_ack_link(
                session, case_id=case.id or 0, clinician_id=ben.id or 0, now=ctx.clock.now()
            )
        ack_link = f"{app.base}/ack/{ack_token}"
        ref = seeded.patient.ref
        admin_pages = [
            "/",
            f"/cases/{case.id}",
            "/patients",
            f"/patients/{ref}",
            f"/patients/{ref}/monitoring",
            f"/patients/{ref}/infusions/new",
            f"/patients/{ref}/infusions/{infusion.id}",
            f"/patients/{ref}/plan/print",
            "/enroll",
            "/roster",
            f"/roster/shifts/{shift.id}",
            "/roster/rotation",
            "/team",
            f"/team/{ben.id}/contact",
            f"/team/{ben.id}/deactivate",
            "/settings",
            "/settings/versions",
            "/settings/versions/1",
            "/settings/versions/2",
            "/settings/signing",
            "/response-times",
            "/audit",
            "/export",
            "/clinic",
            "/cases/999999",  # an error page: not found, with the navigation
        ]
        problems: list[str] = []

        def sweep() -> None:
            _size(driver, *PHONE)
            driver.get(ben_link)  # the sign-in page itself, before anyone is signed in
            for line in _too_wide(driver):
                problems.append(f"390px sign-in: {line}")
            problems.extend(f"390px sign-in: axe {v['id']} at {v['nodes']}" for v in _axe(driver))
            driver.find_element(By.ID, "sign-in").click()
            wait.until(ec.presence_of_element_located((By.ID, "queue")))
            # the on-call clinician at 3 am: the case's primary action in the first screen
            driver.get(f"{app.base}/cases/{case.id}")
            box = driver.execute_script(
                "const b = document.querySelector('.primary-action').getBoundingClientRect();"
                "return [b.top, b.bottom, b.left, b.right, window.innerHeight, window.innerWidth];"
            )
            top, bottom, left, right, height, width = box
            assert top >= 0 and bottom <= height and left >= 0 and right <= width, box
            shot(driver, "sweep-case-first-screen-390")
            # the backup: read-only settings, an admin-only page refused, with the way back
            _sweep(
                driver,
                app.base,
                ["/", f"/cases/{case.id}", "/settings", "/export"],
                problems,
                "ben",
            )
            driver.delete_all_cookies()
            driver.get(admin_link)
            driver.find_element(By.ID, "sign-in").click()
            wait.until(ec.presence_of_element_located((By.ID, "queue")))
            driver.get(f"{app.base}/settings")  # a second version, so a comparison exists
            driver.execute_script(
                "document.getElementById('f-name').value = 'North Clinic (main)';"
            )
            press(driver, "settings-save")
            wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, ".notice")))
            _sweep(driver, app.base, admin_pages, problems, "admin")
            _failing_forms(driver, app.base, problems)
            # the phone at night: the dark theme (prefers-color-scheme) keeps every contrast
            driver.execute_cdp_cmd(
                "Emulation.setEmulatedMedia",
                {"features": [{"name": "prefers-color-scheme", "value": "dark"}]},
            )
            dark = ["/", f"/cases/{case.id}", f"/patients/{ref}", "/roster", "/settings", "/audit"]
            _sweep(driver, app.base, dark, problems, "dark")
            driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": []})
            driver.delete_all_cookies()
            _sweep(driver, ack_link, [""], problems, "ack")  # an e-mail's acknowledge link

        await asyncio.to_thread(sweep)
        assert problems == [], "\n".join(problems)

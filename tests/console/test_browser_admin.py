"""An admin runs the clinic from the console in a real browser (Debian's Chromium, headless):
enrolls a patient and sees the invite's QR code, records an infusion and sees the planned
check-ins, changes a protocol offset and sees the preview before saving, adds an on-call shift
and sees it on the roster, runs Verify on the audit log, and downloads the CSV export.
Screenshots go to test-artifacts/console/ (git-ignored); docs/ keeps the README's two."""

from __future__ import annotations

import asyncio
import csv
import io
import time
import zipfile
from datetime import timedelta

from sqlalchemy import select

from sandbox import BotApiSandbox
from storage.models import Checkin, OnCallShift, Patient
from storage.states import CheckinStatus
from tests.auxil.console import console_bot, join, link_for
from tests.auxil.databases import IsolatedDatabase
from tests.auxil.harness import make_clinics
from tests.console.conftest import DOWNLOADS, NEEDS_CHROMIUM, shot
from tests.console.test_settings_routes import CLINICS

ADMIN, BEN = 7001, 7002

pytestmark = NEEDS_CHROMIUM


async def test_an_admin_runs_the_clinic_in_the_browser(
    sandbox: BotApiSandbox, test_db: IsolatedDatabase, browser: object
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import Select, WebDriverWait

    driver = browser
    wait = WebDriverWait(driver, 20)  # type: ignore[arg-type]

    def find(by: str, value: str) -> object:
        return driver.find_element(by, value)  # type: ignore[attr-defined]

    def submit(button_id: str, then_id: str) -> object:
        # a click through the page's own script: the long settings form puts its buttons far
        # below the fold, where chromedriver's synthetic mouse click misses
        driver.execute_script("arguments[0].click();", find(By.ID, button_id))  # type: ignore[attr-defined]
        return wait.until(ec.presence_of_element_located((By.ID, then_id)))

    async with console_bot(sandbox, test_db, clinics=make_clinics(CLINICS)) as app:
        ctx = app.bot.ctx
        await join(app, ADMIN, "Admin Ada")
        await join(app, BEN, "Dr Ben")
        link = await link_for(app, ADMIN)

        def enrolls() -> tuple[str, str]:
            driver.get(link)  # type: ignore[attr-defined]
            find(By.ID, "sign-in").click()  # type: ignore[attr-defined]
            wait.until(ec.presence_of_element_located((By.ID, "queue")))
            driver.get(f"{app.base}/enroll")  # type: ignore[attr-defined]
            find(By.ID, "f-ref").send_keys("P-100")  # type: ignore[attr-defined]
            find(By.ID, "f-baseline_mood").send_keys("6")  # type: ignore[attr-defined]
            shot(driver, "enroll-form")
            qr = submit("enroll-submit", "invite-qr")
            shot(driver, "enroll")
            svg = qr.find_element(By.TAG_NAME, "svg")  # type: ignore[attr-defined]
            assert svg.size["width"] > 100, svg.size
            return str(find(By.ID, "invite-link").text), str(  # type: ignore[attr-defined]
                find(By.ID, "invite-expires").text  # type: ignore[attr-defined]
            )

        invite, expires = await asyncio.to_thread(enrolls)
        assert invite.startswith("https://t.me/") and "?start=" in invite
        assert expires
        token = invite.rsplit("=", 1)[1]
        sandbox.add_user(9100, "P-100")
        sandbox.send_text(9100, f"/start {token}")  # the code the patient scans works
        await sandbox.wait_for_message(9100, "Do you agree?", timeout=10)

        def records_an_infusion() -> str:
            driver.get(f"{app.base}/patients/P-100/infusions/new")  # type: ignore[attr-defined]
            submit("infusion-submit", "planned-after")
            shot(driver, "infusion")
            return str(find(By.ID, "planned-after").text)  # type: ignore[attr-defined]

        planned = await asyncio.to_thread(records_an_infusion)
        assert "4-hour check-in" in planned and "24-hour check-in" in planned
        async with ctx.db.transaction() as session:
            patient = await session.scalar(select(Patient).where(Patient.ref == "P-100"))
            assert patient is not None
            rows = (
                await session.scalars(
                    select(Checkin).where(
                        Checkin.patient_id == patient.id,
                        Checkin.status == CheckinStatus.SCHEDULED,
                    )
                )
            ).all()
        assert sorted(r.offset_seconds for r in rows if r.kind == "offset") == [
            4 * 3600,
            24 * 3600,
        ]

        def changes_a_protocol() -> tuple[str, str]:
            driver.get(f"{app.base}/settings")  # type: ignore[attr-defined]
            for field, value in (
                ("f-protocol-standard-offsets", "6h, 24h"),
                ("f-protocol-standard-red_flags_at", "6h"),
            ):
                box = find(By.ID, field)
                box.clear()  # type: ignore[attr-defined]
                box.send_keys(value)  # type: ignore[attr-defined]
            preview = submit("settings-preview-button", "settings-preview")
            preview_text = str(preview.text)  # type: ignore[attr-defined]
            shot(driver, "settings-preview")
            submit("settings-save", "settings-notice")
            return preview_text, str(find(By.ID, "settings-notice").text)  # type: ignore[attr-defined]

        preview, saved = await asyncio.to_thread(changes_a_protocol)
        said = "1 patient with an active infusion would have their unsent check-ins re-planned"
        assert said in preview
        assert ": 6-hour check-in" in preview and ": 4-hour check-in" in preview
        assert "Saved as version 2" in saved
        assert ctx.clinic("north").protocols["standard"].offsets[0] == timedelta(hours=6)
        async with ctx.db.transaction() as session:
            offsets = (
                await session.scalars(
                    select(Checkin.offset_seconds).where(
                        Checkin.patient_id == patient.id,
                        Checkin.status == CheckinStatus.SCHEDULED,
                        Checkin.kind == "offset",
                    )
                )
            ).all()
        assert sorted(offsets) == [6 * 3600, 24 * 3600]

        starts = ctx.clock.now().astimezone(ctx.clinic("north").zone).strftime("%Y-%m-%dT%H:%M")

        def adds_a_shift() -> tuple[str, str]:
            driver.get(f"{app.base}/roster")  # type: ignore[attr-defined]
            Select(find(By.ID, "f-clinician")).select_by_visible_text("Dr Ben")
            Select(find(By.ID, "f-role")).select_by_visible_text("primary")
            driver.execute_script(  # type: ignore[attr-defined]
                "arguments[0].value = arguments[1];", find(By.ID, "f-starts_at"), starts
            )
            driver.execute_script(  # type: ignore[attr-defined]
                "arguments[0].click();", find(By.CSS_SELECTOR, "#add-shift button[type=submit]")
            )
            wait.until(ec.url_contains("done=added"))
            now = find(By.ID, "oncall-now").text  # type: ignore[attr-defined]
            shot(driver, "roster")
            return str(now), str(find(By.ID, "roster").text)  # type: ignore[attr-defined]

        on_call, week = await asyncio.to_thread(adds_a_shift)
        assert "Dr Ben" in on_call and "Dr Ben" in week
        async with ctx.db.transaction() as session:
            shifts = (await session.scalars(select(OnCallShift))).all()
        assert len(shifts) == 1 and shifts[0].role == "primary"

        def verifies() -> str:
            driver.get(f"{app.base}/audit")  # type: ignore[attr-defined]
            result = submit("verify-button", "verify-result")
            shot(driver, "audit")
            return str(result.text)  # type: ignore[attr-defined]

        assert "Intact" in await asyncio.to_thread(verifies)

        def downloads() -> bytes:
            driver.get(f"{app.base}/export")  # type: ignore[attr-defined]
            driver.execute_script("arguments[0].click();", find(By.ID, "export-button"))  # type: ignore[attr-defined]
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                done = [p for p in DOWNLOADS.glob("*.zip")]
                if done:
                    return done[0].read_bytes()
                time.sleep(0.1)
            raise AssertionError(f"no download in {DOWNLOADS}: {list(DOWNLOADS.iterdir())}")

        archive = zipfile.ZipFile(io.BytesIO(await asyncio.to_thread(downloads)))
        assert sorted(archive.namelist()) == [
            "cases.csv",
            "checkins.csv",
            "infusions.csv",
            "messages.csv",
            "patients.csv",
            "safety_plans.csv",
        ]
        patients = list(csv.DictReader(io.StringIO(archive.read("patients.csv").decode())))
        assert [p["patient_ref"] for p in patients] == ["P-100"]
        checkins = list(csv.DictReader(io.StringIO(archive.read("checkins.csv").decode())))
        assert sorted(
            int(c["offset_seconds"])
            for c in checkins
            if c["status"] == "scheduled" and c["offset_seconds"]
        ) == [6 * 3600, 24 * 3600]

"""Regenerate the README's console screenshots from the offline demo, at a phone's size and a
desk's: `.venv/bin/python docs/screenshots.py` (needs the `test` extra's selenium and Debian's
chromium and chromium-driver). Runs `aftercare demo --console`, signs in with the admin's link,
and writes docs/console-<page>-<phone|desk>.png; nothing leaves this machine."""

from __future__ import annotations

import asyncio
import re
import socket
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.cli.demo import run_demo  # noqa: E402

DOCS = ROOT / "docs"
SIZES = {"phone": (390, 844), "desk": (1440, 900)}
LINK = re.compile(r"http://127\.0\.0\.1:\d+/console/signin/\S+")
FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _browser() -> Any:
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = "/usr/bin/chromium"
    for flag in FLAGS:
        options.add_argument(flag)
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)


def _shoot(base: str, admin_link: str, ref: str) -> list[Path]:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    driver = _browser()
    written: list[Path] = []
    try:
        driver.get(admin_link)
        driver.find_element(By.ID, "sign-in").click()
        WebDriverWait(driver, 20).until(ec.presence_of_element_located((By.ID, "queue")))
        case = driver.find_element(By.CSS_SELECTOR, "article.case").get_attribute("id")
        pages = {
            "queue": "/",
            "case": f"/cases/{str(case).removeprefix('case-')}",
            "timeline": f"/patients/{ref}",
            "enroll": "/enroll",
            "roster": "/roster",
            "settings": "/settings",
        }
        for size, (width, height) in SIZES.items():
            driver.execute_cdp_cmd(
                "Emulation.setDeviceMetricsOverride",
                {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 600},
            )
            for name, path in pages.items():
                driver.get(base + path)
                target = DOCS / f"console-{name}-{size}.png"
                driver.save_screenshot(str(target))
                written.append(target)
    finally:
        driver.quit()
    return written


async def main() -> int:
    lines: list[str] = []
    until = asyncio.Event()
    port = _free_port()
    demo = asyncio.create_task(run_demo(out=lines.append, console_port=port, until=until))
    links: list[str] = []
    for _ in range(1200):
        links = LINK.findall("\n".join(lines))
        if len(links) == 2 or demo.done():
            break
        await asyncio.sleep(0.1)
    if len(links) != 2:
        until.set()
        await demo
        print("\n".join(lines))
        print("screenshots: the demo printed no sign-in links", file=sys.stderr)
        return 1
    ref = re.search(r"the patient (\S+)'s timeline", "\n".join(lines))
    try:
        written = await asyncio.to_thread(
            _shoot, f"http://127.0.0.1:{port}/console", links[0], ref.group(1) if ref else "P-0042"
        )
    finally:
        until.set()
        await demo
    for path in written:
        print(path.relative_to(ROOT))
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))

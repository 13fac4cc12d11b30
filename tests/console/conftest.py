"""The console's browser tests share one way to start Debian's Chromium, headless."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "console"
DOWNLOADS = ARTIFACTS / "downloads"

NEEDS_CHROMIUM = [
    pytest.mark.slow,
    # One browser at a time, on one worker: they share DOWNLOADS, and two would fight for CPU.
    pytest.mark.xdist_group("chromium"),
    pytest.mark.skipif(
        not (shutil.which(CHROMIUM) and shutil.which(CHROMEDRIVER)),
        reason="chromium browser test: needs Debian's chromium and chromium-driver",
    ),
]


@pytest.fixture
def browser() -> Iterator[object]:
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1200,1400",
    ):
        options.add_argument(flag)
    # The given chromedriver: Selenium Manager downloads nothing.
    shutil.rmtree(DOWNLOADS, ignore_errors=True)
    DOWNLOADS.mkdir(parents=True)
    options.add_experimental_option(
        "prefs",
        {"download.default_directory": str(DOWNLOADS), "download.prompt_for_download": False},
    )
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.implicitly_wait(0)
    try:
        yield driver
    finally:
        driver.quit()


def shot(driver: object, name: str) -> None:
    """A screenshot into test-artifacts/console/ (git-ignored)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(ARTIFACTS / f"{name}.png"))  # type: ignore[attr-defined]


def press(driver: object, button_id: str) -> None:
    """Click a button as a user would, whatever sticky bar sits over it."""
    from selenium.webdriver.common.by import By

    button = driver.find_element(By.ID, button_id)  # type: ignore[attr-defined]
    driver.execute_script("arguments[0].click();", button)  # type: ignore[attr-defined]

"""The committed catalogues are current: the template is what the code says, every catalogue
holds it, each .mo is its .po compiled (`python -m bot.i18n.catalogues check`)."""

from __future__ import annotations

import subprocess
import sys

from bot.i18n import LOCALES, catalogued
from bot.i18n.catalogues import ROOT, extract_checkin_items, problems


def test_the_committed_catalogues_are_current() -> None:
    assert problems() == []


def test_check_runs_as_a_command() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bot.i18n.catalogues", "check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr


def test_spanish_is_catalogued() -> None:
    assert "es" in catalogued()
    assert (LOCALES / "es" / "LC_MESSAGES" / "aftercare.mo").exists()


def test_the_checkin_items_are_extracted_from_their_file() -> None:
    path = ROOT / "bot" / "instruments" / "aftercare_checkin.toml"
    with path.open("rb") as fileobj:
        found = [text for _, _, text, _ in extract_checkin_items(fileobj, None, None, None)]
    assert found[0] == "How is your mood right now, from 0 (worst) to 10 (best)?"
    assert len(found) == 3


def test_the_spanish_catalogue_says_who_must_review_it() -> None:
    """Each entry's `# status:` comment is checked by `problems()`; the header names the review."""
    text = (LOCALES / "es" / "LC_MESSAGES" / "aftercare.po").read_text(encoding="utf-8")
    assert "REVIEWER'S NOTE" in text
    assert "# status: draft (machine-assisted, awaiting clinical review)" in text

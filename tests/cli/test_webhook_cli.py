"""`aftercare webhook`: a key for AFTERCARE_SECRET_KEY, and a clinic's signing secret created,
rotated (printed once), shown masked and its overlap ended; refused without the key."""

from __future__ import annotations

import re
from pathlib import Path

from cryptography.fernet import Fernet

from tests.auxil.cli import MINIMAL_CLINIC, aftercare

SECRET = re.compile(r"^whsec_[A-Za-z0-9_-]{43}$")


def test_secrets_are_created_rotated_shown_masked_and_ended(tmp_path: Path) -> None:
    (tmp_path / "clinic.toml").write_text(MINIMAL_CLINIC, encoding="utf-8")
    made = aftercare(tmp_path, "webhook", "new-key")
    assert made.returncode == 0, made.stderr
    key = made.stdout.strip()
    Fernet(key)  # a valid key
    refused = aftercare(tmp_path, "webhook", "rotate", "--clinic", "north")
    assert refused.returncode == 1 and "AFTERCARE_SECRET_KEY" in refused.stderr
    unknown = aftercare(
        tmp_path, "webhook", "show", "--clinic", "nowhere", AFTERCARE_SECRET_KEY=key
    )
    assert unknown.returncode == 2 and "no clinic 'nowhere'" in unknown.stderr

    first = aftercare(tmp_path, "webhook", "rotate", "--clinic", "north", AFTERCARE_SECRET_KEY=key)
    assert first.returncode == 0, first.stderr
    assert SECRET.match(first.stdout.strip())
    second = aftercare(tmp_path, "webhook", "rotate", "--clinic", "north", AFTERCARE_SECRET_KEY=key)
    assert second.returncode == 0 and SECRET.match(second.stdout.strip())
    assert "also signs until" in second.stderr
    shown = aftercare(tmp_path, "webhook", "show", "--clinic", "north", AFTERCARE_SECRET_KEY=key)
    assert first.stdout.strip() not in shown.stdout and second.stdout.strip() not in shown.stdout
    assert f"whsec_••••••••{second.stdout.strip()[-4:]}" in shown.stdout
    assert "current" in shown.stdout and "until" in shown.stdout
    ended = aftercare(tmp_path, "webhook", "end-overlap", "--clinic", "north")
    assert ended.returncode == 0 and "ended 1 older secret(s)" in ended.stdout
    again = aftercare(tmp_path, "webhook", "show", "--clinic", "north")
    assert again.stdout.count("whsec_") == 1
    assert "AFTERCARE_SECRET_KEY" in again.stderr  # without the key: it says how to set it

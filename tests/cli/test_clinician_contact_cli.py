"""`aftercare clinician contact`: where a clinician is paged besides Telegram, set and cleared
from the command line, refused for a bad address or an unknown name."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select

from storage.crypto.keyring import open_database
from storage.models import Clinician
from tests.auxil.cli import MINIMAL_CLINIC, aftercare, cli_env

ARGS = ("clinician", "contact", "--clinic", "north", "--name", "Dr Ada")


def test_contact_methods_are_set_and_cleared(tmp_path: Path) -> None:
    (tmp_path / "clinic.toml").write_text(MINIMAL_CLINIC, encoding="utf-8")
    unknown = aftercare(tmp_path, *ARGS, "--email", "ada@north.example")
    assert unknown.returncode == 2 and "no active clinician 'Dr Ada'" in unknown.stderr
    invite = aftercare(tmp_path, "clinician", "invite", "--clinic", "north", "--name", "Dr Ada")
    assert invite.returncode == 0, invite.stderr

    # redeeming the invite is Telegram's part: the registration is written directly here
    async def register() -> None:
        db = open_database(cli_env(tmp_path)["AFTERCARE_DATABASE_URL"])
        try:
            async with db.transaction() as session:
                session.add(
                    Clinician(
                        clinic_id="north",
                        name="Dr Ada",
                        telegram_user_id=1,
                        chat_id=1,
                        created_at=datetime.now(UTC),
                    )
                )
            async with db.transaction() as session:
                assert await session.scalar(select(Clinician.name)) == "Dr Ada"
        finally:
            await db.dispose()

    asyncio.run(register())
    bad = aftercare(tmp_path, *ARGS, "--email", "not an address")
    assert bad.returncode == 2 and "e-mail address" in bad.stderr
    done = aftercare(tmp_path, *ARGS, "--email", "ada@north.example", "--pager-key", "PD-1")
    assert done.returncode == 0, done.stderr
    assert "Dr Ada is paged by: telegram, e-mail, paging service" in done.stdout
    cleared = aftercare(tmp_path, *ARGS, "--pager-key", "")
    assert "Dr Ada is paged by: telegram, e-mail" in cleared.stdout
    assert "paging service" not in cleared.stdout

"""The data's database as the settings name it, with the patients' keyring (issue 31)."""

from __future__ import annotations

from bot.settings import Settings
from storage.crypto.keyring import open_database
from storage.engine import Database


def open_db(settings: Settings) -> Database:
    """The data's database and its keyring. Without AFTERCARE_DATA_KEY (a CLI command that reads
    no patient text: `db upgrade`, `audit verify`), one whose sealed text refuses, saying so."""
    keks = settings.keks()
    if keks is None:
        return Database(settings.database_url)
    return open_database(settings.database_url, keks, keyring_url=settings.keyring_url)

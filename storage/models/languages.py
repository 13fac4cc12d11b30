"""Installed instrument translations: a clinic's licensed file with its provenance (issue 29).

Stored in the database, not on disk, so every instance of a scale-out serves the same file."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from storage.models.core import utc_column


class InstrumentFile(SQLModel, table=True):
    """One installed instrument file in one language (e.g. the C-SSRS screener in Spanish)."""

    __tablename__ = "instrument_file"
    __table_args__ = (UniqueConstraint("instrument_id", "version", "language"),)
    id: int | None = Field(default=None, primary_key=True)
    instrument_id: str = Field(max_length=64)  # e.g. cssrs-screener-slc
    version: str = Field(max_length=32)  # the source instrument's version it translates
    language: str = Field(max_length=16)  # BCP 47
    content: str = Field(sa_type=Text)  # the file as installed (TOML)
    sha256: str = Field(max_length=64)
    source: str = Field(sa_type=Text)  # where the translation came from
    licence: str = Field(sa_type=Text)  # the licence or permission reference
    translated_on: str = Field(max_length=32)  # the translation's own date or version
    test_only: bool = False  # a marked test fixture (the pseudo-locale), never a real translation
    installed_by: str = Field(max_length=120)
    installed_at: datetime = Field(sa_column=utc_column())

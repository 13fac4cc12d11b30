"""The patient's language, the language each answer was given in, and installed instrument
translations with their provenance (issue 29)

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06 23:05:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from storage.types import UTCDateTime

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("patient") as batch:
        batch.add_column(sa.Column("language", sa.String(length=16), nullable=True))
        batch.add_column(sa.Column("telegram_language", sa.String(length=16), nullable=True))
    with op.batch_alter_table("answer") as batch:
        batch.add_column(sa.Column("language", sa.String(length=16), nullable=True))
    op.create_table(
        "instrument_file",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("instrument_id", sa.String(length=64), nullable=False),
        sa.Column("version", sa.String(length=32), nullable=False),
        sa.Column("language", sa.String(length=16), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("licence", sa.Text(), nullable=False),
        sa.Column("translated_on", sa.String(length=32), nullable=False),
        sa.Column("test_only", sa.Boolean(), nullable=False),
        sa.Column("installed_by", sa.String(length=120), nullable=False),
        sa.Column("installed_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("instrument_id", "version", "language"),
    )


def downgrade() -> None:
    op.drop_table("instrument_file")
    with op.batch_alter_table("answer") as batch:
        batch.drop_column("language")
    with op.batch_alter_table("patient") as batch:
        batch.drop_column("telegram_language")
        batch.drop_column("language")

"""Clinic settings kept in the database, versioned: who manages a clinic (the file or the
console), the newest version number that every instance watches, and every saved version

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03 05:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from storage.types import UTCDateTime

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("clinic") as batch:
        batch.add_column(
            sa.Column("managed_by", sa.String(length=16), nullable=False, server_default="file")
        )
        batch.add_column(
            sa.Column("settings_version", sa.Integer(), nullable=False, server_default="0")
        )
    op.create_table(
        "clinic_settings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("clinic_id", sa.String(length=32), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("settings", sa.Text(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("saved_at", UTCDateTime(), nullable=False),
        sa.Column("saved_by", sa.String(length=64), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["clinic_id"], ["clinic.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("clinic_id", "version"),
    )


def downgrade() -> None:
    op.drop_table("clinic_settings")
    with op.batch_alter_table("clinic") as batch:
        batch.drop_column("settings_version")
        batch.drop_column("managed_by")

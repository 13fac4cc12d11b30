"""A patient's erasure and legal hold (issue 31)

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07 02:20:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from storage.types import UTCDateTime

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("patient") as batch:
        batch.add_column(sa.Column("erased_at", UTCDateTime(), nullable=True))
        batch.add_column(
            sa.Column("legal_hold", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("patient") as batch:
        batch.drop_column("legal_hold")
        batch.drop_column("erased_at")

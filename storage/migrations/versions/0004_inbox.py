"""The inbox: Telegram updates held durably before they are confirmed, processed per chat

`inbound_update` replaces `processed_update`: an update is stored (with its JSON) before
Telegram is told it arrived, and marked done in the transaction that records its effects.
Update ids already processed are carried over as done rows, so a redelivery within Telegram's
24 hours is still recognised.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 21:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from storage.types import UTCDateTime

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "inbound_update",
        sa.Column("update_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("chat_id", sa.BigInteger(), nullable=False),
        sa.Column("payload", sa.Text(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("seen_at", UTCDateTime(), nullable=False),
        sa.Column("stored_at", UTCDateTime(), nullable=False),
        sa.Column("held", sa.Boolean(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", UTCDateTime(), nullable=False),
        sa.Column("lease_owner", sa.String(length=64), nullable=True),
        sa.Column("lease_until", UTCDateTime(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("processed_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("update_id"),
    )
    op.create_index("ix_inbound_update_chat", "inbound_update", ["status", "chat_id", "update_id"])
    op.create_index("ix_inbound_update_processed_at", "inbound_update", ["processed_at"])
    op.execute(
        "INSERT INTO inbound_update (update_id, chat_id, payload, status, seen_at, stored_at, "
        "held, attempts, next_attempt_at, processed_at) "
        "SELECT update_id, 0, NULL, 'done', received_at, received_at, false, 0, received_at, "
        "received_at FROM processed_update"
    )
    op.drop_table("processed_update")


def downgrade() -> None:
    op.create_table(
        "processed_update",
        sa.Column("update_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("received_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("update_id"),
    )
    op.execute(
        "INSERT INTO processed_update (update_id, received_at) "
        "SELECT update_id, stored_at FROM inbound_update WHERE status = 'done'"
    )
    op.drop_index("ix_inbound_update_processed_at", table_name="inbound_update")
    op.drop_index("ix_inbound_update_chat", table_name="inbound_update")
    op.drop_table("inbound_update")

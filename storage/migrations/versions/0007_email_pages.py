"""Pages beyond Telegram: a clinician's e-mail address and paging-service routing key, the
channel of each page, single-use acknowledge links (tokens kept as hashes), the outbox of
paging-service and webhook events, the inbound webhooks already handled, and the day of each
clinic's last e-mailed digest

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03 05:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from storage.types import UTCDateTime

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("clinic") as batch:
        batch.add_column(sa.Column("digest_sent_on", sa.String(length=10), nullable=True))
    with op.batch_alter_table("clinician") as batch:
        batch.add_column(sa.Column("email", sa.String(length=254), nullable=True))
        batch.add_column(sa.Column("pager_key", sa.String(length=128), nullable=True))
    with op.batch_alter_table("page") as batch:
        batch.add_column(
            sa.Column("channel", sa.String(length=16), nullable=False, server_default="telegram")
        )
    op.create_table(
        "ack_link",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("escalation_id", sa.Integer(), nullable=False),
        sa.Column("clinician_id", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("used_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["escalation_id"], ["escalation.id"]),
        sa.ForeignKeyConstraint(["clinician_id"], ["clinician.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )
    op.create_index("ix_ack_link_escalation_id", "ack_link", ["escalation_id"])
    op.create_table(
        "page_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("escalation_id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("routing_key", sa.String(length=128), nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", UTCDateTime(), nullable=False),
        sa.Column("lease_owner", sa.String(length=64), nullable=True),
        sa.Column("lease_until", UTCDateTime(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("sent_at", UTCDateTime(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["escalation_id"], ["escalation.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_page_event_escalation_id", "page_event", ["escalation_id"])
    op.create_index("ix_page_event_due", "page_event", ["status", "next_attempt_at"])
    op.create_table(
        "webhook_receipt",
        sa.Column("webhook_id", sa.String(length=128), nullable=False),
        sa.Column("event_type", sa.String(length=64), nullable=False),
        sa.Column("received_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("webhook_id"),
    )


def downgrade() -> None:
    op.drop_table("webhook_receipt")
    op.drop_index("ix_page_event_due", table_name="page_event")
    op.drop_index("ix_page_event_escalation_id", table_name="page_event")
    op.drop_table("page_event")
    op.drop_index("ix_ack_link_escalation_id", table_name="ack_link")
    op.drop_table("ack_link")
    with op.batch_alter_table("page") as batch:
        batch.drop_column("channel")
    with op.batch_alter_table("clinician") as batch:
        batch.drop_column("pager_key")
        batch.drop_column("email")
    with op.batch_alter_table("clinic") as batch:
        batch.drop_column("digest_sent_on")

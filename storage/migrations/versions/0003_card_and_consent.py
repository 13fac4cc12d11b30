"""When a check-in's crisis card was shown; which chat an invite's consent screen was shown in

`checkin.crisis_card_at`: the card is shown once per check-in (CLINICAL.md §7); later
findings add only what is new. `invite.offered_chat_id`: the consent buttons carry the invite's
id instead of its secret token, and are honoured only in the chat that opened the link.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02 18:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from storage.types import UTCDateTime

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("checkin") as batch:
        batch.add_column(sa.Column("crisis_card_at", UTCDateTime(), nullable=True))
    with op.batch_alter_table("invite") as batch:
        batch.add_column(sa.Column("offered_chat_id", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("invite") as batch:
        batch.drop_column("offered_chat_id")
    with op.batch_alter_table("checkin") as batch:
        batch.drop_column("crisis_card_at")

"""PostgreSQL: leave room in check-in and escalation pages for in-place (HOT) updates

Every claim writes a lease on the rows it takes, and sending, reminding and closing update
them again; none of those columns is indexed. With full pages (the default fillfactor 100)
each such update moves the row and writes an entry in every index (6 on checkin); with room
left on the page PostgreSQL updates in place. Applies to pages written from now on; an
existing database gets it for old rows after `VACUUM FULL checkin, escalation`. SQLite has no
such setting: nothing to do there.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30 15:05:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("checkin", "escalation")


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in TABLES:
        op.execute(f"ALTER TABLE {table} SET (fillfactor = 80)")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in TABLES:
        op.execute(f"ALTER TABLE {table} RESET (fillfactor)")

"""Sealed columns are Text: a sealed phone number or contact is longer than the plain one was
(issue 31). The values themselves are sealed by `aftercare keys encrypt`, in batches.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07 05:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_PATIENT = {
    "phone": 40,
    "phone_e164": 16,
    "emergency_name": 120,
    "emergency_relation": 60,
    "emergency_phone": 40,
    "emergency_phone_e164": 16,
    "emergency_contact": None,
    "display_name": None,
}


def upgrade() -> None:
    with op.batch_alter_table("patient") as batch:
        for name in _PATIENT:
            batch.alter_column(name, type_=sa.Text(), existing_nullable=True)
    with op.batch_alter_table("safety_plan_event") as batch:
        batch.alter_column("detail", type_=sa.Text(), existing_nullable=True)


def downgrade() -> None:
    with op.batch_alter_table("safety_plan_event") as batch:
        batch.alter_column("detail", type_=sa.String(200), existing_nullable=True)
    with op.batch_alter_table("patient") as batch:
        for name, length in _PATIENT.items():
            batch.alter_column(
                name, type_=sa.String(length) if length else sa.String(), existing_nullable=True
            )

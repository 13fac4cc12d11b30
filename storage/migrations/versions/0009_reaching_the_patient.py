"""Reaching the patient: phone numbers and a structured emergency contact, a case's message
thread, its outreach log, and the times the outreach clock needs

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06 20:45:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from storage.types import UTCDateTime

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("patient") as batch:
        batch.add_column(sa.Column("phone", sa.String(length=40), nullable=True))
        batch.add_column(sa.Column("phone_e164", sa.String(length=16), nullable=True))
        batch.add_column(sa.Column("emergency_name", sa.String(length=120), nullable=True))
        batch.add_column(sa.Column("emergency_relation", sa.String(length=60), nullable=True))
        batch.add_column(sa.Column("emergency_phone", sa.String(length=40), nullable=True))
        batch.add_column(sa.Column("emergency_phone_e164", sa.String(length=16), nullable=True))
    with op.batch_alter_table("escalation") as batch:
        batch.add_column(sa.Column("first_paged_at", UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("outreach_due_at", UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("reached_at", UTCDateTime(), nullable=True))
    op.create_table(
        "case_message",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("escalation_id", sa.Integer(), nullable=False),
        sa.Column("clinic_id", sa.String(length=32), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("direction", sa.String(length=16), nullable=False),
        sa.Column("clinician_id", sa.Integer(), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("error", sa.String(length=300), nullable=True),
        sa.Column("telegram_message_id", sa.BigInteger(), nullable=True),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["escalation_id"], ["escalation.id"]),
        sa.ForeignKeyConstraint(["clinic_id"], ["clinic.id"]),
        sa.ForeignKeyConstraint(["patient_id"], ["patient.id"]),
        sa.ForeignKeyConstraint(["clinician_id"], ["clinician.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_case_message_case", "case_message", ["escalation_id", "at"])
    op.create_index("ix_case_message_patient_id", "case_message", ["patient_id"])
    op.create_table(
        "outreach",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("escalation_id", sa.Integer(), nullable=False),
        sa.Column("clinic_id", sa.String(length=32), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("clinician_id", sa.Integer(), nullable=True),
        sa.Column("method", sa.String(length=32), nullable=False),
        sa.Column("outcome", sa.String(length=32), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("recorded_at", UTCDateTime(), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["escalation_id"], ["escalation.id"]),
        sa.ForeignKeyConstraint(["clinic_id"], ["clinic.id"]),
        sa.ForeignKeyConstraint(["patient_id"], ["patient.id"]),
        sa.ForeignKeyConstraint(["clinician_id"], ["clinician.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_outreach_case", "outreach", ["escalation_id", "at"])
    op.create_index("ix_escalation_outreach_due", "escalation", ["status", "outreach_due_at"])


def downgrade() -> None:
    op.drop_index("ix_escalation_outreach_due", table_name="escalation")
    op.drop_index("ix_outreach_case", table_name="outreach")
    op.drop_table("outreach")
    op.drop_index("ix_case_message_patient_id", table_name="case_message")
    op.drop_index("ix_case_message_case", table_name="case_message")
    op.drop_table("case_message")
    with op.batch_alter_table("escalation") as batch:
        batch.drop_column("reached_at")
        batch.drop_column("outreach_due_at")
        batch.drop_column("first_paged_at")
    with op.batch_alter_table("patient") as batch:
        for column in (
            "emergency_phone_e164",
            "emergency_phone",
            "emergency_relation",
            "emergency_name",
            "phone_e164",
            "phone",
        ):
            batch.drop_column(column)

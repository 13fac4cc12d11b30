"""The patient's safety plan (versioned) and what they did with it; caring-contacts tracks and
their planned messages

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06 21:20:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from storage.types import UTCDateTime

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "safety_plan",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("clinic_id", sa.String(length=32), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("steps", sa.Text(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(["patient_id"], ["patient.id"]),
        sa.ForeignKeyConstraint(["clinic_id"], ["clinic.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_safety_plan_patient", "safety_plan", ["patient_id", "version"])
    op.create_table(
        "safety_plan_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("clinic_id", sa.String(length=32), nullable=False),
        sa.Column("plan_id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("detail", sa.String(length=200), nullable=True),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["patient_id"], ["patient.id"]),
        sa.ForeignKeyConstraint(["clinic_id"], ["clinic.id"]),
        sa.ForeignKeyConstraint(["plan_id"], ["safety_plan.id"]),
        sa.ForeignKeyConstraint(["case_id"], ["escalation.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_safety_plan_event_patient", "safety_plan_event", ["patient_id", "at"])
    op.create_table(
        "caring_track",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("clinic_id", sa.String(length=32), nullable=False),
        sa.Column("schedule", sa.String(length=32), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("ended_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["patient_id"], ["patient.id"]),
        sa.ForeignKeyConstraint(["clinic_id"], ["clinic.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_caring_track_patient", "caring_track", ["patient_id", "status"])
    op.create_table(
        "caring_message",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("track_id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("clinic_id", sa.String(length=32), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("due_at", UTCDateTime(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("sent_at", UTCDateTime(), nullable=True),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("error", sa.String(length=300), nullable=True),
        sa.Column("telegram_message_id", sa.BigInteger(), nullable=True),
        sa.Column("lease_owner", sa.String(length=64), nullable=True),
        sa.Column("lease_until", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["track_id"], ["caring_track.id"]),
        sa.ForeignKeyConstraint(["patient_id"], ["patient.id"]),
        sa.ForeignKeyConstraint(["clinic_id"], ["clinic.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_caring_message_due", "caring_message", ["status", "due_at"])
    op.create_index("ix_caring_message_track_id", "caring_message", ["track_id"])


def downgrade() -> None:
    op.drop_index("ix_caring_message_track_id", table_name="caring_message")
    op.drop_index("ix_caring_message_due", table_name="caring_message")
    op.drop_table("caring_message")
    op.drop_index("ix_caring_track_patient", table_name="caring_track")
    op.drop_table("caring_track")
    op.drop_index("ix_safety_plan_event_patient", table_name="safety_plan_event")
    op.drop_table("safety_plan_event")
    op.drop_index("ix_safety_plan_patient", table_name="safety_plan")
    op.drop_table("safety_plan")

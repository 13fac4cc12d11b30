"""SQLModel tables for the whole domain. Every timestamp is aware UTC (`UTCDateTime`)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import BigInteger, Column, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from storage.types import UTCDateTime


def _utc(*, nullable: bool = False, index: bool = False) -> Column[datetime]:
    return Column(UTCDateTime(), nullable=nullable, index=index)


class PatientStatus(StrEnum):
    INVITED = "invited"  # enrolled by the clinic; chat not linked yet
    ACTIVE = "active"  # consented; receives check-ins
    OPTED_OUT = "opted_out"  # sent /stop and confirmed
    UNREACHABLE = "unreachable"  # Telegram said blocked / deactivated


class CheckinStatus(StrEnum):
    SCHEDULED = "scheduled"  # planned, not sent
    SENT = "sent"  # first question delivered, no answer yet
    IN_PROGRESS = "in_progress"  # at least one answer
    COMPLETED = "completed"  # every question answered (or skipped where optional)
    ABANDONED = "abandoned"  # answer window closed part-way; answers kept
    MISSED = "missed"  # answer window closed with no answer
    CANCELLED = "cancelled"  # infusion cancelled or moved, or patient opted out
    SUPERSEDED = "superseded"  # replaced by a newer infusion's plan
    FAILED = "failed"  # Telegram refused it for good (recorded with the error)

    @property
    def is_open(self) -> bool:
        return self in {CheckinStatus.SENT, CheckinStatus.IN_PROGRESS}


class CheckinKind(StrEnum):
    OFFSET = "offset"  # a fixed time after the infusion (+4 h, +24 h)
    DAILY = "daily"  # local time of day, days after the infusion
    ADHOC = "adhoc"  # started by the patient with /checkin


class EscalationStatus(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


class Clinic(SQLModel, table=True):
    """A clinic from the configuration file, mirrored so rows can reference it."""

    id: str = Field(primary_key=True, max_length=32)
    name: str
    timezone: str
    plan_fingerprint: str = Field(default="", max_length=64)  # protocols + quiet hours, hashed
    updated_at: datetime = Field(sa_column=_utc())


class Clinician(SQLModel, table=True):
    """A clinician's Telegram account, registered through a clinician invite."""

    __table_args__ = (UniqueConstraint("clinic_id", "telegram_user_id"),)
    id: int | None = Field(default=None, primary_key=True)
    clinic_id: str = Field(foreign_key="clinic.id", index=True)
    name: str
    telegram_user_id: int = Field(sa_type=BigInteger)
    chat_id: int = Field(sa_type=BigInteger, index=True)
    is_admin: bool = False
    active: bool = True
    created_at: datetime = Field(sa_column=_utc())


class OnCallShift(SQLModel, table=True):
    """A primary or backup on-call shift, [starts_at, ends_at)."""

    __tablename__ = "oncall_shift"
    __table_args__ = (Index("ix_oncall_clinic_time", "clinic_id", "starts_at", "ends_at"),)
    id: int | None = Field(default=None, primary_key=True)
    clinic_id: str = Field(foreign_key="clinic.id")
    clinician_id: int = Field(foreign_key="clinician.id", index=True)
    role: str = Field(default="primary", max_length=16)  # primary | backup
    starts_at: datetime = Field(sa_column=_utc())
    ends_at: datetime = Field(sa_column=_utc())
    source: str = Field(default="command", max_length=16)  # command | rotation | bot
    created_at: datetime = Field(sa_column=_utc())


class Patient(SQLModel, table=True):
    """A patient, known to Aftercare by the clinic's pseudonymous reference."""

    __table_args__ = (UniqueConstraint("clinic_id", "ref"),)
    id: int | None = Field(default=None, primary_key=True)
    clinic_id: str = Field(foreign_key="clinic.id", index=True)
    ref: str = Field(max_length=64)
    timezone: str
    baseline_mood: int | None = None
    emergency_contact: str | None = None
    display_name: str | None = None
    protocol: str | None = Field(default=None, max_length=64)
    chat_id: int | None = Field(default=None, sa_type=BigInteger, unique=True)
    telegram_user_id: int | None = Field(default=None, sa_type=BigInteger)
    status: str = Field(default=PatientStatus.INVITED, max_length=16)
    consented_at: datetime | None = Field(default=None, sa_column=_utc(nullable=True))
    opted_out_at: datetime | None = Field(default=None, sa_column=_utc(nullable=True))
    created_at: datetime = Field(sa_column=_utc())


class Invite(SQLModel, table=True):
    """A single-use, expiring invite; only the SHA-256 of its token is stored."""

    id: int | None = Field(default=None, primary_key=True)
    clinic_id: str = Field(foreign_key="clinic.id")
    kind: str = Field(max_length=16)  # patient | clinician
    token_hash: str = Field(max_length=64, unique=True)
    patient_id: int | None = Field(default=None, foreign_key="patient.id")
    clinician_name: str | None = None
    is_admin: bool = False
    created_at: datetime = Field(sa_column=_utc())
    expires_at: datetime = Field(sa_column=_utc())
    used_at: datetime | None = Field(default=None, sa_column=_utc(nullable=True))
    used_by_user_id: int | None = Field(default=None, sa_type=BigInteger)


class Infusion(SQLModel, table=True):
    """An infusion; `ended_at` anchors the check-in plan."""

    id: int | None = Field(default=None, primary_key=True)
    patient_id: int = Field(foreign_key="patient.id", index=True)
    ended_at: datetime = Field(sa_column=_utc())
    protocol: str = Field(max_length=64)
    status: str = Field(default="active", max_length=16)  # active | cancelled
    recorded_at: datetime = Field(sa_column=_utc())
    recorded_by: str = Field(max_length=64)


class Checkin(SQLModel, table=True):
    """One check-in: planned, claimed under a lease, sent, answered or closed."""

    __table_args__ = (
        Index("ix_checkin_due", "status", "due_at"),
        Index("ix_checkin_reminder", "status", "reminder_due_at"),
        Index("ix_checkin_closes", "status", "closes_at"),
        Index("ix_checkin_patient", "patient_id", "due_at"),
    )
    id: int | None = Field(default=None, primary_key=True)
    patient_id: int = Field(foreign_key="patient.id")
    infusion_id: int | None = Field(default=None, foreign_key="infusion.id", index=True)
    kind: str = Field(max_length=16)
    offset_seconds: int | None = None
    day: int | None = None
    asks_red_flags: bool = False
    nominal_at: datetime = Field(sa_column=_utc())
    due_at: datetime = Field(sa_column=_utc())
    status: str = Field(default=CheckinStatus.SCHEDULED, max_length=16)
    sent_at: datetime | None = Field(default=None, sa_column=_utc(nullable=True))
    message_id: int | None = Field(default=None, sa_type=BigInteger)
    current_item: str | None = Field(default=None, max_length=32)
    reminder_due_at: datetime | None = Field(default=None, sa_column=_utc(nullable=True))
    reminded_at: datetime | None = Field(default=None, sa_column=_utc(nullable=True))
    closes_at: datetime | None = Field(default=None, sa_column=_utc(nullable=True))
    closed_at: datetime | None = Field(default=None, sa_column=_utc(nullable=True))
    risk_level: str = Field(default="none", max_length=16)
    lease_owner: str | None = Field(default=None, max_length=64)
    lease_until: datetime | None = Field(default=None, sa_column=_utc(nullable=True))
    attempts: int = 0
    last_error: str | None = None
    created_at: datetime = Field(sa_column=_utc())


class Answer(SQLModel, table=True):
    """One answer, stored the moment it is given, with its instrument and version."""

    __table_args__ = (UniqueConstraint("checkin_id", "item_id"),)
    id: int | None = Field(default=None, primary_key=True)
    patient_id: int = Field(foreign_key="patient.id", index=True)
    checkin_id: int | None = Field(default=None, foreign_key="checkin.id")
    item_id: str = Field(max_length=32)
    value: str = Field(sa_type=Text)
    instrument_id: str = Field(max_length=64)
    instrument_version: str = Field(max_length=32)
    answered_at: datetime = Field(sa_column=_utc())
    update_id: int | None = Field(default=None, sa_type=BigInteger)


class Escalation(SQLModel, table=True):
    """A case for a human: one open per patient episode, walked up its ladder until acknowledged."""

    __table_args__ = (
        Index("ix_escalation_due", "status", "next_step_at"),
        Index("ix_escalation_patient", "patient_id", "status"),
    )
    id: int | None = Field(default=None, primary_key=True)
    clinic_id: str = Field(foreign_key="clinic.id")
    patient_id: int = Field(foreign_key="patient.id")
    checkin_id: int | None = Field(default=None, foreign_key="checkin.id")
    level: str = Field(max_length=16)
    trigger: str = Field(max_length=16)  # checkin | message | non_response
    reason: str = Field(sa_type=Text)
    quote: str | None = Field(default=None, sa_type=Text)  # the patient's words, for the page
    status: str = Field(default=EscalationStatus.OPEN, max_length=16)
    opened_at: datetime = Field(sa_column=_utc())
    ladder_started_at: datetime = Field(sa_column=_utc())  # reset when the level rises
    step: int = 0
    next_step_at: datetime | None = Field(default=None, sa_column=_utc(nullable=True))
    acknowledged_at: datetime | None = Field(default=None, sa_column=_utc(nullable=True))
    acknowledged_by: int | None = Field(default=None, foreign_key="clinician.id")
    resolved_at: datetime | None = Field(default=None, sa_column=_utc(nullable=True))
    resolved_by: int | None = Field(default=None, foreign_key="clinician.id")
    resolution_note: str | None = Field(default=None, sa_type=Text)
    lease_owner: str | None = Field(default=None, max_length=64)
    lease_until: datetime | None = Field(default=None, sa_column=_utc(nullable=True))


class Page(SQLModel, table=True):
    """One page of one clinician for one escalation, delivered or not."""

    id: int | None = Field(default=None, primary_key=True)
    escalation_id: int = Field(foreign_key="escalation.id", index=True)
    clinician_id: int = Field(foreign_key="clinician.id")
    step: int
    status: str = Field(max_length=16)  # sent | failed
    message_id: int | None = Field(default=None, sa_type=BigInteger)
    error: str | None = None
    sent_at: datetime = Field(sa_column=_utc())


class AuditEvent(SQLModel, table=True):
    """Append-only log; each row carries the hash of the one before it."""

    __tablename__ = "audit_event"
    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(sa_column=_utc())
    actor: str = Field(max_length=64)
    event: str = Field(max_length=48, index=True)
    clinic_id: str | None = Field(default=None, max_length=32)
    patient_id: int | None = Field(default=None, index=True)
    checkin_id: int | None = None
    escalation_id: int | None = None
    detail: str = Field(default="{}", sa_type=Text)
    prev_hash: str = Field(max_length=64)
    hash: str = Field(max_length=64)


class ProcessedUpdate(SQLModel, table=True):
    """Telegram update ids already handled, so a redelivered update is handled once."""

    __tablename__ = "processed_update"
    update_id: int = Field(
        sa_type=BigInteger, primary_key=True, sa_column_kwargs={"autoincrement": False}
    )
    received_at: datetime = Field(sa_column=_utc())

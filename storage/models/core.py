"""The core tables: clinics, people, patients, infusions, check-ins and answers, cases, their
pages and acknowledge links, the audit log."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Column, ForeignKey, Index, Integer, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from bot.domain.channels import ChannelKind
from storage.crypto.sealed import Sealed
from storage.states import (
    Actor,
    CaseStatus,
    CaseTrigger,
    CheckinKind,
    CheckinStatus,
    InfusionStatus,
    InviteKind,
    Level,
    ManagedBy,
    PageStatus,
    PatientStatus,
    SettingsSource,
    ShiftRole,
    ShiftSource,
)
from storage.types import ActorText, TextEnum, UTCDateTime


def utc_column(*, nullable: bool = False, index: bool = False) -> Column[datetime]:
    """An aware-UTC timestamp column."""
    return Column(UTCDateTime(), nullable=nullable, index=index)


class Clinic(SQLModel, table=True):
    """A clinic: created from the clinic file; its settings are versioned in `clinic_settings`."""

    id: str = Field(primary_key=True, max_length=32)
    name: str
    timezone: str
    plan_fingerprint: str = Field(default="", max_length=64)  # protocols + quiet hours, hashed
    updated_at: datetime = Field(sa_column=utc_column())
    managed_by: ManagedBy = Field(default=ManagedBy.FILE, sa_type=TextEnum(ManagedBy))
    settings_version: int = 0  # the newest ClinicSettings.version; instances watch it
    digest_sent_on: str | None = Field(default=None, max_length=10)  # local date of the last digest


class ClinicSettings(SQLModel, table=True):
    """Every saved version of a clinic's settings (the clinic file's shape, as JSON)."""

    __tablename__ = "clinic_settings"
    __table_args__ = (UniqueConstraint("clinic_id", "version"),)

    id: int | None = Field(default=None, primary_key=True)
    clinic_id: str = Field(foreign_key="clinic.id", max_length=32)
    version: int
    settings: str = Field(sa_type=Text)
    source: SettingsSource = Field(sa_type=TextEnum(SettingsSource))
    saved_at: datetime = Field(sa_column=utc_column())
    saved_by: Actor = Field(sa_type=ActorText())
    note: str | None = Field(default=None, sa_type=Text)


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
    created_at: datetime = Field(sa_column=utc_column())
    email: str | None = Field(default=None, max_length=254)  # pages by e-mail where a rung says
    pager_key: str | None = Field(default=None, max_length=128)  # a paging service's routing key


class OnCallShift(SQLModel, table=True):
    """A primary or backup on-call shift, [starts_at, ends_at)."""

    __tablename__ = "oncall_shift"
    __table_args__ = (Index("ix_oncall_clinic_time", "clinic_id", "starts_at", "ends_at"),)
    id: int | None = Field(default=None, primary_key=True)
    clinic_id: str = Field(foreign_key="clinic.id")
    clinician_id: int = Field(foreign_key="clinician.id", index=True)
    role: ShiftRole = Field(default=ShiftRole.PRIMARY, sa_type=TextEnum(ShiftRole))
    starts_at: datetime = Field(sa_column=utc_column())
    ends_at: datetime = Field(sa_column=utc_column())
    source: ShiftSource = Field(default=ShiftSource.COMMAND, sa_type=TextEnum(ShiftSource))
    created_at: datetime = Field(sa_column=utc_column())


class Patient(SQLModel, table=True):
    """A patient, known to Aftercare by the clinic's pseudonymous reference."""

    __table_args__ = (UniqueConstraint("clinic_id", "ref"),)
    id: int | None = Field(default=None, primary_key=True)
    clinic_id: str = Field(foreign_key="clinic.id", index=True)
    ref: str = Field(max_length=64)
    timezone: str
    baseline_mood: int | None = None
    emergency_contact: str | None = Field(
        default=None, sa_type=Sealed("patient.emergency_contact")
    )  # free text from before structured contacts (shown as is)
    phone: str | None = Field(default=None, sa_type=Sealed("patient.phone"))  # as entered
    phone_e164: str | None = Field(
        default=None, sa_type=Sealed("patient.phone_e164")
    )  # +<country><number>, for tel:
    emergency_name: str | None = Field(default=None, sa_type=Sealed("patient.emergency_name"))
    emergency_relation: str | None = Field(
        default=None, sa_type=Sealed("patient.emergency_relation")
    )
    emergency_phone: str | None = Field(default=None, sa_type=Sealed("patient.emergency_phone"))
    emergency_phone_e164: str | None = Field(
        default=None, sa_type=Sealed("patient.emergency_phone_e164")
    )
    display_name: str | None = Field(default=None, sa_type=Sealed("patient.display_name"))
    protocol: str | None = Field(default=None, max_length=64)
    # the patient's own language setting (BCP 47, e.g. "es"); None: the clinic's default, then
    # Telegram's language_code, then English (bot/domain/languages.resolve)
    language: str | None = Field(default=None, max_length=16)
    telegram_language: str | None = Field(default=None, max_length=16)  # language_code, last seen
    chat_id: int | None = Field(default=None, sa_type=BigInteger, unique=True)
    telegram_user_id: int | None = Field(default=None, sa_type=BigInteger)
    status: PatientStatus = Field(default=PatientStatus.INVITED, sa_type=TextEnum(PatientStatus))
    consented_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    opted_out_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    created_at: datetime = Field(sa_column=utc_column())
    # Privacy (issue 31): erased (words and contacts gone, chat forgotten, structured rows
    # kept under the reference); a legal hold keeps everything, refusing erasure.
    erased_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    legal_hold: bool = False


class Invite(SQLModel, table=True):
    """A single-use, expiring invite; only the SHA-256 of its token is stored."""

    id: int | None = Field(default=None, primary_key=True)
    clinic_id: str = Field(foreign_key="clinic.id")
    kind: InviteKind = Field(sa_type=TextEnum(InviteKind))
    token_hash: str = Field(max_length=64, unique=True)
    patient_id: int | None = Field(default=None, foreign_key="patient.id")
    clinician_name: str | None = None
    is_admin: bool = False
    created_at: datetime = Field(sa_column=utc_column())
    expires_at: datetime = Field(sa_column=utc_column())
    used_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    used_by_user_id: int | None = Field(default=None, sa_type=BigInteger)
    offered_chat_id: int | None = Field(default=None, sa_type=BigInteger)  # consent shown here


class Infusion(SQLModel, table=True):
    """An infusion; `ended_at` anchors the check-in plan."""

    id: int | None = Field(default=None, primary_key=True)
    patient_id: int = Field(foreign_key="patient.id", index=True)
    ended_at: datetime = Field(sa_column=utc_column())
    protocol: str = Field(max_length=64)
    status: InfusionStatus = Field(default=InfusionStatus.ACTIVE, sa_type=TextEnum(InfusionStatus))
    recorded_at: datetime = Field(sa_column=utc_column())
    recorded_by: Actor = Field(sa_type=ActorText())


class Checkin(SQLModel, table=True):
    """One check-in: planned, claimed under a lease, sent, answered or closed."""

    __table_args__ = (
        Index("ix_checkin_due", "status", "due_at"),
        Index("ix_checkin_reminder", "status", "reminder_due_at"),
        Index("ix_checkin_closes", "status", "closes_at"),
        Index("ix_checkin_patient", "patient_id", "due_at"),
        Index("ix_checkin_patient_sent", "patient_id", "sent_at"),  # the console's newest sent
    )
    id: int | None = Field(default=None, primary_key=True)
    patient_id: int = Field(foreign_key="patient.id")
    infusion_id: int | None = Field(default=None, foreign_key="infusion.id", index=True)
    kind: CheckinKind = Field(sa_type=TextEnum(CheckinKind))
    offset_seconds: int | None = None
    day: int | None = None
    asks_red_flags: bool = False
    nominal_at: datetime = Field(sa_column=utc_column())
    due_at: datetime = Field(sa_column=utc_column())
    status: CheckinStatus = Field(default=CheckinStatus.SCHEDULED, sa_type=TextEnum(CheckinStatus))
    sent_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    message_id: int | None = Field(default=None, sa_type=BigInteger)
    current_item: str | None = Field(default=None, max_length=32)
    reminder_due_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    reminded_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    closes_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    closed_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    crisis_card_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    risk_level: Level = Field(default=Level.NONE, sa_type=TextEnum(Level))
    lease_owner: str | None = Field(default=None, max_length=64)
    lease_until: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    attempts: int = 0
    last_error: str | None = None
    created_at: datetime = Field(sa_column=utc_column())


FREE_TEXT_ITEMS = ("note", "message")  # answer items whose value is the patient's own words


class Answer(SQLModel, table=True):
    """One answer, stored the moment it is given, with its instrument and version."""

    __table_args__ = (
        UniqueConstraint("checkin_id", "item_id"),
        Index("ix_answer_patient_item", "patient_id", "item_id", "answered_at"),  # newest mood
    )
    id: int | None = Field(default=None, primary_key=True)
    patient_id: int = Field(foreign_key="patient.id", index=True)
    checkin_id: int | None = Field(default=None, foreign_key="checkin.id")
    item_id: str = Field(max_length=32)
    value: str = Field(sa_type=Sealed("answer.value", always=False))  # free text: sealed
    instrument_id: str = Field(max_length=64)
    instrument_version: str = Field(max_length=32)
    language: str | None = Field(default=None, max_length=16)  # what the item was shown in
    answered_at: datetime = Field(sa_column=utc_column())
    update_id: int | None = Field(default=None, sa_type=BigInteger)

    def holds_words(self) -> bool:
        """A free-text item's value is the patient's own words: sealed; the rest stay clear."""
        return self.item_id in FREE_TEXT_ITEMS


class Case(SQLModel, table=True):
    """A case for a human: one open per patient episode, walked up its ladder until acknowledged.

    The table keeps its first name, `escalation` (`case` is an SQL keyword).
    """

    __tablename__ = "escalation"
    __table_args__ = (
        Index("ix_escalation_due", "status", "next_step_at"),
        Index("ix_escalation_patient", "patient_id", "status"),
        Index("ix_escalation_outreach_due", "status", "outreach_due_at"),
    )
    id: int | None = Field(default=None, primary_key=True)
    clinic_id: str = Field(foreign_key="clinic.id")
    patient_id: int = Field(foreign_key="patient.id")
    checkin_id: int | None = Field(default=None, foreign_key="checkin.id")
    level: Level = Field(sa_type=TextEnum(Level))
    trigger: CaseTrigger = Field(sa_type=TextEnum(CaseTrigger))
    reason: str = Field(sa_type=Text)
    quote: str | None = Field(
        default=None, sa_type=Sealed("case.quote")
    )  # the patient's words, for the page
    status: CaseStatus = Field(default=CaseStatus.OPEN, sa_type=TextEnum(CaseStatus))
    opened_at: datetime = Field(sa_column=utc_column())
    ladder_started_at: datetime = Field(sa_column=utc_column())  # reset when the level rises
    step: int = 0
    next_step_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    acknowledged_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    acknowledged_by: int | None = Field(default=None, foreign_key="clinician.id")
    resolved_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    resolved_by: int | None = Field(default=None, foreign_key="clinician.id")
    resolution_note: str | None = Field(default=None, sa_type=Sealed("case.resolution_note"))
    # Reaching the patient (CLINICAL.md §10): when the outreach the level needs is next due
    # (a first attempt, then "reached"); unset once reached or the case is resolved.
    first_paged_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    outreach_due_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    reached_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    lease_owner: str | None = Field(default=None, max_length=64)
    lease_until: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))


class Page(SQLModel, table=True):
    """One page of one clinician for one case, delivered or not."""

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(
        sa_column=Column("escalation_id", ForeignKey("escalation.id"), index=True, nullable=False)
    )
    clinician_id: int = Field(foreign_key="clinician.id")
    step: int
    status: PageStatus = Field(sa_type=TextEnum(PageStatus))
    message_id: int | None = Field(default=None, sa_type=BigInteger)
    error: str | None = None
    sent_at: datetime = Field(sa_column=utc_column())
    channel: ChannelKind = Field(default=ChannelKind.TELEGRAM, sa_type=TextEnum(ChannelKind))


class AckLink(SQLModel, table=True):
    """A single-use acknowledge link in an e-mailed page, bound to one clinician and one case;
    only its token's SHA-256 is kept. It works while the case is open (until acknowledged)."""

    __tablename__ = "ack_link"
    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(max_length=64, unique=True)
    case_id: int = Field(
        sa_column=Column("escalation_id", ForeignKey("escalation.id"), nullable=False, index=True)
    )
    clinician_id: int = Field(foreign_key="clinician.id")
    created_at: datetime = Field(sa_column=utc_column())
    used_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))


class AuditEvent(SQLModel, table=True):
    """Append-only log; each row carries the hash of the one before it."""

    __tablename__ = "audit_event"
    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(sa_column=utc_column())
    actor: Actor = Field(sa_type=ActorText())
    event: str = Field(max_length=48, index=True)
    clinic_id: str | None = Field(default=None, max_length=32)
    patient_id: int | None = Field(default=None, index=True)
    checkin_id: int | None = None
    case_id: int | None = Field(default=None, sa_column=Column("escalation_id", Integer))
    detail: str = Field(default="{}", sa_type=Text)
    prev_hash: str = Field(max_length=64)
    hash: str = Field(max_length=64)

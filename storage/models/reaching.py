"""Reaching the patient (CLINICAL.md §10): a case's message thread and its outreach log."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Column, ForeignKey, Index
from sqlmodel import Field, SQLModel

from storage.crypto.sealed import Sealed
from storage.models.core import utc_column
from storage.states import (
    MessageDirection,
    MessageStatus,
    OutreachMethod,
    OutreachOutcome,
)
from storage.types import TextEnum


class CaseMessage(SQLModel, table=True):
    """One message of a case's thread: a clinician's to the patient through the bot, or the
    patient's own while the case was open. The text is the patient's or clinician's words:
    shown in the console and the export, never logged."""

    __tablename__ = "case_message"
    __table_args__ = (Index("ix_case_message_case", "escalation_id", "at"),)
    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(
        sa_column=Column("escalation_id", ForeignKey("escalation.id"), nullable=False)
    )
    clinic_id: str = Field(foreign_key="clinic.id", max_length=32)
    patient_id: int = Field(foreign_key="patient.id", index=True)
    direction: MessageDirection = Field(sa_type=TextEnum(MessageDirection))
    clinician_id: int | None = Field(default=None, foreign_key="clinician.id")
    text: str = Field(sa_type=Sealed("case_message.text"))
    status: MessageStatus = Field(sa_type=TextEnum(MessageStatus))
    error: str | None = Field(default=None, max_length=300)
    telegram_message_id: int | None = Field(default=None, sa_type=BigInteger)
    at: datetime = Field(sa_column=utc_column())


class Outreach(SQLModel, table=True):
    """One attempt to reach the patient for a case: how, what came of it, when, by whom."""

    __table_args__ = (Index("ix_outreach_case", "escalation_id", "at"),)
    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(
        sa_column=Column("escalation_id", ForeignKey("escalation.id"), nullable=False)
    )
    clinic_id: str = Field(foreign_key="clinic.id", max_length=32)
    patient_id: int = Field(foreign_key="patient.id")
    clinician_id: int | None = Field(default=None, foreign_key="clinician.id")
    method: OutreachMethod = Field(sa_type=TextEnum(OutreachMethod, 32))
    outcome: OutreachOutcome = Field(sa_type=TextEnum(OutreachOutcome, 32))
    at: datetime = Field(
        sa_column=utc_column()
    )  # when the attempt was made (may be before recorded)
    recorded_at: datetime = Field(sa_column=utc_column())
    note: str | None = Field(default=None, sa_type=Sealed("outreach.note"))

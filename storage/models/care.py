"""The patient's own care between infusions: their safety plan (CLINICAL.md §11) and caring
contacts (§12)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Index, Text
from sqlmodel import Field, SQLModel

from storage.crypto.sealed import Sealed
from storage.models.core import utc_column
from storage.states import Actor, CaringStatus, PlanEventKind
from storage.types import ActorText, TextEnum


class SafetyPlan(SQLModel, table=True):
    """One version of a patient's safety plan, in the patient's own words: the six
    Stanley-Brown steps as JSON (`steps`: six lists of {"text", "phone"?, "e164"?}). The newest
    version is the plan; older ones are kept. `active`: steps 4 and 5 each hold a contact."""

    __tablename__ = "safety_plan"
    __table_args__ = (Index("ix_safety_plan_patient", "patient_id", "version"),)
    id: int | None = Field(default=None, primary_key=True)
    patient_id: int = Field(foreign_key="patient.id")
    clinic_id: str = Field(foreign_key="clinic.id", max_length=32)
    version: int
    steps: str = Field(sa_type=Sealed("safety_plan.steps"))
    active: bool = False
    created_at: datetime = Field(sa_column=utc_column())
    created_by: Actor = Field(sa_type=ActorText())


class SafetyPlanEvent(SQLModel, table=True):
    """The patient opened their plan, moved through it, found a step helped, or tapped a
    contact's Call; with the case it was shown for, if any."""

    __tablename__ = "safety_plan_event"
    __table_args__ = (Index("ix_safety_plan_event_patient", "patient_id", "at"),)
    id: int | None = Field(default=None, primary_key=True)
    patient_id: int = Field(foreign_key="patient.id")
    clinic_id: str = Field(foreign_key="clinic.id", max_length=32)
    plan_id: int = Field(foreign_key="safety_plan.id")
    case_id: int | None = Field(default=None, foreign_key="escalation.id")
    kind: PlanEventKind = Field(sa_type=TextEnum(PlanEventKind))
    step: int  # 1–6
    detail: str | None = Field(
        default=None, sa_type=Sealed("safety_plan_event.detail")
    )  # the contact called, say
    at: datetime = Field(sa_column=utc_column())


class CaringTrack(SQLModel, table=True):
    """A patient's caring-contacts track: which schedule, why and when it started."""

    __tablename__ = "caring_track"
    __table_args__ = (Index("ix_caring_track_patient", "patient_id", "status"),)
    id: int | None = Field(default=None, primary_key=True)
    patient_id: int = Field(foreign_key="patient.id")
    clinic_id: str = Field(foreign_key="clinic.id", max_length=32)
    schedule: str = Field(max_length=32)  # comtois11, va9, custom
    reason: str = Field(max_length=32)  # case_resolved, series_ended
    status: CaringStatus = Field(sa_type=TextEnum(CaringStatus))
    started_at: datetime = Field(sa_column=utc_column())
    ended_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))


class CaringMessage(SQLModel, table=True):
    """One planned caring message: when it is due (a time in the patient's send window), and
    what became of it. Claimed under a lease, as check-ins are, so no instance sends it twice."""

    __tablename__ = "caring_message"
    __table_args__ = (Index("ix_caring_message_due", "status", "due_at"),)
    id: int | None = Field(default=None, primary_key=True)
    track_id: int = Field(foreign_key="caring_track.id", index=True)
    patient_id: int = Field(foreign_key="patient.id")
    clinic_id: str = Field(foreign_key="clinic.id", max_length=32)
    number: int  # 1, 2, … within its track
    due_at: datetime = Field(sa_column=utc_column())
    status: CaringStatus = Field(sa_type=TextEnum(CaringStatus))
    sent_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    text: str | None = Field(default=None, sa_type=Text)  # as sent
    error: str | None = Field(default=None, max_length=300)
    telegram_message_id: int | None = Field(default=None, sa_type=BigInteger)
    lease_owner: str | None = Field(default=None, max_length=64)
    lease_until: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))

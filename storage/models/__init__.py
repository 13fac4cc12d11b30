"""SQLModel tables for the whole domain. Every timestamp is aware UTC (`UTCDateTime`)."""

from storage.crypto.sealed import seal_rows_of
from storage.models.care import CaringMessage, CaringTrack, SafetyPlan, SafetyPlanEvent
from storage.models.core import (
    AckLink,
    Answer,
    AuditEvent,
    Case,
    Checkin,
    Clinic,
    Clinician,
    ClinicSettings,
    Infusion,
    Invite,
    OnCallShift,
    Page,
    Patient,
)
from storage.models.languages import InstrumentFile
from storage.models.operations import (
    ConsoleLink,
    ConsoleSession,
    InboundUpdate,
    PageEvent,
    WebhookReceipt,
    WebhookSecret,
)
from storage.models.reaching import CaseMessage, Outreach

seal_rows_of(
    Answer,
    Case,
    CaseMessage,
    Outreach,
    SafetyPlan,
    SafetyPlanEvent,
    patient=Patient,
    inbox=InboundUpdate,
)

__all__ = [
    "AckLink",
    "Answer",
    "AuditEvent",
    "CaringMessage",
    "CaringTrack",
    "Case",
    "CaseMessage",
    "Checkin",
    "Clinic",
    "ClinicSettings",
    "Clinician",
    "ConsoleLink",
    "ConsoleSession",
    "InboundUpdate",
    "Infusion",
    "InstrumentFile",
    "Invite",
    "OnCallShift",
    "Outreach",
    "Page",
    "PageEvent",
    "Patient",
    "SafetyPlan",
    "SafetyPlanEvent",
    "WebhookReceipt",
    "WebhookSecret",
]

"""What runs the service: the inbox of updates, console links and sessions, the outbox of page
events, webhook receipts and signing secrets."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Column, ForeignKey, Index, Text
from sqlmodel import Field, SQLModel

from bot.domain.channels import ChannelKind
from storage.crypto.sealed import Sealed
from storage.models.core import utc_column
from storage.states import (
    Actor,
    InboxStatus,
    PageEventAction,
    PageEventStatus,
    SessionEnd,
)
from storage.types import ActorText, TextEnum


class InboundUpdate(SQLModel, table=True):
    """A Telegram update held durably before it is confirmed to Telegram (the inbox).

    Written by the intake in one transaction per batch; processed per chat in update order.
    The effects of an update commit in the same transaction that marks it `done`, so a
    redelivery or a retry after a crash changes nothing twice. `payload` (the update's JSON)
    is cleared once processed; the row stays two days as the record that it was.
    """

    __tablename__ = "inbound_update"
    __table_args__ = (Index("ix_inbound_update_chat", "status", "chat_id", "update_id"),)
    update_id: int = Field(
        sa_type=BigInteger, primary_key=True, sa_column_kwargs={"autoincrement": False}
    )
    chat_id: int = Field(sa_type=BigInteger)  # 0 for an update without a chat
    payload: str | None = Field(default=None, sa_type=Sealed("inbound_update.payload"))
    status: InboxStatus = Field(default=InboxStatus.PENDING, sa_type=TextEnum(InboxStatus))
    seen_at: datetime = Field(
        sa_column=utc_column()
    )  # first seen by an instance (maybe held in memory)
    stored_at: datetime = Field(sa_column=utc_column())
    held: bool = False  # waited out a database outage before it could be stored
    attempts: int = 0  # failed tries other than outages
    next_attempt_at: datetime = Field(sa_column=utc_column())
    lease_owner: str | None = Field(default=None, max_length=64)
    lease_until: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    error: str | None = Field(default=None, sa_type=Text)
    processed_at: datetime | None = Field(
        default=None, sa_column=utc_column(nullable=True, index=True)
    )


class ConsoleLink(SQLModel, table=True):
    """A single-use console sign-in link sent by `/console`; only its token's SHA-256 is kept."""

    __tablename__ = "console_link"
    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(max_length=64, unique=True)
    clinician_id: int = Field(foreign_key="clinician.id")  # the registration that asked
    telegram_user_id: int = Field(sa_type=BigInteger)
    created_at: datetime = Field(sa_column=utc_column())
    expires_at: datetime = Field(sa_column=utc_column())
    used_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))


class ConsoleSession(SQLModel, table=True):
    """A signed-in console browser; the cookie holds a random token, this row its SHA-256.

    `clinician_id` is the registration (and so the clinic) the browser works as; a clinician
    of several clinics switches it. Ended by sign-out, by an admin, or by expiry.
    """

    __tablename__ = "console_session"
    __table_args__ = (Index("ix_console_session_user", "telegram_user_id", "ended_at"),)
    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(max_length=64, unique=True)
    telegram_user_id: int = Field(sa_type=BigInteger)
    clinician_id: int = Field(foreign_key="clinician.id")
    created_at: datetime = Field(sa_column=utc_column())
    last_seen_at: datetime = Field(sa_column=utc_column())
    expires_at: datetime = Field(sa_column=utc_column())  # absolute end
    ended_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    ended_by: SessionEnd | None = Field(default=None, sa_type=TextEnum(SessionEnd, 32))


class PageEvent(SQLModel, table=True):
    """An event for a paging service (PagerDuty Events API v2 or a compatible receiver) or the
    clinic's signed webhook: kept until delivered, retried with backoff (the outbox)."""

    __tablename__ = "page_event"
    __table_args__ = (Index("ix_page_event_due", "status", "next_attempt_at"),)
    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(
        sa_column=Column("escalation_id", ForeignKey("escalation.id"), nullable=False, index=True)
    )
    channel: ChannelKind = Field(sa_type=TextEnum(ChannelKind))  # an outbox channel
    action: PageEventAction = Field(sa_type=TextEnum(PageEventAction))
    url: str = Field(sa_type=Text)
    routing_key: str | None = Field(default=None, max_length=128)
    body: str = Field(sa_type=Text)  # the JSON sent
    status: PageEventStatus = Field(
        default=PageEventStatus.PENDING, sa_type=TextEnum(PageEventStatus)
    )
    attempts: int = 0
    next_attempt_at: datetime = Field(sa_column=utc_column())
    lease_owner: str | None = Field(default=None, max_length=64)
    lease_until: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    created_at: datetime = Field(sa_column=utc_column())
    sent_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    error: str | None = Field(default=None, sa_type=Text)


class WebhookReceipt(SQLModel, table=True):
    """An inbound paging-service webhook event already handled (`webhook_id`: `event:<id>`, the
    event's own id, which its signature covers; rows before 0008 hold an `X-Webhook-Id`): a
    redelivery or a replay of it changes nothing."""

    __tablename__ = "webhook_receipt"
    webhook_id: str = Field(primary_key=True, max_length=128)
    event_type: str = Field(max_length=64)
    received_at: datetime = Field(sa_column=utc_column())


class WebhookSecret(SQLModel, table=True):
    """A clinic's secret for signing its webhook events, kept encrypted (`sealed`: Fernet under
    AFTERCARE_SECRET_KEY), not hashed, since an HMAC needs the secret itself. The clinic's
    newest signs (`expires_at` unset); one rotated out signs beside it until `expires_at`."""

    __tablename__ = "webhook_secret"
    __table_args__ = (Index("ix_webhook_secret_clinic", "clinic_id", "expires_at"),)
    id: int | None = Field(default=None, primary_key=True)
    clinic_id: str = Field(foreign_key="clinic.id", max_length=32)
    sealed: str = Field(sa_type=Text)
    hint: str = Field(max_length=8)  # its last characters, so an admin can tell secrets apart
    created_at: datetime = Field(sa_column=utc_column())
    created_by: Actor = Field(sa_type=ActorText())
    expires_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))

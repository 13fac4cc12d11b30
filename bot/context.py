"""What every handler and job needs: settings, clinics, database, clock, and who is talking."""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession
from telegram import Message, Update
from telegram.ext import Application, ApplicationHandlerStop, CallbackContext, ExtBot

from bot.clinic_config import ClinicConfig, ClinicsConfig
from bot.clock import Clock, SystemClock
from bot.messaging.delivery import Outcome
from bot.ops.metrics import Metrics
from bot.settings import Settings
from storage import audit
from storage.engine import Database
from storage.inbox import mark_done
from storage.models import Checkin, Clinician, Patient

CONTEXT_KEY = "aftercare"


def default_instance_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


class Dispatch(Protocol):
    """What handlers and the health check need of the dispatcher (`bot.dispatch.Dispatcher`)."""

    last_tick_at: datetime | None  # liveness: when the last complete round started

    @property
    def lease(self) -> timedelta: ...

    async def page_now(
        self, case_id: int, *, patient_told_after: asyncio.Event | None = None
    ) -> None: ...

    async def send_checkin(
        self, checkin: Checkin, patient: Patient, *, routine: bool = True
    ) -> Outcome: ...


@dataclass
class IntakeState:
    """Whether updates can be stored and processed right now (the intake's part of `/healthz`),
    and what the intake remembers for answering from memory during an outage."""

    failing_since: datetime | None = None
    problem: str | None = None  # one line, e.g. "OperationalError: database is locked"
    held: int = 0  # updates seen but not yet stored (Telegram keeps them meanwhile)
    clinic_of_chat: dict[int, str] = field(default_factory=dict)  # for the right crisis card

    def failed(self, problem: str, *, now: datetime) -> None:
        if self.failing_since is None:
            self.failing_since = now
        self.problem = problem

    def recovered(self) -> None:
        self.failing_since = None
        self.problem = None
        self.held = 0


@dataclass
class AppContext:
    """The running bot's dependencies, kept in `application.bot_data`."""

    settings: Settings
    clinics: ClinicsConfig
    db: Database
    clock: Clock = field(default_factory=SystemClock)
    instance_id: str = field(default_factory=default_instance_id)
    dispatcher: Dispatch | None = None  # set once the bot is initialised
    metrics: Metrics = field(default_factory=Metrics)
    intake: IntakeState = field(default_factory=IntakeState)
    settings_versions: dict[str, int] = field(default_factory=dict)  # clinic id -> in use

    def use_clinic(self, clinic: ClinicConfig, version: int) -> bool:
        """Use a newer settings version of a clinic (from the console, or another instance's
        save); an older or unknown one is ignored. True if it was taken."""
        if version <= self.settings_versions.get(clinic.id, 0):
            return False
        if clinic.id not in {c.id for c in self.clinics.clinics}:
            return False
        self.clinics = self.clinics.model_copy(
            update={"clinics": [clinic if c.id == clinic.id else c for c in self.clinics.clinics]}
        )
        self.settings_versions[clinic.id] = version
        return True

    def clinic(self, clinic_id: str | None) -> ClinicConfig:
        """A clinic by id; the first configured clinic for someone not in one."""
        if clinic_id is not None:
            try:
                return self.clinics.clinic(clinic_id)
            except KeyError:
                pass
        return self.clinics.clinics[0]


@dataclass(frozen=True)
class Identity:
    """Who sent an update, looked up once per update."""

    patient: Patient | None = None
    clinicians: tuple[Clinician, ...] = ()

    @property
    def is_stranger(self) -> bool:
        return self.patient is None and not self.clinicians


LATE_AFTER = timedelta(minutes=1)  # an update this late says so even without a known outage


@dataclass
class UpdateInProcess:
    """The update the inbox is processing in this task (see `bot.intake.inbox`)."""

    update_id: int
    written_at: datetime  # when the sender sent it, as far as anyone knows
    held: bool = False  # it waited out a database outage before it could be stored or processed
    committed: bool = False  # its effects, and the record that it was processed, are stored
    error: BaseException | None = None  # what a handler raised, if anything
    sender: Identity | None = None  # looked up in the transaction that stored and leased it
    spinner: asyncio.Task[bool] | None = None  # the tap's wordless answer, sent by the intake

    @classmethod
    def of(
        cls,
        update_id: int,
        update: Update,
        *,
        seen_at: datetime,
        held: bool,
        received: Received | None = None,
    ) -> UpdateInProcess:
        """The inbox's update `update_id` about to be processed, first seen at `seen_at`."""
        written = seen_at
        message = update.message or update.edited_message
        if isinstance(message, Message):  # the sender's own date
            written = min(message.edit_date or message.date, seen_at)
        sender, spinner = (received.sender, received.spinner) if received else (None, None)
        return cls(update_id, written_at=written, held=held, sender=sender, spinner=spinner)

    def delayed_since(self, now: datetime) -> datetime | None:
        """When it was written, if it reached the handlers delayed (an outage, or late)."""
        if self.held or now - self.written_at >= LATE_AFTER:
            return self.written_at
        return None


@dataclass(frozen=True)
class Received:
    """An update as the intake stored it (`payload`) and read it (`update`). `sender`: who
    sent it, looked up in the storing transaction, when that transaction also leased it as its
    chat's next: nothing of the chat can change in between but what a person does elsewhere,
    as with any lookup before a handler's own transaction."""

    payload: str
    update: Update
    sender: Identity | None = None
    spinner: asyncio.Task[bool] | None = None  # its tap's wordless answer, sent at once

    def behind(self) -> Received:
        """As it is when another update of its chat comes first: what the storing transaction
        found of the chat (the sender, the tap's next answer) may be changed by that one."""
        return Received(self.payload, self.update)


CURRENT_UPDATE: ContextVar[UpdateInProcess | None] = ContextVar("aftercare_update", default=None)


class AlreadyProcessed(ApplicationHandlerStop):
    """The update was processed before (by another try or instance): change nothing."""


async def mark_processed(session: AsyncSession, work: UpdateInProcess, *, now: datetime) -> None:
    """The first statement of an update's effects: the record that it was processed
    (AlreadyProcessed if it was already, or is gone). On PostgreSQL the audit chain's lock
    comes first, the order of every writer: the effects that follow take it anyway, and an
    erasure holding it deletes the chat's updates. (An update that changes nothing is marked
    in a transaction of that one statement, which needs no chain.)"""
    await audit.hold_chain(session)
    if not await mark_done(session, update_id=work.update_id, now=now):
        raise AlreadyProcessed


class AftercareContext(
    CallbackContext[ExtBot[None], dict[Any, Any], dict[Any, Any], dict[Any, Any]]
):
    """PTB's per-update context plus the app's dependencies and the sender's identity."""

    def __init__(
        self,
        application: Application[Any, Any, Any, Any, Any, Any],
        chat_id: int | None = None,
        user_id: int | None = None,
    ) -> None:
        super().__init__(application=application, chat_id=chat_id, user_id=user_id)
        self.identity: Identity = Identity()

    @property
    def app(self) -> AppContext:
        ctx = self.bot_data[CONTEXT_KEY]
        assert isinstance(ctx, AppContext)
        return ctx

    @property
    def spinner(self) -> asyncio.Task[bool] | None:
        """The wordless answer the intake sent to this tap as soon as it was stored, because
        it was its check-in's next answer then (`bot.intake.receive`); None if none was sent."""
        work = CURRENT_UPDATE.get()
        return work.spinner if work is not None else None

    def delayed_since(self, now: datetime) -> datetime | None:
        """When the update being processed was written, if it reached us delayed."""
        work = CURRENT_UPDATE.get()
        return work.delayed_since(now) if work is not None else None

    @asynccontextmanager
    async def effects(self) -> AsyncIterator[AsyncSession]:
        """The transaction an update's effects commit in, with the record that it was processed.

        Every handler that changes something opens it once. A redelivered or retried update
        whose effects are already stored raises `AlreadyProcessed` here and changes nothing.
        """
        work = CURRENT_UPDATE.get()
        ctx = self.app
        async with ctx.db.transaction() as session:
            if work is not None and not work.committed:  # the first of this update's writes
                await mark_processed(session, work, now=ctx.clock.now())
            yield session
        if work is not None:
            work.committed = True

"""What every handler and job needs: settings, clinics, database, clock, and who is talking."""

from __future__ import annotations

import asyncio
import os
import socket
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from telegram.ext import Application, CallbackContext, ExtBot

from bot.clinic_config import ClinicConfig, ClinicsConfig
from bot.clock import Clock, SystemClock
from bot.messaging.delivery import Outcome
from bot.ops.metrics import Metrics
from bot.settings import Settings
from storage.engine import Database
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
class AppContext:
    """The running bot's dependencies, kept in `application.bot_data`."""

    settings: Settings
    clinics: ClinicsConfig
    db: Database
    clock: Clock = field(default_factory=SystemClock)
    instance_id: str = field(default_factory=default_instance_id)
    dispatcher: Dispatch | None = None  # set once the bot is initialised
    metrics: Metrics = field(default_factory=Metrics)

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
    lookup_failed: bool = False  # the database could not be asked; treat as unknown, say so

    @property
    def is_stranger(self) -> bool:
        return self.patient is None and not self.clinicians and not self.lookup_failed


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

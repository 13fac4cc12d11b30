"""Pieces for testing one unit of the dispatcher or the pager: a context, a bot, some rows.

No PTB Application and no polling: the unit under test is called directly, and speaks real
HTTP to the sandbox Bot API through the production transport.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from telegram.ext import ExtBot

from bot.clinic_config import ClinicsConfig
from bot.clock import OffsetClock
from bot.context import AppContext
from bot.messaging.transport import AiohttpRequest
from sandbox import BotApiSandbox
from storage.clinics import ClinicRow, sync_clinics
from storage.engine import Database
from storage.models import Checkin, Clinician, Patient
from storage.states import CheckinKind, PatientStatus
from tests.auxil.harness import TOKEN, make_clinics, make_settings, rehearsal_clinic

PATIENT_CHAT = 501
PRIMARY_CHAT, BACKUP_CHAT = 601, 602


@dataclass
class Unit:
    """A context and a bot, as the dispatcher and the pager receive them."""

    ctx: AppContext
    bot: ExtBot[Any]
    clock: OffsetClock
    sandbox: BotApiSandbox


@asynccontextmanager
async def unit(
    sandbox: BotApiSandbox, db: Database, *, clinics: ClinicsConfig | None = None
) -> AsyncIterator[Unit]:
    clinics = clinics or make_clinics(rehearsal_clinic())
    clock = OffsetClock()
    ctx = AppContext(
        settings=make_settings(sandbox, "sqlite+aiosqlite:///unused.db", send_rate_per_second=0),
        clinics=clinics,
        db=db,
        clock=clock,
        instance_id="unit",
    )
    async with db.transaction() as session:
        await sync_clinics(
            session,
            clinics=[
                ClinicRow(c.id, c.name, c.timezone, c.plan_fingerprint()) for c in clinics.clinics
            ],
            now=clock.now(),
        )
    bot: ExtBot[Any] = ExtBot(
        TOKEN,
        base_url=f"{sandbox.url}/bot",
        base_file_url=f"{sandbox.url}/file/bot",
        request=AiohttpRequest(),
        get_updates_request=AiohttpRequest(),
    )
    await bot.initialize()
    try:
        yield Unit(ctx, bot, clock, sandbox)
    finally:
        await bot.shutdown()


async def seed_patient(u: Unit, *, chat_id: int = PATIENT_CHAT, ref: str = "P-1") -> Patient:
    """An active patient of the first clinic whose chat exists in the sandbox."""
    u.sandbox.add_user(chat_id, ref)
    now = u.clock.now()
    async with u.ctx.db.transaction() as session:
        patient = Patient(
            clinic_id=u.ctx.clinics.clinics[0].id,
            ref=ref,
            timezone="UTC",
            baseline_mood=6,
            status=PatientStatus.ACTIVE,
            chat_id=chat_id,
            telegram_user_id=chat_id,
            consented_at=now,
            created_at=now,
        )
        session.add(patient)
        await session.flush()
    return patient


async def seed_clinician(u: Unit, name: str, chat_id: int) -> Clinician:
    u.sandbox.add_user(chat_id, name)
    async with u.ctx.db.transaction() as session:
        clinician = Clinician(
            clinic_id=u.ctx.clinics.clinics[0].id,
            name=name,
            telegram_user_id=chat_id,
            chat_id=chat_id,
            created_at=u.clock.now(),
        )
        session.add(clinician)
        await session.flush()
    return clinician


async def seed_checkin(u: Unit, patient: Patient, *, due_in: timedelta, **fields: Any) -> Checkin:
    """A scheduled offset check-in due `due_in` from now (negative: already due)."""
    assert patient.id is not None
    due = u.clock.now() + due_in
    async with u.ctx.db.transaction() as session:
        checkin = Checkin(
            patient_id=patient.id,
            kind=CheckinKind.OFFSET,
            offset_seconds=14400,
            nominal_at=due,
            due_at=due,
            created_at=u.clock.now(),
            **fields,
        )
        session.add(checkin)
        await session.flush()
    return checkin


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]

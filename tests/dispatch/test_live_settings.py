"""A schedule saved on one instance re-plans unsent check-ins at once and reaches the other
instance within seconds, without a restart (two webhook instances on one database; on
PostgreSQL in CI, and on SQLite too)."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta

from sqlalchemy import select

from bot.services.clinic.settings import save
from bot.services.infusions import record_infusion
from sandbox import BotApiSandbox
from storage.models import Checkin, Patient
from storage.states import Actor, ActorKind, CheckinStatus
from tests.auxil.databases import IsolatedDatabase
from tests.auxil.harness import make_clinics, rehearsal_clinic, webhook_bot
from tests.auxil.journey import enrolled_patient, infusions_ended_at

PATIENT, OTHER = 9101, 9102
PROMPT_MARK = "check-in after your infusion"
CLINIC = rehearsal_clinic(offset="PT1H").replace(
    'contact_phone = "+1 555 0100"', 'contact_phone = "+1 555 0100"\nmanaged_by = "console"'
)


async def test_a_saved_schedule_replans_and_reaches_the_other_instance(
    sandbox: BotApiSandbox, test_db: IsolatedDatabase
) -> None:
    clinics = make_clinics(CLINIC)
    async with (
        webhook_bot(sandbox, test_db, clinics=clinics, settings_poll_seconds=0.2) as (first, _),
        webhook_bot(sandbox, test_db, clinics=clinics, settings_poll_seconds=0.2) as (second, _),
    ):
        patient_id = await enrolled_patient(first, PATIENT, "P-1", infusion=False)
        now = first.ctx.clock.now()
        await infusions_ended_at(first, [patient_id], ended_at=now)
        north = first.ctx.clinic("north")
        assert north.protocols["standard"].offsets == [timedelta(hours=1)]
        faster = north.model_copy(
            update={
                "protocols": {
                    "standard": north.protocols["standard"].model_copy(
                        update={"offsets": [timedelta(seconds=2)], "red_flags_at": None}
                    )
                }
            }
        )
        async with first.ctx.db.transaction() as session:
            saved = await save(
                session,
                clinic=faster,
                based_on=first.ctx.settings_versions["north"],
                actor=Actor.of(ActorKind.CLINICIAN, 1),
                now=first.ctx.clock.now(),
            )
        assert saved.replanned == 1
        first.ctx.use_clinic(saved.clinic, saved.version)
        saved_at = time.monotonic()

        # the other instance uses the new version within seconds (target: 5 s)
        while second.ctx.clinic("north").protocols["standard"].offsets != [timedelta(seconds=2)]:
            assert time.monotonic() - saved_at < 5, "the second instance kept the old schedule"
            await asyncio.sleep(0.05)
        assert second.ctx.settings_versions["north"] == saved.version

        # the unsent check-in was moved from +1 h to +2 s: it is sent now, once
        await sandbox.wait_for_message(PATIENT, PROMPT_MARK, timeout=10)
        await asyncio.sleep(0.5)
        prompts = [
            c
            for c in sandbox.calls_to("sendMessage")
            if int(c.params["chat_id"]) == PATIENT and PROMPT_MARK in str(c.params.get("text"))
        ]
        assert len(prompts) == 1

        # a new infusion recorded through the second instance is planned by the new schedule
        other_id = await enrolled_patient(second, OTHER, "P-2", infusion=False)
        async with second.ctx.db.transaction() as session:
            other = await session.get(Patient, other_id)
            assert other is not None
            infusion_end = second.ctx.clock.now()
            await record_infusion(
                session,
                patient=other,
                clinic=second.ctx.clinic("north"),
                ended_at=infusion_end,
                protocol=None,
                now=infusion_end,
                actor="cli",
            )
        async with second.ctx.db.transaction() as session:
            planned = (
                await session.scalars(
                    select(Checkin).where(
                        Checkin.patient_id == other_id, Checkin.status == CheckinStatus.SCHEDULED
                    )
                )
            ).all()
        assert [c.offset_seconds for c in planned] == [2]

"""Re-planning: a new infusion supersedes old dailies; cancel and move re-plan what is unsent."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from bot.clinic_config import parse_clinics
from bot.services.infusions import change_infusion, record_infusion
from storage.clinics import ClinicRow, sync_clinics
from storage.engine import Database
from storage.models import Checkin, Patient

CLINIC = """
[[clinics]]
id = "north"
name = "North"
timezone = "UTC"
contact_phone = "+1 555"
"""


@pytest.mark.parametrize("zone", ["America/New_York", "Europe/London", "Australia/Sydney"])
async def test_new_infusion_supersedes_dailies_and_cancel_restores_them(
    db: Database, zone: str
) -> None:
    clinic = parse_clinics(CLINIC, source="t").clinics[0]
    tz = ZoneInfo(zone)
    first_end = datetime(2026, 3, 30, 9, 0, tzinfo=tz).astimezone(UTC)  # spans DST in Sydney
    now = first_end
    async with db.transaction() as session:
        await sync_clinics(session, clinics=[ClinicRow("north", "North", "UTC", "x")], now=now)
        patient = Patient(
            clinic_id="north", ref="P", timezone=zone, status="active", chat_id=1, created_at=now
        )
        session.add(patient)
        await session.flush()
        first, _ = await record_infusion(
            session,
            patient=patient,
            clinic=clinic,
            ended_at=first_end,
            protocol=None,
            now=now,
            actor="cli",
        )
    second_end = first_end + timedelta(days=2, hours=1)
    async with db.transaction() as session:
        second, _ = await record_infusion(
            session,
            patient=patient,
            clinic=clinic,
            ended_at=second_end,
            protocol=None,
            now=second_end,
            actor="cli",
        )
        rows = (await session.scalars(select(Checkin).order_by(Checkin.due_at))).all()
    scheduled = [r for r in rows if r.status == "scheduled"]
    superseded = [r for r in rows if r.status == "superseded"]
    assert superseded and all(r.infusion_id == first.id and r.kind == "daily" for r in superseded)
    assert all(r.due_at >= second_end for r in superseded)
    daily_dates = [r.due_at.astimezone(tz).date() for r in scheduled if r.kind == "daily"]
    assert len(daily_dates) == len(set(daily_dates)), "two daily check-ins on one day"
    assert {r.infusion_id for r in scheduled if r.kind == "daily" and r.due_at > second_end} == {
        second.id
    }
    assert all(r.due_at.astimezone(tz).hour == 10 for r in scheduled if r.kind == "daily")

    async with db.transaction() as session:
        result = await change_infusion(
            session,
            infusion=second,
            patient=patient,
            clinic=clinic,
            now=second_end,
            actor="cli",
            cancel=True,
        )
        rows = (await session.scalars(select(Checkin).order_by(Checkin.due_at))).all()
    assert result.cancelled >= 2 and result.added >= len(superseded)
    live = [r for r in rows if r.status == "scheduled"]
    assert all(r.infusion_id == first.id for r in live)
    assert {r.due_at for r in live if r.kind == "daily"} >= {r.due_at for r in superseded}


async def test_move_replans_only_what_was_not_sent(db: Database) -> None:
    clinic = parse_clinics(CLINIC, source="t").clinics[0]
    now = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
    async with db.transaction() as session:
        await sync_clinics(session, clinics=[ClinicRow("north", "North", "UTC", "x")], now=now)
        patient = Patient(
            clinic_id="north", ref="P", timezone="UTC", status="active", chat_id=1, created_at=now
        )
        session.add(patient)
        await session.flush()
        infusion, planned = await record_infusion(
            session,
            patient=patient,
            clinic=clinic,
            ended_at=now,
            protocol=None,
            now=now,
            actor="cli",
        )
        four_hour = planned[0]
        four_hour.status = "sent"  # already delivered: must not be re-planned
        await session.flush()
        await change_infusion(
            session,
            infusion=infusion,
            patient=patient,
            clinic=clinic,
            now=now,
            actor="cli",
            ended_at=now - timedelta(hours=1),
        )
        rows = (await session.scalars(select(Checkin).order_by(Checkin.id))).all()
    assert rows[0].status == "sent" and rows[0].due_at == now + timedelta(hours=4)
    day_one = next(r for r in rows if r.status == "scheduled" and r.offset_seconds == 86400)
    assert day_one.due_at == now + timedelta(hours=23)
    assert sum(1 for r in rows if r.offset_seconds == 4 * 3600) == 1

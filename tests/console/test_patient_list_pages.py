"""The console's list a page at a time (bot.console.lists.patient_page) is, for every sort, filter
and page, exactly the slice of the whole list (`sort_rows(filter_rows(patient_rows(...)))`) it
stands for: the same rows, same values, same order, same counts; both backends. The world has
ties in every sort key, two unresolved cases for one patient, moods that are not digits,
patients with nothing sent, and another clinic whose patients must never show."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from bot.console.lists.patient_page import list_page
from bot.services.overview import (
    RISK_FILTERS,
    SORT_KEYS,
    STATUS_FILTERS,
    filter_rows,
    patient_rows,
    sort_rows,
)
from storage.clinics import ClinicRow, sync_clinics
from storage.engine import Database
from storage.models import Answer, Case, Checkin, Patient
from storage.states import (
    CaseStatus,
    CaseTrigger,
    CheckinKind,
    CheckinStatus,
    Level,
    PatientStatus,
)

NOW = datetime(2026, 6, 3, 15, 0, tzinfo=UTC)
DAY = timedelta(days=1)
STATUSES = [
    PatientStatus.ACTIVE,
    PatientStatus.ACTIVE,
    PatientStatus.ACTIVE,
    PatientStatus.INVITED,
    PatientStatus.OPTED_OUT,
    PatientStatus.UNREACHABLE,
]
CHECKIN_STATUSES = [
    CheckinStatus.COMPLETED,
    CheckinStatus.MISSED,
    CheckinStatus.SENT,
    CheckinStatus.ABANDONED,
    CheckinStatus.IN_PROGRESS,
]


async def _world(db: Database, *, seed: int = 32) -> None:
    rng = random.Random(seed)
    async with db.transaction() as session:
        await sync_clinics(
            session,
            clinics=[
                ClinicRow("north", "North", "UTC", "x"),
                ClinicRow("south", "South", "UTC", "x"),
            ],
            now=NOW,
        )
        people = [
            Patient(
                clinic_id="south" if k % 9 == 8 else "north",
                ref=f"P-{k % 25:03d}" if k % 9 == 8 else f"{'pq'[k % 2]}-{k:03d}",
                timezone="Europe/Berlin",
                baseline_mood=None if k % 7 == 0 else 6,
                status=rng.choice(STATUSES),
                created_at=NOW - 30 * DAY,
            )
            for k in range(45)
        ]
        session.add_all(people)
        await session.flush()
        # ties: the same sent time for several patients, the same adherence, the same mood
        sent_times = [NOW - timedelta(hours=h) for h in (2, 2, 5, 30, 30, 100, 400)]
        for k, patient in enumerate(people):
            assert patient.id is not None
            checkins = []
            for n in range(rng.choice((0, 0, 1, 2, 3))):
                sent = rng.choice(sent_times) - timedelta(days=n)
                checkin = Checkin(
                    patient_id=patient.id,
                    kind=CheckinKind.DAILY,
                    day=1,
                    nominal_at=sent,
                    due_at=sent - timedelta(minutes=1),
                    status=rng.choice(CHECKIN_STATUSES),
                    sent_at=sent,
                    risk_level=rng.choice(list(Level)),
                    created_at=sent,
                )
                checkins.append(checkin)
            if k % 4 == 0:  # planned, not sent
                due = NOW + timedelta(hours=k)
                checkins.append(
                    Checkin(
                        patient_id=patient.id,
                        kind=CheckinKind.DAILY,
                        day=2,
                        nominal_at=due,
                        due_at=due,
                        status=CheckinStatus.SCHEDULED,
                        risk_level=Level.NONE,
                        created_at=NOW,
                    )
                )
            session.add_all(checkins)
            await session.flush()
            for checkin in checkins:
                if checkin.sent_at is not None and rng.random() < 0.6:
                    value = rng.choice(("3", "6", "6", "10", "skipped"))
                    session.add(
                        Answer(
                            patient_id=patient.id,
                            checkin_id=checkin.id,
                            item_id="mood",
                            value=value,
                            instrument_id="aftercare-checkin",
                            instrument_version="1",
                            answered_at=checkin.sent_at + timedelta(minutes=1),
                        )
                    )
            opened = [Level.LOW, Level.MODERATE, Level.HIGH, Level.HIGH, None, None, None]
            for n, level in enumerate(rng.sample(opened, 2 if k % 11 == 3 else 1)):
                if level is not None:
                    status = rng.choice((CaseStatus.OPEN, CaseStatus.ACKNOWLEDGED))
                    session.add(
                        Case(
                            clinic_id=patient.clinic_id,
                            patient_id=patient.id,
                            level=level,
                            trigger=CaseTrigger.CHECKIN,
                            reason="C-SSRS item 2 = Yes",
                            status=status,
                            opened_at=NOW - timedelta(hours=3 + n),
                            ladder_started_at=NOW - timedelta(hours=3 + n),
                        )
                    )
            if k % 10 == 5:  # a resolved case: not on the list
                session.add(
                    Case(
                        clinic_id=patient.clinic_id,
                        patient_id=patient.id,
                        level=Level.HIGH,
                        trigger=CaseTrigger.CHECKIN,
                        reason="C-SSRS item 2 = Yes",
                        status=CaseStatus.RESOLVED,
                        opened_at=NOW - 3 * DAY,
                        ladder_started_at=NOW - 3 * DAY,
                        resolved_at=NOW - 2 * DAY,
                    )
                )


@pytest.mark.parametrize("sort", SORT_KEYS)
async def test_every_page_is_the_slice_of_the_whole_list(db: Database, sort: str) -> None:
    await _world(db)
    async with db.transaction() as session:
        whole = await patient_rows(session, clinic_id="north", now=NOW)
        opened = sum(1 for row in whole if row.open_case is not None)
        assert opened >= 6 and len(whole) >= 30  # the world covers what the pages must
        for risk in (None, *RISK_FILTERS):
            for status in (None, *STATUS_FILTERS):
                expected = sort_rows(filter_rows(whole, risk=risk, status=status), sort)
                for size in (3, 7) if risk is None else (7,):
                    for first in range(0, len(expected) + size, size):
                        got = await list_page(
                            session,
                            clinic_id="north",
                            now=NOW,
                            sort=sort,
                            risk=risk,
                            status=status,
                            first=first,
                            size=size,
                        )
                        where = (sort, risk, status, size, first)
                        assert got.rows == expected[first : first + size], where
                        assert (got.total, got.matched) == (len(whole), len(expected)), where


async def test_an_unknown_sort_or_filter_is_refused(db: Database) -> None:
    await _world(db)
    async with db.transaction() as session:
        for asked in ({"sort": "name"}, {"risk": "severe"}, {"status": "gone"}):
            values = {"sort": "ref", "risk": None, "status": None} | asked
            with pytest.raises(ValueError):
                await list_page(session, clinic_id="north", now=NOW, first=0, size=5, **values)

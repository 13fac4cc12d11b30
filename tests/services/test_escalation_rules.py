"""Case rules (CLINICAL.md §2, §5, §6, §8): who is paged, when, and what opens a case.

Pure tests of bot/domain/escalation.py (targets, next_step_time, non_response_findings), then
database-level tests of the services (cases, answers, messages, checkin_states, patients) on
both backends (fixture `db`). Each test fails if the rule it names is broken.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clinic_config import ClinicConfig, parse_clinics
from bot.domain.checkin_flow import Tap
from bot.domain.escalation import (
    MIN_REPEAT,
    NEXT_BUSINESS_DAY,
    BusinessHours,
    NonResponseRule,
    Step,
    next_step_time,
    non_response_findings,
    targets,
)
from bot.domain.levels import Level
from bot.domain.triage import Finding
from bot.services.answers import record_note, record_tap
from bot.services.case_taking import CaseAction, Taken, TakeOutcome, Taker, take
from bot.services.cases import FAST_PATH_GRACE, raise_case
from bot.services.checkin_states import close_checkin
from bot.services.messages import record_free_text
from bot.services.patients import opt_out
from storage.cases import FAST_PATH, claim_due_cases, end_fast_path_reservation
from storage.checkins import get_for_update
from storage.clinics import ClinicRow, sync_clinics
from storage.engine import Database
from storage.models import Answer, Case, Checkin, Clinician, Patient
from storage.states import CaseStatus, CaseTrigger, CheckinStatus

UTC_ZONE = ZoneInfo("UTC")
NEW_YORK = ZoneInfo("America/New_York")
HOURS = BusinessHours(start=time(9, 0), days=(1, 2, 3, 4, 5))
T0 = datetime(2026, 6, 3, 15, 0, tzinfo=UTC)  # a Wednesday

# The default ladders of CLINICAL.md §8, as domain steps.
HIGH = [
    Step(timedelta(0), ("primary",)),
    Step(timedelta(minutes=5), ("primary", "backup")),
    Step(timedelta(minutes=10), ("everyone",)),
]
MODERATE = [Step(timedelta(0), ("primary",)), Step(timedelta(hours=4), ("backup",))]
LOW = [Step(timedelta(0), ("queue",)), Step(NEXT_BUSINESS_DAY, ("primary",))]

RULE = NonResponseRule(
    missed_24h=Level.MODERATE,
    missed_after_risk=Level.MODERATE,
    risk_lookback=timedelta(days=7),
    consecutive_missed=2,
    consecutive_missed_level=Level.MODERATE,
)

EVERYONE = (11, 12, 13, 14)


# --- targets: who a step pages ---------------------------------------------------------------


def test_targets_primary_only() -> None:
    chosen = targets(("primary",), primary=11, backup=12, everyone=EVERYONE)
    assert chosen.clinician_ids == (11,)
    assert not chosen.nobody_on_call and not chosen.queue_only


def test_targets_primary_and_backup() -> None:
    chosen = targets(("primary", "backup"), primary=11, backup=12, everyone=EVERYONE)
    assert set(chosen.clinician_ids) == {11, 12} and len(chosen.clinician_ids) == 2
    assert not chosen.nobody_on_call and not chosen.queue_only


@pytest.mark.parametrize("notify", [("backup",), ("primary", "backup")])
def test_targets_backup_missing_still_pages_the_primary(notify: tuple[str, ...]) -> None:
    chosen = targets(notify, primary=11, backup=None, everyone=EVERYONE)
    assert chosen.clinician_ids == (11,), "no backup on call must never page nobody"
    assert not chosen.nobody_on_call and not chosen.queue_only


@pytest.mark.parametrize("notify", [("primary",), ("backup",), ("primary", "backup")])
def test_targets_nobody_on_call_pages_every_clinician(notify: tuple[str, ...]) -> None:
    chosen = targets(notify, primary=None, backup=None, everyone=EVERYONE)
    assert set(chosen.clinician_ids) == set(EVERYONE)
    assert chosen.nobody_on_call and not chosen.queue_only


def test_targets_everyone() -> None:
    chosen = targets(("everyone",), primary=11, backup=12, everyone=EVERYONE)
    assert set(chosen.clinician_ids) == set(EVERYONE)
    assert not chosen.queue_only


def test_targets_queue_pages_nobody() -> None:
    chosen = targets(("queue",), primary=11, backup=12, everyone=EVERYONE)
    assert chosen.clinician_ids == ()
    assert chosen.queue_only


# --- next_step_time: when the ladder moves on ------------------------------------------------


def test_delivered_page_waits_for_the_next_rung() -> None:
    started = T0
    now = T0 + timedelta(seconds=20)
    at = next_step_time(
        HIGH, 0, opened_at=started, now=now, zone=UTC_ZONE, hours=HOURS, delivered=True
    )
    assert at == started + timedelta(minutes=5)
    at = next_step_time(
        HIGH,
        1,
        opened_at=started,
        now=started + timedelta(minutes=5, seconds=3),
        zone=UTC_ZONE,
        hours=HOURS,
        delivered=True,
    )
    assert at == started + timedelta(minutes=10)
    at = next_step_time(
        MODERATE, 0, opened_at=started, now=now, zone=UTC_ZONE, hours=HOURS, delivered=True
    )
    assert at == started + timedelta(hours=4)


@pytest.mark.parametrize("fired", [0, 1])
def test_undelivered_page_moves_on_at_once(fired: int) -> None:
    now = T0 + timedelta(seconds=30)
    at = next_step_time(
        HIGH, fired, opened_at=T0, now=now, zone=UTC_ZONE, hours=HOURS, delivered=False
    )
    assert at == now


@pytest.mark.parametrize("ladder", [HIGH, MODERATE, [Step(timedelta(0), ("primary",))]])
def test_after_the_last_rung_the_ladder_repeats(ladder: list[Step]) -> None:
    now = T0 + timedelta(hours=5)
    at = next_step_time(
        ladder,
        len(ladder) - 1,
        opened_at=T0,
        now=now,
        zone=UTC_ZONE,
        hours=HOURS,
        delivered=True,
    )
    assert at > now, "an exhausted ladder must repeat, not stop"
    assert at - now >= MIN_REPEAT >= timedelta(minutes=5)


def test_repeat_is_never_faster_than_five_minutes() -> None:
    tight = [Step(timedelta(0), ("primary",)), Step(timedelta(seconds=1), ("everyone",))]
    now = T0 + timedelta(seconds=1)
    at = next_step_time(tight, 1, opened_at=T0, now=now, zone=UTC_ZONE, hours=HOURS, delivered=True)
    assert at - now >= timedelta(minutes=5)


def test_next_business_day_after_a_friday_evening_is_monday_morning() -> None:
    opened = datetime(2026, 6, 5, 19, 30, tzinfo=NEW_YORK)  # Friday 19:30 in New York
    assert opened.isoweekday() == 5
    at = next_step_time(
        LOW, 0, opened_at=opened, now=opened, zone=NEW_YORK, hours=HOURS, delivered=True
    )
    local = at.astimezone(NEW_YORK)
    assert local.isoweekday() == 1 and local.date() == datetime(2026, 6, 8).date()
    assert local.time() == time(9, 0)
    assert at == datetime(2026, 6, 8, 13, 0, tzinfo=UTC)  # EDT: UTC-4


def test_next_business_day_uses_the_clinic_zone_not_utc() -> None:
    # Friday 21:30 in New York is already Saturday 01:30 UTC: still Monday 09:00 New York.
    opened = datetime(2026, 6, 6, 1, 30, tzinfo=UTC)
    at = next_step_time(
        LOW, 0, opened_at=opened, now=opened, zone=NEW_YORK, hours=HOURS, delivered=True
    )
    assert at.astimezone(NEW_YORK) == datetime(2026, 6, 8, 9, 0, tzinfo=NEW_YORK)


# --- non_response_findings: what silence means -----------------------------------------------


def _levels(findings: list[Finding]) -> list[Level]:
    return [f.level for f in findings]


def test_missed_24h_checkin_alerts() -> None:
    findings = non_response_findings(
        offset=timedelta(hours=24), missed=True, now=T0, rule=RULE, recent=[]
    )
    assert Level.MODERATE in _levels(findings)
    assert any("24" in f.reason for f in findings)


def test_missed_24h_uses_the_configured_level() -> None:
    rule = NonResponseRule(
        missed_24h=Level.HIGH,
        missed_after_risk=Level.MODERATE,
        risk_lookback=timedelta(days=7),
        consecutive_missed=2,
        consecutive_missed_level=Level.MODERATE,
    )
    findings = non_response_findings(
        offset=timedelta(hours=24), missed=True, now=T0, rule=rule, recent=[]
    )
    assert Level.HIGH in _levels(findings)


@pytest.mark.parametrize("prior", [Level.MODERATE, Level.HIGH])
def test_miss_within_seven_days_of_a_moderate_result_alerts(prior: Level) -> None:
    recent = [(T0 - timedelta(days=3), "completed", prior)]
    findings = non_response_findings(offset=None, missed=True, now=T0, rule=RULE, recent=recent)
    assert Level.MODERATE in _levels(findings)


def test_miss_more_than_seven_days_after_a_moderate_result_is_nothing() -> None:
    recent = [
        (T0 - timedelta(days=8), "completed", Level.HIGH),
        (T0 - timedelta(days=9), "completed", Level.MODERATE),
    ]
    findings = non_response_findings(offset=None, missed=True, now=T0, rule=RULE, recent=recent)
    assert findings == []


def test_miss_after_only_low_results_is_nothing() -> None:
    recent = [(T0 - timedelta(days=1), "completed", Level.LOW)]
    assert non_response_findings(offset=None, missed=True, now=T0, rule=RULE, recent=recent) == []


def test_two_consecutive_misses_alert() -> None:
    recent = [
        (T0 - timedelta(days=1), "missed", Level.NONE),
        (T0 - timedelta(days=2), "completed", Level.NONE),
    ]
    findings = non_response_findings(offset=None, missed=True, now=T0, rule=RULE, recent=recent)
    assert _levels(findings) == [Level.MODERATE]
    assert "consecutive" in findings[0].reason


def test_a_miss_after_an_answered_checkin_is_not_consecutive() -> None:
    recent = [
        (T0 - timedelta(days=1), "completed", Level.NONE),
        (T0 - timedelta(days=2), "missed", Level.NONE),
    ]
    assert non_response_findings(offset=None, missed=True, now=T0, rule=RULE, recent=recent) == []


@pytest.mark.parametrize("offset", [None, timedelta(hours=4)])
def test_one_miss_alone_is_nothing(offset: timedelta | None) -> None:
    assert non_response_findings(offset=offset, missed=True, now=T0, rule=RULE, recent=[]) == []
    recent = [(T0 - timedelta(days=1), "completed", Level.NONE)]
    assert non_response_findings(offset=offset, missed=True, now=T0, rule=RULE, recent=recent) == []


def test_an_answered_checkin_is_never_a_non_response() -> None:
    recent = [
        (T0 - timedelta(days=1), "missed", Level.NONE),
        (T0 - timedelta(days=2), "completed", Level.HIGH),
    ]
    assert (
        non_response_findings(
            offset=timedelta(hours=24), missed=False, now=T0, rule=RULE, recent=recent
        )
        == []
    )


# --- database level ----------------------------------------------------------------------------

CLINICS = """
[[clinics]]
id = "north"
name = "North"
timezone = "UTC"
contact_phone = "+1 555"

[[clinics]]
id = "south"
name = "South"
timezone = "UTC"
contact_phone = "+1 556"
"""

NOW = datetime(2026, 6, 3, 15, 0, tzinfo=UTC)


def _clinic(clinic_id: str = "north") -> ClinicConfig:
    return parse_clinics(CLINICS, source="t").clinic(clinic_id)


async def _setup(db: Database) -> tuple[Patient, Clinician, Clinician]:
    """Two clinics; an active patient and a clinician in north, a clinician in south."""
    async with db.transaction() as session:
        await sync_clinics(
            session,
            clinics=[
                ClinicRow("north", "North", "UTC", "x"),
                ClinicRow("south", "South", "UTC", "x"),
            ],
            now=NOW,
        )
        patient = Patient(
            clinic_id="north",
            ref="P-1",
            timezone="UTC",
            status="active",
            chat_id=501,
            telegram_user_id=501,
            created_at=NOW,
        )
        ada = Clinician(
            clinic_id="north", name="Dr Ada", telegram_user_id=601, chat_id=601, created_at=NOW
        )
        sam = Clinician(
            clinic_id="south", name="Dr Sam", telegram_user_id=602, chat_id=602, created_at=NOW
        )
        session.add_all([patient, ada, sam])
        await session.flush()
    return patient, ada, sam


async def _escalations(db: Database) -> list[Case]:
    async with db.transaction() as session:
        return list((await session.scalars(select(Case).order_by(Case.id))).all())


async def _concern(
    db: Database, patient: Patient, level: Level, reason: str, at: datetime = NOW
) -> tuple[int, bool]:
    async with db.transaction() as session:
        raised = await raise_case(
            session,
            patient=patient,
            level=level,
            findings=[Finding(level, reason)],
            trigger=CaseTrigger.CHECKIN,
            now=at,
        )
    assert raised is not None and raised.case.id is not None
    return raised.case.id, raised.page_now


async def _checkin(
    db: Database,
    patient: Patient,
    *,
    offset_seconds: int | None,
    due_at: datetime,
    status: str = CheckinStatus.SENT,
    risk_level: str = "none",
    answers: dict[str, str] | None = None,
) -> int:
    assert patient.id is not None
    async with db.transaction() as session:
        checkin = Checkin(
            patient_id=patient.id,
            kind="offset" if offset_seconds else "daily",
            offset_seconds=offset_seconds,
            nominal_at=due_at,
            due_at=due_at,
            status=status,
            sent_at=due_at,
            current_item="mood",
            closes_at=due_at + timedelta(hours=4),
            closed_at=None if status in (CheckinStatus.SENT, CheckinStatus.IN_PROGRESS) else due_at,
            risk_level=risk_level,
            created_at=due_at,
        )
        session.add(checkin)
        await session.flush()
        assert checkin.id is not None
        for item, value in (answers or {}).items():
            session.add(
                Answer(
                    patient_id=patient.id,
                    checkin_id=checkin.id,
                    item_id=item,
                    value=value,
                    instrument_id="test",
                    instrument_version="1",
                    answered_at=due_at + timedelta(minutes=1),
                )
            )
        return checkin.id


async def _close(db: Database, patient: Patient, checkin_id: int, now: datetime) -> None:
    async with db.transaction() as session:
        checkin = await get_for_update(session, checkin_id=checkin_id)
        assert checkin is not None
        await close_checkin(
            session, checkin=checkin, patient=patient, clinic=_clinic(), now=now, actor="cli"
        )


async def test_one_escalation_per_episode(db: Database) -> None:
    patient, _, _ = await _setup(db)
    first, paged = await _concern(db, patient, Level.MODERATE, "mood 2")
    assert paged
    second, _ = await _concern(db, patient, Level.LOW, "C-SSRS item 1 = Yes")
    third, _ = await _concern(db, patient, Level.MODERATE, "crisis words")
    assert first == second == third
    rows = await _escalations(db)
    assert len(rows) == 1 and rows[0].status == CaseStatus.OPEN


async def test_same_level_appends_the_reason_and_does_not_page_again(db: Database) -> None:
    patient, _, _ = await _setup(db)
    case_id, paged = await _concern(db, patient, Level.MODERATE, "mood 2 at or below floor")
    assert paged
    again, paged_again = await _concern(
        db, patient, Level.MODERATE, "crisis words: pills", NOW + timedelta(minutes=3)
    )
    assert again == case_id
    assert paged_again is False, "a same-level finding must not page again"
    (row,) = await _escalations(db)
    assert "mood 2 at or below floor" in row.reason and "crisis words: pills" in row.reason
    assert row.level == Level.MODERATE
    assert row.ladder_started_at == NOW, "the ladder must not restart on a same-level finding"


async def test_higher_level_raises_resets_the_ladder_and_pages_again(db: Database) -> None:
    patient, _, _ = await _setup(db)
    case_id, _ = await _concern(db, patient, Level.LOW, "C-SSRS item 1 = Yes")
    async with db.transaction() as session:  # the pager has walked one rung
        row = await session.get(Case, case_id)
        assert row is not None
        row.step, row.next_step_at = 1, NOW + timedelta(days=1)
    later = NOW + timedelta(minutes=30)
    again, paged = await _concern(db, patient, Level.HIGH, "C-SSRS item 4 = Yes", later)
    assert again == case_id and paged is True
    (row,) = await _escalations(db)
    assert row.level == Level.HIGH and row.step == 0
    assert row.ladder_started_at == later and row.next_step_at == later
    assert row.status == CaseStatus.OPEN
    assert "C-SSRS item 1 = Yes" in row.reason and "C-SSRS item 4 = Yes" in row.reason


async def test_higher_level_reopens_an_acknowledged_case(db: Database) -> None:
    patient, ada, _ = await _setup(db)
    case_id, _ = await _concern(db, patient, Level.MODERATE, "mood 2")
    async with db.transaction() as session:
        await _ack(session, case_id, ada, NOW)
    later = NOW + timedelta(hours=1)
    _, paged = await _concern(db, patient, Level.HIGH, "red flag", later)
    assert paged
    (row,) = await _escalations(db)
    assert (row.level, row.status, row.step) == (Level.HIGH, CaseStatus.OPEN, 0)
    assert row.acknowledged_at is None and row.next_step_at == later


async def test_lower_level_never_lowers_it(db: Database) -> None:
    patient, _, _ = await _setup(db)
    case_id, _ = await _concern(db, patient, Level.HIGH, "C-SSRS item 5 = Yes")
    async with db.transaction() as session:
        row = await session.get(Case, case_id)
        assert row is not None
        row.step, row.next_step_at = 2, NOW + timedelta(minutes=10)
    for level in (Level.MODERATE, Level.LOW):
        again, paged = await _concern(
            db, patient, level, f"{level} thing", NOW + timedelta(hours=1)
        )
        assert again == case_id and paged is False
    async with db.transaction() as session:
        assert (
            await raise_case(
                session,
                patient=patient,
                level=Level.NONE,
                findings=[],
                trigger=CaseTrigger.CHECKIN,
                now=NOW,
            )
            is None
        )
    (row,) = await _escalations(db)
    assert row.level == Level.HIGH
    assert row.step == 2 and row.next_step_at == NOW + timedelta(minutes=10)


async def test_after_resolve_a_new_concern_opens_a_new_escalation(db: Database) -> None:
    patient, ada, _ = await _setup(db)
    first, _ = await _concern(db, patient, Level.HIGH, "C-SSRS item 4 = Yes")
    async with db.transaction() as session:
        await _resolve(session, first, ada, "called; safe", NOW)
    second, paged = await _concern(
        db, patient, Level.LOW, "C-SSRS item 1 = Yes", NOW + timedelta(days=1)
    )
    assert second != first and paged is True
    rows = await _escalations(db)
    assert [(r.id, r.status, r.level) for r in rows] == [
        (first, CaseStatus.RESOLVED, Level.HIGH),
        (second, CaseStatus.OPEN, Level.LOW),
    ]


async def _claim(db: Database, at: datetime, owner: str, only_id: int | None = None) -> list[int]:
    async with db.transaction() as session:
        claimed = await claim_due_cases(
            session,
            now=at,
            owner=owner,
            lease_until=at + timedelta(seconds=30),
            limit=10,
            only_id=only_id,
        )
    return [case.id for case in claimed if case.id is not None]


async def _raise(db: Database, patient: Patient, level: Level, at: datetime) -> tuple[int, bool]:
    async with db.transaction() as session:
        raised = await raise_case(
            session,
            patient=patient,
            level=level,
            findings=[Finding(level, f"{level} finding")],
            trigger=CaseTrigger.CHECKIN,
            now=at,
            fast_path=True,
        )
    assert raised is not None and raised.case.id is not None
    return raised.case.id, raised.page_now


async def test_a_case_a_patient_raised_is_paged_by_its_own_instance_first(db: Database) -> None:
    """The crisis card goes before the patient's "you have been paged": a tick must not take
    the first page of a case a patient's answer just raised from the instance that handles
    that answer (bot.messaging.conversation.urgent), unless that instance never comes to it."""
    patient, _, _ = await _setup(db)
    case_id, paged = await _raise(db, patient, Level.MODERATE, NOW)
    assert paged
    (row,) = await _escalations(db)
    assert (row.lease_owner, row.lease_until) == (FAST_PATH, NOW + FAST_PATH_GRACE)
    assert await _claim(db, NOW + timedelta(seconds=1), "tick") == []
    assert await _claim(db, NOW + timedelta(seconds=1), "fast", only_id=case_id) == [case_id]
    (row,) = await _escalations(db)
    assert row.lease_owner == "fast"
    # Raised again while the fast path still holds its claim: the claim is left alone.
    _, paged = await _raise(db, patient, Level.HIGH, NOW + timedelta(seconds=2))
    assert paged
    (row,) = await _escalations(db)
    assert (row.lease_owner, row.level) == ("fast", Level.HIGH)
    assert await _claim(db, NOW + timedelta(seconds=2), "other", only_id=case_id) == []
    # The same level again, after that claim ended, pages nothing new: nothing is reserved.
    async with db.transaction() as session:
        case = await session.get(Case, case_id)
        assert case is not None
        case.lease_owner = case.lease_until = None
    _, paged = await _raise(db, patient, Level.HIGH, NOW + timedelta(minutes=1))
    assert not paged  # the same level again pages nothing new and reserves nothing
    (row,) = await _escalations(db)
    assert row.lease_owner is None


async def test_a_tick_pages_a_reserved_case_once_its_instance_failed_to(db: Database) -> None:
    patient, _, _ = await _setup(db)
    case_id, _ = await _raise(db, patient, Level.HIGH, NOW)
    assert await _claim(db, NOW + FAST_PATH_GRACE - timedelta(milliseconds=1), "tick") == []
    assert await _claim(db, NOW + FAST_PATH_GRACE + timedelta(milliseconds=1), "tick") == [case_id]


async def test_a_failed_fast_path_hands_its_case_to_the_ticks_at_once(db: Database) -> None:
    patient, _, _ = await _setup(db)
    case_id, _ = await _raise(db, patient, Level.HIGH, NOW)
    async with db.transaction() as session:  # what Dispatcher.page_now does when it fails
        await end_fast_path_reservation(session, case_id=case_id)
    assert await _claim(db, NOW + timedelta(seconds=1), "tick") == [case_id]
    async with db.transaction() as session:  # a real claim is never cleared by it
        await end_fast_path_reservation(session, case_id=case_id)
    (row,) = await _escalations(db)
    assert row.lease_owner == "tick"


async def test_the_fast_path_waits_for_a_row_lock_instead_of_coming_back_empty(
    db: Database,
) -> None:
    """PostgreSQL: the patient's next message may hold the case row for a moment (raising it
    again); the one-case claim waits for it rather than skipping the locked row, which would
    leave the reserved case to the ticks for FAST_PATH_GRACE."""
    if db.dialect != "postgresql":
        pytest.skip("PostgreSQL only (SQLite serialises writers with BEGIN IMMEDIATE)")
    patient, _, _ = await _setup(db)
    case_id, _ = await _raise(db, patient, Level.HIGH, NOW)
    locked = asyncio.Event()

    async def hold_row() -> None:
        async with db.transaction() as session:
            await session.execute(select(Case.id).where(Case.id == case_id).with_for_update())
            locked.set()
            await asyncio.sleep(0.3)

    holder = asyncio.create_task(hold_row())
    await locked.wait()
    started = asyncio.get_running_loop().time()
    claimed = await _claim(db, NOW + timedelta(seconds=1), "fast", only_id=case_id)
    waited = asyncio.get_running_loop().time() - started
    await holder
    assert claimed == [case_id]
    assert waited > 0.1, "the claim should have waited for the lock"


async def test_a_case_raised_by_the_dispatcher_is_due_to_any_tick_at_once(db: Database) -> None:
    patient, _, _ = await _setup(db)
    case_id, _ = await _concern(db, patient, Level.MODERATE, "missed check-in")
    (row,) = await _escalations(db)
    assert row.lease_owner is None
    assert await _claim(db, NOW, "tick") == [case_id]


async def test_acknowledge_stops_re_paging(db: Database) -> None:
    patient, ada, _ = await _setup(db)
    case_id, _ = await _concern(db, patient, Level.HIGH, "C-SSRS item 4 = Yes")
    at = NOW + timedelta(minutes=2)
    async with db.transaction() as session:
        taken = await _ack(session, case_id, ada, at)
    assert taken.outcome is TakeOutcome.DONE
    (row,) = await _escalations(db)
    assert row.status == CaseStatus.ACKNOWLEDGED
    assert row.next_step_at is None
    assert (row.acknowledged_by, row.acknowledged_at) == (ada.id, at)
    async with db.transaction() as session:
        due = await claim_due_cases(
            session,
            now=NOW + timedelta(days=30),
            owner="t",
            lease_until=NOW + timedelta(days=31),
            limit=10,
        )
    assert due == [], "an acknowledged case must not be paged again"
    async with db.transaction() as session:
        again = await _ack(session, case_id, ada, at)
    assert again.outcome is TakeOutcome.ALREADY
    assert again.message == f"Case #{case_id} is already acknowledged."


async def test_clinician_of_another_clinic_can_neither_ack_nor_resolve(db: Database) -> None:
    patient, _, sam = await _setup(db)
    case_id, _ = await _concern(db, patient, Level.HIGH, "C-SSRS item 4 = Yes")
    async with db.transaction() as session:
        acked = await _ack(session, case_id, sam, NOW)
        resolved = await _resolve(session, case_id, sam, "done", NOW)
    for taken in (acked, resolved):
        assert taken.outcome is TakeOutcome.NOT_FOUND and taken.case is None
        assert taken.message == f"No case #{case_id} in your clinic."
    (row,) = await _escalations(db)
    assert row.status == CaseStatus.OPEN
    assert row.acknowledged_by is None and row.resolved_by is None
    assert row.next_step_at == NOW


@pytest.mark.parametrize("note", ["", "   ", "\n\t"])
async def test_resolve_without_a_note_is_refused(db: Database, note: str) -> None:
    patient, ada, _ = await _setup(db)
    case_id, _ = await _concern(db, patient, Level.MODERATE, "mood 2")
    async with db.transaction() as session:
        taken = await _resolve(session, case_id, ada, note, NOW)
    assert taken.outcome is TakeOutcome.REFUSED
    (row,) = await _escalations(db)
    assert row.status == CaseStatus.OPEN and row.resolved_at is None


async def test_abandoned_after_item_2_yes_raises_moderate_in_the_same_transaction(
    db: Database,
) -> None:
    patient, _, _ = await _setup(db)
    checkin_id = await _checkin(
        db,
        patient,
        offset_seconds=4 * 3600,
        due_at=NOW - timedelta(hours=4),
        status=CheckinStatus.IN_PROGRESS,
        answers={"mood": "5", "s1": "yes", "s2": "yes"},
    )
    async with db.transaction() as session:
        checkin = await get_for_update(session, checkin_id=checkin_id)
        assert checkin is not None
        raised = await close_checkin(
            session, checkin=checkin, patient=patient, clinic=_clinic(), now=NOW, actor="cli"
        )
        assert raised is not None and raised.page_now
    (row,) = await _escalations(db)
    assert row.checkin_id == checkin_id
    assert Level(row.level).rank >= Level.MODERATE.rank
    assert row.status == CaseStatus.OPEN
    async with db.transaction() as session:
        closed = await session.get(Checkin, checkin_id)
        assert closed is not None and closed.status == CheckinStatus.ABANDONED
        assert Level(closed.risk_level).rank >= Level.MODERATE.rank


async def test_closing_and_escalating_roll_back_together(db: Database) -> None:
    patient, _, _ = await _setup(db)
    checkin_id = await _checkin(
        db,
        patient,
        offset_seconds=4 * 3600,
        due_at=NOW - timedelta(hours=4),
        status=CheckinStatus.IN_PROGRESS,
        answers={"mood": "5", "s1": "no", "s2": "yes"},
    )

    class Boom(Exception):
        pass

    with pytest.raises(Boom):
        async with db.transaction() as session:
            checkin = await get_for_update(session, checkin_id=checkin_id)
            assert checkin is not None
            await close_checkin(
                session, checkin=checkin, patient=patient, clinic=_clinic(), now=NOW, actor="cli"
            )
            raise Boom
    assert await _escalations(db) == []
    async with db.transaction() as session:
        row = await session.get(Checkin, checkin_id)
        assert row is not None and row.status == CheckinStatus.IN_PROGRESS


async def test_missed_24h_checkin_opens_an_escalation(db: Database) -> None:
    patient, _, _ = await _setup(db)
    checkin_id = await _checkin(db, patient, offset_seconds=86400, due_at=NOW - timedelta(hours=4))
    await _close(db, patient, checkin_id, NOW)
    (row,) = await _escalations(db)
    assert row.level == _clinic().non_response.missed_24h == Level.MODERATE
    assert row.trigger == "non_response" and row.checkin_id == checkin_id
    assert "24" in row.reason
    async with db.transaction() as session:
        closed = await session.get(Checkin, checkin_id)
        assert closed is not None and closed.status == CheckinStatus.MISSED


async def test_missed_4h_checkin_alone_opens_nothing(db: Database) -> None:
    patient, _, _ = await _setup(db)
    checkin_id = await _checkin(
        db, patient, offset_seconds=4 * 3600, due_at=NOW - timedelta(hours=4)
    )
    await _close(db, patient, checkin_id, NOW)
    assert await _escalations(db) == []


async def test_two_consecutive_misses_open_an_escalation(db: Database) -> None:
    patient, _, _ = await _setup(db)
    await _checkin(
        db,
        patient,
        offset_seconds=None,
        due_at=NOW - timedelta(days=2),
        status=CheckinStatus.COMPLETED,
    )
    first = await _checkin(
        db, patient, offset_seconds=None, due_at=NOW - timedelta(days=1, hours=4)
    )
    await _close(db, patient, first, NOW - timedelta(days=1))
    assert await _escalations(db) == [], "one miss alone opens nothing"
    second = await _checkin(db, patient, offset_seconds=None, due_at=NOW - timedelta(hours=4))
    await _close(db, patient, second, NOW)
    (row,) = await _escalations(db)
    assert row.level == Level.MODERATE and row.trigger == "non_response"
    assert row.checkin_id == second and "consecutive" in row.reason


async def test_miss_after_a_recent_moderate_result_opens_an_escalation(db: Database) -> None:
    patient, _, _ = await _setup(db)
    await _checkin(
        db,
        patient,
        offset_seconds=None,
        due_at=NOW - timedelta(days=3),
        status=CheckinStatus.COMPLETED,
        risk_level="moderate",
    )
    missed = await _checkin(db, patient, offset_seconds=None, due_at=NOW - timedelta(hours=4))
    await _close(db, patient, missed, NOW)
    (row,) = await _escalations(db)
    assert row.level == Level.MODERATE and row.checkin_id == missed


async def test_miss_after_a_checkin_whose_note_raised_moderate_opens_an_escalation(
    db: Database,
) -> None:
    """§5 + §6: crisis words in a check-in's note are a moderate result of that check-in, so a
    check-in missed within 7 days of it must alert the care team again."""
    patient, ada, _ = await _setup(db)
    day_before = NOW - timedelta(days=1)
    answered = await _checkin(db, patient, offset_seconds=None, due_at=day_before)
    async with db.transaction() as session:
        for item, value in (("mood", "6"), ("s1", "no"), ("s2", "no"), ("s6", "no")):
            stored = await record_tap(
                session,
                patient=patient,
                clinic=_clinic(),
                tap=Tap(answered, item, value),
                now=day_before + timedelta(minutes=5),
                update_id=None,
            )
            assert stored is not None, item
        noted = await record_note(
            session,
            patient=patient,
            clinic=_clinic(),
            checkin_id=answered,
            text="I have been saving up my sleeping pills",
            now=day_before + timedelta(minutes=6),
            update_id=None,
        )
        assert noted is not None and noted.completed and noted.words
        assert noted.raised is not None
    (first,) = await _escalations(db)
    assert first.level == Level.MODERATE and first.checkin_id == answered
    async with db.transaction() as session:  # the clinician called; the case is closed
        await _resolve(session, first.id or 0, ada, "called", day_before + timedelta(hours=1))
    missed = await _checkin(db, patient, offset_seconds=None, due_at=NOW - timedelta(hours=4))
    await _close(db, patient, missed, NOW)
    rows = await _escalations(db)
    assert len(rows) == 2, (
        "a check-in missed 1 day after a check-in whose note raised a moderate escalation "
        "opened no escalation (CLINICAL.md §6: missed after a moderate-or-higher result)"
    )
    assert rows[1].status == CaseStatus.OPEN and rows[1].checkin_id == missed


async def test_free_text_with_crisis_words_raises_moderate_with_the_quote(db: Database) -> None:
    patient, _, _ = await _setup(db)
    text = "I took 800mg of ibuprofen"
    async with db.transaction() as session:
        kept = await record_free_text(
            session, patient=patient, clinic=_clinic(), text=text, now=NOW, update_id=77
        )
    assert kept.words and kept.raised is not None and kept.raised.page_now
    (row,) = await _escalations(db)
    assert row.level == Level.MODERATE and row.trigger == "message"
    assert row.quote is not None and text in row.quote
    async with db.transaction() as session:
        answers = (await session.scalars(select(Answer))).all()
    assert [(a.item_id, a.value, a.checkin_id) for a in answers] == [("message", text, None)]


async def test_free_text_without_crisis_words_raises_nothing_but_is_kept(db: Database) -> None:
    patient, _, _ = await _setup(db)
    async with db.transaction() as session:
        kept = await record_free_text(
            session, patient=patient, clinic=_clinic(), text="lovely day", now=NOW, update_id=78
        )
    assert kept.words == () and kept.raised is None
    assert await _escalations(db) == []
    async with db.transaction() as session:
        answers = (await session.scalars(select(Answer))).all()
    assert [(a.item_id, a.value, a.patient_id) for a in answers] == [
        ("message", "lovely day", patient.id)
    ]


async def test_a_later_calm_message_never_lowers_a_raised_case(db: Database) -> None:
    patient, _, _ = await _setup(db)
    await _concern(db, patient, Level.HIGH, "C-SSRS item 4 = Yes")
    async with db.transaction() as session:
        await record_free_text(
            session, patient=patient, clinic=_clinic(), text="all fine now", now=NOW, update_id=1
        )
    (row,) = await _escalations(db)
    assert row.level == Level.HIGH and row.status == CaseStatus.OPEN


async def test_opt_out_raises_the_opted_out_escalation(db: Database) -> None:
    patient, _, _ = await _setup(db)
    async with db.transaction() as session:
        raised = await opt_out(session, patient=patient, clinic=_clinic(), now=NOW)
    assert raised is not None and raised.page_now
    (row,) = await _escalations(db)
    assert row.level == _clinic().non_response.opted_out == Level.LOW
    assert row.trigger == "non_response" and row.patient_id == patient.id
    async with db.transaction() as session:
        stored = await session.get(Patient, patient.id)
        assert stored is not None and stored.status == "opted_out"
        count = await session.scalar(select(func.count()).select_from(Case))
    assert count == 1


async def _ack(session: AsyncSession, case_id: int, by: Clinician, now: datetime) -> Taken:
    return await take(
        session, case_id=case_id, by=Taker.clinician(by), action=CaseAction.ACKNOWLEDGE, now=now
    )


async def _resolve(
    session: AsyncSession, case_id: int, by: Clinician, note: str, now: datetime
) -> Taken:
    return await take(
        session,
        case_id=case_id,
        by=Taker.clinician(by),
        action=CaseAction.RESOLVE,
        note=note,
        not_reached="stated in this test",  # the outreach rule has its own tests
        now=now,
    )

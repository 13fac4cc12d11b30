"""What a delivery did, recorded (`bot.services.deliveries`): the check-in's row and the audit
events, whose names and details the audit chain keeps. Both backends."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from bot.domain.delivery import Delivery, Outcome
from bot.services import deliveries
from bot.services.intake import requeue_update
from storage import audit
from storage.clinics import ClinicRow, sync_clinics
from storage.engine import Database
from storage.models import Checkin, InboundUpdate, Patient
from storage.states import (
    BOT,
    CLI,
    DISPATCHER,
    PAGER,
    CheckinKind,
    CheckinStatus,
    InboxStatus,
    PatientStatus,
)
from tests.auxil.harness import north_clinic

NOW = datetime(2026, 6, 3, 15, 0, tzinfo=UTC)
CLINIC = north_clinic()


async def _world(db: Database, ref: str = "P-1", **fields: object) -> tuple[Patient, int]:
    async with db.transaction() as session:
        await sync_clinics(session, clinics=[ClinicRow("north", "North", "UTC", "x")], now=NOW)
        patient = Patient(
            clinic_id="north",
            ref=ref,
            timezone="UTC",
            status=PatientStatus.ACTIVE,
            created_at=NOW,
        )
        session.add(patient)
        await session.flush()
        assert patient.id is not None
        checkin = Checkin(
            patient_id=patient.id,
            kind=CheckinKind.OFFSET,
            nominal_at=NOW,
            due_at=NOW,
            created_at=NOW,
            lease_owner="i-1",
            lease_until=NOW + timedelta(minutes=1),
            **fields,
        )
        session.add(checkin)
        await session.flush()
        assert checkin.id is not None
    return patient, checkin.id


async def _events(db: Database) -> list[tuple[str, str, dict[str, object]]]:
    async with db.transaction() as session:
        rows = await audit.events(session)
    return [(e.actor, e.event, json.loads(e.detail)) for e in rows]


async def _checkin(db: Database, checkin_id: int) -> Checkin:
    async with db.transaction() as session:
        row = await session.get(Checkin, checkin_id)
    assert row is not None
    return row


async def test_a_question_becomes_the_current_message(db: Database) -> None:
    patient, checkin_id = await _world(db)
    async with db.transaction() as session:
        await deliveries.record_question(
            session,
            patient=patient,
            checkin_id=checkin_id,
            item_id="q1",
            delivery=Delivery(Outcome.SENT, message_id=90),
            now=NOW,
        )
        await deliveries.record_question(
            session,
            patient=patient,
            checkin_id=checkin_id,
            item_id="q2",
            delivery=Delivery(Outcome.RETRY, error="timed out"),
            now=NOW,
        )
    assert (await _checkin(db, checkin_id)).message_id == 90
    assert await _events(db) == [
        (BOT, "prompt.sent", {"item": "q1"}),
        (BOT, "prompt.retry", {"item": "q2", "error": "timed out"}),
    ]


async def test_first_questions_sent_retried_and_handed_back(db: Database) -> None:
    worlds = [await _world(db, ref) for ref in ("P-1", "P-2", "P-3")]
    outcomes = [
        Delivery(Outcome.SENT, message_id=91),
        Delivery(Outcome.RETRY, error="429", retry_after=timedelta(seconds=30)),
        Delivery(Outcome.NOT_SENT),
    ]
    async with db.transaction() as session:
        await deliveries.record_first_questions(
            session,
            sent=[
                deliveries.FirstQuestion(checkin_id=i, patient=p, delivery=d)
                for (p, i), d in zip(worlds, outcomes, strict=True)
            ],
            clinic_of=lambda _: CLINIC,
            now=NOW,
        )
    sent, retry, back = [await _checkin(db, i) for _, i in worlds]
    assert (sent.status, sent.attempts, sent.message_id) == (CheckinStatus.SENT, 1, 91)
    assert sent.lease_owner is None and sent.lease_until is None
    assert (retry.status, retry.attempts, retry.last_error) == (CheckinStatus.SCHEDULED, 1, "429")
    assert retry.lease_owner is None and retry.lease_until == NOW + timedelta(seconds=30)
    assert (back.attempts, back.lease_owner, back.lease_until) == (0, None, None)
    assert await _events(db) == [
        (DISPATCHER, "prompt.sent", {"item": "mood"}),
        (DISPATCHER, "prompt.retry", {"item": "mood", "error": "429"}),
    ]


async def test_a_reminder_once_and_a_retry_later(db: Database) -> None:
    patient, checkin_id = await _world(db, status=CheckinStatus.SENT)
    async with db.transaction() as session:
        await deliveries.record_reminder(
            session,
            checkin_id=checkin_id,
            patient=patient,
            clinic=CLINIC,
            delivery=Delivery(Outcome.RETRY, error="timed out"),
            now=NOW,
        )
    row = await _checkin(db, checkin_id)
    assert row.lease_owner is None and row.lease_until == NOW + timedelta(seconds=5)
    assert row.reminded_at is None and await _events(db) == []
    async with db.transaction() as session:
        await deliveries.record_reminder(
            session,
            checkin_id=checkin_id,
            patient=patient,
            clinic=CLINIC,
            delivery=Delivery(Outcome.SENT, message_id=92),
            now=NOW,
        )
    row = await _checkin(db, checkin_id)
    assert (row.reminded_at, row.message_id, row.lease_until) == (NOW, 92, None)
    assert await _events(db) == [(DISPATCHER, "reminder.sent", {})]


async def test_never_sent_in_its_window_counts_as_missed(db: Database) -> None:
    patient, checkin_id = await _world(db)
    async with db.transaction() as session:
        row = await session.get(Checkin, checkin_id)
        assert row is not None
        await deliveries.record_missed_unsent(
            session, checkin=row, patient=patient, clinic=CLINIC, now=NOW + timedelta(days=1)
        )
    row = await _checkin(db, checkin_id)
    assert row.status == CheckinStatus.MISSED
    assert row.last_error == "answer window closed before sending"
    events = await _events(db)
    assert [(actor, event) for actor, event, _ in events][-1] == (
        DISPATCHER,
        "checkin.missed_unsent",
    )
    assert (DISPATCHER, "checkin.missed") in [(actor, event) for actor, event, _ in events]
    assert list(events[-1][2]) == ["due_at"]


async def test_an_undelivered_crisis_card_is_shown_again(db: Database) -> None:
    patient, checkin_id = await _world(db, crisis_card_at=NOW)
    async with db.transaction() as session:
        await deliveries.record_crisis_card(
            session,
            patient=patient,
            checkin_id=checkin_id,
            outcome=Outcome.FAILED,
            trigger="s2",
            now=NOW,
        )
    assert (await _checkin(db, checkin_id)).crisis_card_at is None
    assert await _events(db) == [(BOT, "crisis_card.failed", {"trigger": "s2"})]


async def test_the_digest_and_a_requeued_update_are_audited(db: Database) -> None:
    await _world(db)
    async with db.transaction() as session:
        session.add(
            InboundUpdate(
                update_id=7,
                chat_id=0,
                status=InboxStatus.PARKED,
                seen_at=NOW,
                stored_at=NOW,
                next_attempt_at=NOW,
            )
        )
    async with db.transaction() as session:
        await deliveries.record_digest(
            session, clinic_id="north", cases=2, recipients=3, delivered=1, now=NOW
        )
        assert await requeue_update(session, update_id=7, actor=CLI, now=NOW)
        assert not await requeue_update(session, update_id=8, actor=CLI, now=NOW)
    assert await _events(db) == [
        (PAGER, "digest.sent", {"cases": 2, "recipients": 3, "delivered": 1}),
        (CLI, "update.requeued", {"update_id": 7}),
    ]

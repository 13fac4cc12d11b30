"""Operational metrics: gauges read from the database, counters kept in-process."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.ops.metrics import Metrics
from storage.clinics import ClinicRow, sync_clinics
from storage.engine import Database
from storage.models import Case, Checkin, Patient
from storage.states import CaseTrigger

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


async def test_gauges_show_what_is_due_and_unacknowledged(db: Database) -> None:
    async with db.transaction() as session:
        await sync_clinics(session, clinics=[ClinicRow("north", "North", "UTC", "x")], now=NOW)
        patient = Patient(
            clinic_id="north", ref="P", timezone="UTC", status="active", chat_id=5, created_at=NOW
        )
        session.add(patient)
        await session.flush()
        assert patient.id is not None
        session.add_all(
            [
                Checkin(
                    patient_id=patient.id,
                    kind="adhoc",
                    nominal_at=NOW,
                    due_at=NOW - timedelta(minutes=1),
                    created_at=NOW,
                ),
                Checkin(
                    patient_id=patient.id,
                    kind="adhoc",
                    nominal_at=NOW,
                    due_at=NOW + timedelta(hours=1),
                    created_at=NOW,
                ),
                Case(
                    clinic_id="north",
                    patient_id=patient.id,
                    level="high",
                    trigger=CaseTrigger.CHECKIN,
                    reason="r",
                    opened_at=NOW,
                    ladder_started_at=NOW - timedelta(minutes=7),
                ),
                Case(
                    clinic_id="north",
                    patient_id=patient.id,
                    level="low",
                    trigger=CaseTrigger.CHECKIN,
                    reason="r",
                    status="acknowledged",
                    opened_at=NOW,
                    ladder_started_at=NOW,
                ),
            ]
        )
    metrics = Metrics()
    metrics.checkins_sent.inc(3)
    metrics.send_errors.labels(kind="retry").inc()
    text = (await metrics.render(db, now=NOW, last_tick_at=NOW - timedelta(seconds=2))).decode()
    assert "aftercare_checkins_due 1.0" in text
    assert 'aftercare_escalations_open{level="high"} 1.0' in text
    assert 'aftercare_escalations_open{level="low"} 0.0' in text  # acknowledged is not open
    assert "aftercare_oldest_unacknowledged_seconds 420.0" in text
    assert "aftercare_dispatcher_lag_seconds 2.0" in text
    assert "aftercare_checkins_sent_total 3.0" in text
    assert 'aftercare_send_errors_total{kind="retry"} 1.0' in text

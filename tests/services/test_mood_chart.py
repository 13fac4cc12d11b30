"""`mood_chart_for`: the chart's values from the store, this patient's and this period's only.
Both backends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from bot.charts import MoodPoint, render_svg, summary_text
from bot.services.mood_chart import mood_chart_for
from storage.clinics import ClinicRow, sync_clinics
from storage.engine import Database
from storage.models import Answer, Checkin, Infusion, Patient
from storage.states import CheckinKind, CheckinStatus, InfusionStatus, Level, PatientStatus
from tests.auxil.harness import north_clinic

NOW = datetime(2026, 6, 3, 15, 0, tzinfo=UTC)
CLINIC = north_clinic("[clinics.thresholds]\nmood_floor = 3\n")
ANSWERED_AFTER = timedelta(minutes=10)


def _patient(ref: str, chat_id: int, zone: str, baseline: int | None) -> Patient:
    return Patient(
        clinic_id="north",
        ref=ref,
        timezone=zone,
        baseline_mood=baseline,
        status=PatientStatus.ACTIVE,
        chat_id=chat_id,
        created_at=NOW - timedelta(days=60),
    )


def _infusion(patient: Patient, days_ago: float, status: InfusionStatus) -> Infusion:
    assert patient.id is not None
    return Infusion(
        patient_id=patient.id,
        ended_at=NOW - timedelta(days=days_ago),
        protocol="standard",
        status=status,
        recorded_at=NOW,
        recorded_by="cli",
    )


async def _checkin(
    session: AsyncSession, patient: Patient, days_ago: float, level: Level, answers: dict[str, str]
) -> None:
    """A check-in due `days_ago`, answered ten minutes later, item by item."""
    assert patient.id is not None
    due = NOW - timedelta(days=days_ago)
    checkin = Checkin(
        patient_id=patient.id,
        kind=CheckinKind.DAILY,
        nominal_at=due,
        due_at=due,
        status=CheckinStatus.COMPLETED if answers else CheckinStatus.SCHEDULED,
        sent_at=due if answers else None,
        risk_level=level,
        created_at=due,
    )
    session.add(checkin)
    await session.flush()
    for n, (item, value) in enumerate(answers.items()):
        session.add(
            Answer(
                patient_id=patient.id,
                checkin_id=checkin.id,
                item_id=item,
                value=value,
                instrument_id="aftercare-checkin" if item == "mood" else "cssrs-screener",
                instrument_version="1",
                answered_at=due + ANSWERED_AFTER + timedelta(seconds=n),
            )
        )


async def test_the_chart_holds_this_patients_answered_checkins_of_the_period(
    db: Database,
) -> None:
    async with db.transaction() as session:
        await sync_clinics(session, clinics=[ClinicRow("north", "North", "UTC", "x")], now=NOW)
        pat = _patient("P-1", 501, "Europe/London", baseline=6)
        other = _patient("P-2", 502, "UTC", baseline=9)
        session.add_all([pat, other])
        await session.flush()
        no = {"s1": "no", "s2": "no", "s6": "no"}
        await _checkin(session, pat, 40, Level.NONE, {"mood": "3", **no})  # before the period
        await _checkin(session, pat, 20, Level.NONE, {"mood": "5", **no})
        await _checkin(session, pat, 10, Level.LOW, {"mood": "2", "s1": "yes", "s2": "no"})
        await _checkin(session, pat, 5, Level.NONE, {"s1": "no"})  # no mood given
        await _checkin(session, pat, 1, Level.HIGH, {"mood": "7"})  # no screener answered
        await _checkin(session, pat, 0.5, Level.NONE, {})  # sent, never answered
        await _checkin(session, pat, -1, Level.NONE, {})  # still to come
        await _checkin(session, other, 3, Level.NONE, {"mood": "9", "s1": "yes"})
        assert pat.id is not None
        session.add(  # a late Yes kept beside a closed check-in: not a check-in's answer
            Answer(
                patient_id=pat.id,
                checkin_id=None,
                item_id="s1",
                value="yes",
                instrument_id="cssrs-screener",
                instrument_version="1",
                answered_at=NOW - timedelta(days=2),
            )
        )
        session.add_all(
            [
                _infusion(pat, 12, InfusionStatus.ACTIVE),
                _infusion(pat, 8, InfusionStatus.CANCELLED),
                _infusion(pat, 45, InfusionStatus.ACTIVE),
                _infusion(other, 4, InfusionStatus.ACTIVE),
            ]
        )

    async with db.transaction() as session:
        chart = await mood_chart_for(session, patient=pat, clinic=CLINIC, now=NOW)

    def at(days_ago: float) -> datetime:
        return NOW - timedelta(days=days_ago) + ANSWERED_AFTER

    assert list(chart.points) == [
        MoodPoint(at(20), 5, "negative", "none"),
        MoodPoint(at(10), 2, "positive", "low"),
        MoodPoint(at(5), None, "negative", "none"),
        MoodPoint(at(1), 7, None, "high"),
    ]
    assert all(p.at.tzinfo is not None for p in chart.points)
    assert (chart.baseline, chart.floor) == (6, 3)
    assert list(chart.infusions) == [NOW - timedelta(days=12)]
    assert chart.tz == ZoneInfo("Europe/London")
    assert (chart.start, chart.end) == (NOW - timedelta(days=30), NOW)
    assert "P-1" in chart.title and "P-2" not in chart.title
    summary = summary_text(chart)
    assert "3 check-ins with a mood answer" in summary, summary
    assert "1 at or below the mood floor of 3" in summary, summary
    assert "C-SSRS: 1 positive of 3 screeners" in summary, summary
    assert 'id="chart-mood-line"' in render_svg(chart, dom_id="chart")

    async with db.transaction() as session:
        week = await mood_chart_for(session, patient=pat, clinic=CLINIC, now=NOW, days=7)
    assert [p.mood for p in week.points] == [None, 7]
    assert list(week.infusions) == []


async def test_a_patient_without_answers_gets_an_empty_chart(db: Database) -> None:
    async with db.transaction() as session:
        await sync_clinics(session, clinics=[ClinicRow("north", "North", "UTC", "x")], now=NOW)
        pat = _patient("P-3", 503, "UTC", baseline=None)
        session.add(pat)
        await session.flush()
        chart = await mood_chart_for(session, patient=pat, clinic=CLINIC, now=NOW)
    assert list(chart.points) == [] and chart.baseline is None
    assert "No mood answers yet" in summary_text(chart)

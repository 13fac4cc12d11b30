"""Known data for the FHIR export tests: north's P-1 (three closed check-ins, a planned one,
a case raised, reached and resolved), north's P-2 (no answers), south's S-9 (answers and a
case of its own, which a north export never shows)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.domain.instruments import checkin_items, cssrs
from storage.engine import Database
from storage.models import Answer, Case, Checkin, Clinic, Outreach, Patient
from storage.states import (
    CaseStatus,
    CaseTrigger,
    CheckinKind,
    CheckinStatus,
    Level,
    OutreachMethod,
    OutreachOutcome,
    PatientStatus,
)

T0 = datetime(2026, 5, 1, 10, 0, tzinfo=UTC)
NOW = T0 + timedelta(days=10)
CALM = {"mood": "7", "s1": "no", "s2": "no", "s6": "no", "note": "Feeling calm"}
WORSE = {
    "mood": "2",
    "s1": "yes",
    "s2": "yes",
    "s3": "yes",
    "s4": "no",
    "s5": "no",
    "s6": "no",
    "note": "Secret words",
}
PART_WAY = {"mood": "5", "s1": "no"}  # closed after item 1: items 2 and 6 unanswered
FREE_TEXT = ("Alice Example", "Feeling calm", "Secret words", "I want it to stop", "safe at home")


def _answer(patient_id: int, checkin: Checkin, n: int, item: str, value: str) -> Answer:
    instrument = cssrs() if item.startswith("s") else checkin_items()
    assert checkin.id is not None
    return Answer(
        patient_id=patient_id,
        checkin_id=checkin.id,
        item_id=item,
        value=value,
        instrument_id=instrument.id,
        instrument_version=instrument.version,
        language="en",
        answered_at=checkin.due_at + timedelta(minutes=n),
    )


def _checkin(patient_id: int, due: datetime, status: CheckinStatus, level: Level) -> Checkin:
    return Checkin(
        patient_id=patient_id,
        kind=CheckinKind.DAILY,
        nominal_at=due,
        due_at=due,
        status=status,
        risk_level=level,
        created_at=T0,
    )


async def seed(db: Database) -> dict[str, int]:
    ids: dict[str, int] = {}
    async with db.transaction() as session:
        for cid in ("north", "south"):
            session.add(Clinic(id=cid, name=cid, timezone="Europe/Berlin", updated_at=T0))
        await session.flush()
        one = Patient(
            clinic_id="north",
            ref="P-1",
            timezone="Europe/Berlin",
            display_name="Alice Example",
            language="en",
            status=PatientStatus.ACTIVE,
            created_at=T0 - timedelta(days=2),
        )
        two = Patient(clinic_id="north", ref="P-2", timezone="UTC", created_at=T0)
        south = Patient(clinic_id="south", ref="S-9", timezone="UTC", created_at=T0)
        session.add_all([one, two, south])
        await session.flush()
        assert one.id and two.id and south.id
        ids.update(one=one.id, two=two.id, south=south.id)
        plan = [
            (T0 + timedelta(hours=4), CheckinStatus.COMPLETED, Level.NONE, CALM),
            (T0 + timedelta(days=1), CheckinStatus.COMPLETED, Level.MODERATE, WORSE),
            (T0 + timedelta(days=2), CheckinStatus.ABANDONED, Level.LOW, PART_WAY),
            (T0 + timedelta(days=5), CheckinStatus.SCHEDULED, Level.NONE, {}),
        ]
        checkins = [_checkin(one.id, due, status, level) for due, status, level, _ in plan]
        south_checkin = _checkin(south.id, T0, CheckinStatus.COMPLETED, Level.HIGH)
        session.add_all([*checkins, south_checkin])
        await session.flush()
        for checkin, (*_, answers) in zip(checkins, plan, strict=True):
            for n, (item, value) in enumerate(answers.items(), start=1):
                session.add(_answer(one.id, checkin, n, item, value))
        for n, (item, value) in enumerate({"mood": "1", "s1": "yes", "s4": "yes"}.items()):
            session.add(_answer(south.id, south_checkin, n, item, value))
        opened = T0 + timedelta(days=1, minutes=9)
        case = Case(
            clinic_id="north",
            patient_id=one.id,
            checkin_id=checkins[1].id,
            level=Level.MODERATE,
            trigger=CaseTrigger.CHECKIN,
            reason="C-SSRS item 3 = Yes",
            quote="I want it to stop",
            status=CaseStatus.RESOLVED,
            opened_at=opened,
            ladder_started_at=opened,
            acknowledged_at=opened + timedelta(minutes=7),
            reached_at=opened + timedelta(minutes=40),
            resolved_at=opened + timedelta(hours=2),
            resolution_note="Called; safe at home",
        )
        south_case = Case(
            clinic_id="south",
            patient_id=south.id,
            level=Level.HIGH,
            trigger=CaseTrigger.CHECKIN,
            reason="south",
            opened_at=opened,
            ladder_started_at=opened,
        )
        session.add_all([case, south_case])
        await session.flush()
        assert case.id and south_case.id
        ids.update(case=case.id, south_case=south_case.id)
        ids.update({f"checkin{n}": c.id or 0 for n, c in enumerate(checkins)})
        for minutes, outcome in ((20, OutreachOutcome.NO_ANSWER), (40, OutreachOutcome.REACHED)):
            session.add(
                Outreach(
                    case_id=case.id,
                    clinic_id="north",
                    patient_id=one.id,
                    method=OutreachMethod.PHONE,
                    outcome=outcome,
                    at=opened + timedelta(minutes=minutes),
                    recorded_at=opened + timedelta(minutes=minutes + 1),
                    note="Called; safe at home",
                )
            )
    return ids

"""/open, /patients and /history as a clinician reads them (pure): who, why (all of it, once),
who was paged, a count of what did not fit; each patient's last check-in, mood and risk; a
patient's recent check-ins, mood trend and messages."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from bot.messaging.listings import (
    case_summary,
    fit,
    history_text,
    main_reasons,
    open_cases_text,
    patients_text,
)
from bot.services.case_queue import CaseCard, PageLine
from bot.services.overview import LastCheckin, OpenCase, PatientRow
from bot.services.patients import patient_actions
from bot.services.timeline import (
    AnswerView,
    CheckinEntry,
    LateAnswerEntry,
    MessageEntry,
    RecentHistory,
    TimelinePatient,
)
from storage.models import Case, Patient
from storage.states import CaseStatus, CaseTrigger, CheckinKind, CheckinStatus, Level, PatientStatus
from tests.auxil.harness import north_clinic

NOW = datetime(2026, 6, 3, 15, 0, tzinfo=UTC)
CLINIC = north_clinic()
PATIENT = Patient(id=1, clinic_id="north", ref="P-7", timezone="UTC", created_at=NOW)


def _case(reason: str, *, id: int = 3, opened: timedelta = timedelta(minutes=42)) -> Case:
    return Case(
        id=id,
        clinic_id="north",
        patient_id=1,
        level=Level.HIGH,
        trigger=CaseTrigger.CHECKIN,
        reason=reason,
        status=CaseStatus.OPEN,
        opened_at=NOW - opened,
        ladder_started_at=NOW,
    )


def test_a_case_shows_the_patient_every_reason_once_and_who_was_paged() -> None:
    case = _case(
        "[2026-06-03 14:18 UTC] crisis words in a message: kill myself\n"
        "[2026-06-03 14:19 UTC] crisis words in a message: kill myself\n"
        "[2026-06-03 14:30 UTC] patient stopped their check-ins (/stop)"
    )
    pages = (
        PageLine("Dr Ada", NOW, 0, True, None),
        PageLine("Dr Ben", NOW, 1, False, "Forbidden"),
        PageLine("Dr Ada", NOW, 2, False, "timed out"),  # delivered once: a tick
    )
    text = case_summary(_card(case, pages), CLINIC, NOW)
    assert text.splitlines() == [
        "#3 🔴 HIGH open · 42 min · P-7",
        "  Why: crisis words in a message: kill myself; patient stopped their check-ins (/stop)",
        "  Paged: Dr Ada ✓, Dr Ben ✗ not delivered",
    ]


def _card(case: Case, pages: tuple[PageLine, ...] = ()) -> CaseCard:
    return CaseCard(case, PATIENT, None, pages, None, None, None)


def test_open_lists_the_oldest_case_first_whatever_its_level() -> None:
    newer = _card(_case("[2026-06-03 14:50 UTC] reason new", id=5, opened=timedelta(minutes=10)))
    older = _card(_case("[2026-06-03 13:00 UTC] reason old", id=4, opened=timedelta(hours=2)))
    text = open_cases_text([newer, older], clinic=CLINIC, now=NOW)
    assert text.splitlines() == [
        "Open cases of North, oldest first:",
        "",
        "#4 🔴 HIGH open · 2 h · P-7",
        "  Why: reason old",
        "  Paged: nobody yet (care-team queue)",
        "",
        "#5 🔴 HIGH open · 10 min · P-7",
        "  Why: reason new",
        "  Paged: nobody yet (care-team queue)",
    ]
    assert open_cases_text([], clinic=CLINIC, now=NOW) == "No open cases."


NEW_PATIENT = PatientRow(
    patient_id=1,
    ref="P-7",
    status=PatientStatus.ACTIVE,
    status_label="active",
    timezone="UTC",
    baseline_mood=None,
    last_checkin=None,
    last_mood=None,
    last_mood_at=None,
    open_case=None,
    sent=0,
    answered=0,
    next_planned_at=None,
)


def test_patients_shows_last_check_in_mood_and_open_case() -> None:
    seen = replace(
        NEW_PATIENT,
        timezone="America/New_York",
        last_checkin=LastCheckin(9, NOW, CheckinStatus.COMPLETED, Level.LOW),
        last_mood=0,
        open_case=OpenCase(3, Level.MODERATE, CaseStatus.ACKNOWLEDGED),
    )
    new = replace(NEW_PATIENT, ref="P-8", status=PatientStatus.OPTED_OUT, status_label="stopped")
    assert patients_text([seen, new], clinic=CLINIC).splitlines() == [
        "P-7 (active): Wed 03 Jun 15:00 UTC (11:00 EDT for the patient) completed; mood 0/10; "
        "open moderate",
        "P-8 (opted_out): no check-in yet; no mood yet; no open case",
    ]
    assert patients_text([], clinic=CLINIC) == "No patients yet."


def _answer(item: str, value: str, at: datetime) -> AnswerView:
    return AnswerView(item, value, item, None, value, at)


def _checkin(id: int, due: datetime, *answers: AnswerView) -> CheckinEntry:
    return CheckinEntry(
        at=due,
        checkin_id=id,
        infusion_id=None,
        checkin_kind=CheckinKind.DAILY,
        label="check-in",
        due_at=due,
        sent_at=due,
        closed_at=None,
        status=CheckinStatus.COMPLETED if answers else CheckinStatus.MISSED,
        risk_level=Level.NONE,
        crisis_card_at=None,
        answers=answers,
    )


def test_history_shows_the_mood_trend_each_check_in_and_the_messages() -> None:
    day = timedelta(days=1)
    active = PatientStatus.ACTIVE
    patient = TimelinePatient(
        1, "P-7", active, "active", "UTC", 7, None, None, patient_actions(active)
    )
    history = RecentHistory(
        patient=patient,
        checkins=(
            _checkin(3, NOW, _answer("mood", "4", NOW), _answer("s1", "no", NOW)),
            _checkin(2, NOW - day),
            _checkin(1, NOW - 2 * day, _answer("mood", "6", NOW - 2 * day)),
        ),
        messages=(
            MessageEntry(NOW, 11, "x" * 301),
            LateAnswerEntry(NOW - day, 10, _answer("s2", "yes", NOW - day)),
        ),
    )
    assert history_text(history, clinic=CLINIC).splitlines() == [
        "P-7: baseline 7; mood trend (oldest→newest): 6 → 4",
        "Wed 03 Jun 15:00 UTC daily completed risk none: mood=4, s1=no",
        "Tue 02 Jun 15:00 UTC daily missed risk none: no answers",
        "Mon 01 Jun 15:00 UTC daily completed risk none: mood=6",
        "Messages (newest first):",
        f"Wed 03 Jun 15:00 UTC «{'x' * 300}»",
        "Tue 02 Jun 15:00 UTC late s2=yes",
    ]
    empty = RecentHistory(patient=patient, checkins=(), messages=())
    assert history_text(empty, clinic=CLINIC) == "P-7: baseline 7; mood trend (oldest→newest): none"


def test_many_reasons_keep_the_first_and_the_newest() -> None:
    case = _case("\n".join(f"[2026-06-03 14:{n:02d} UTC] reason {n}" for n in range(10)))
    assert main_reasons(case, CLINIC) == [
        "reason 0",
        "reason 1",
        "reason 2",
        "… and 7 more",
        "reason 9",
    ]


def test_what_does_not_fit_is_counted_not_cut_silently() -> None:
    blocks = [f"#{n} " + "x" * 900 for n in range(10)]
    text = fit(blocks, header="Open cases:")
    assert len(text) <= 4000
    shown = [b for b in blocks if b in text]
    assert shown == blocks[: len(shown)] and 0 < len(shown) < 10
    assert text.endswith(f"… and {10 - len(shown)} more not shown (oldest are listed first).")
    assert fit(blocks[:2], header="Open cases:") == "\n\n".join(["Open cases:", *blocks[:2]])

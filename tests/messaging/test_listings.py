"""/open as a clinician reads it (pure): who, why (all of it, once), who was paged, and a
count of what did not fit."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.messaging.listings import case_summary, fit, main_reasons
from storage.models import Case, Page, Patient
from storage.states import CaseStatus, CaseTrigger, Level, PageStatus
from tests.auxil.harness import north_clinic

NOW = datetime(2026, 6, 3, 15, 0, tzinfo=UTC)
CLINIC = north_clinic()
PATIENT = Patient(id=1, clinic_id="north", ref="P-7", timezone="UTC", created_at=NOW)


def _case(reason: str) -> Case:
    return Case(
        id=3,
        clinic_id="north",
        patient_id=1,
        level=Level.HIGH,
        trigger=CaseTrigger.CHECKIN,
        reason=reason,
        status=CaseStatus.OPEN,
        opened_at=NOW - timedelta(minutes=42),
        ladder_started_at=NOW,
    )


def test_a_case_shows_the_patient_every_reason_once_and_who_was_paged() -> None:
    case = _case(
        "[2026-06-03 14:18 UTC] crisis words in a message: kill myself\n"
        "[2026-06-03 14:19 UTC] crisis words in a message: kill myself\n"
        "[2026-06-03 14:30 UTC] patient stopped their check-ins (/stop)"
    )
    pages = [
        Page(case_id=3, clinician_id=1, step=0, status=PageStatus.SENT, sent_at=NOW),
        Page(case_id=3, clinician_id=2, step=1, status=PageStatus.FAILED, sent_at=NOW),
    ]
    text = case_summary(case, PATIENT, pages, {1: "Dr Ada", 2: "Dr Ben"}, CLINIC, NOW)
    assert text.splitlines() == [
        "#3 🔴 HIGH open · 42 min · P-7",
        "  Why: crisis words in a message: kill myself; patient stopped their check-ins (/stop)",
        "  Paged: Dr Ada ✓, Dr Ben ✗ not delivered",
    ]


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

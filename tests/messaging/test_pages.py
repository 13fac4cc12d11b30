"""Page wording (pure): what a clinician reads, and nothing a clinic did not opt in to."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.clinic_config import parse_clinics
from bot.domain.escalation import Step
from bot.domain.levels import Level
from bot.messaging.pages import LadderSoFar, NextRung, case_buttons, duration, page_text, when
from bot.services.case_facts import CheckinFacts
from storage.models import Case, Checkin, Infusion, Patient
from storage.states import CaseStatus, CaseTrigger, CheckinKind

NOW = datetime(2026, 6, 3, 15, 0, tzinfo=UTC)
CLINIC = """
[[clinics]]
id = "north"
name = "North"
timezone = "America/New_York"
contact_phone = "+1 555"
"""
LADDER = [Step(timedelta(0), ("primary",)), Step(timedelta(minutes=5), ("primary", "backup"))]


def _clinic(extra: str = ""):  # type: ignore[no-untyped-def]
    return parse_clinics(CLINIC + extra, source="t").clinic("north")


def _case(**fields: object) -> Case:
    values: dict[str, object] = {
        "id": 12,
        "clinic_id": "north",
        "patient_id": 1,
        "level": Level.HIGH,
        "trigger": CaseTrigger.CHECKIN,
        "reason": "[2026-06-03 15:00 UTC] C-SSRS item 4 = Yes",
        "opened_at": NOW,
        "ladder_started_at": NOW,
        **fields,
    }
    return Case(**values)


PATIENT = Patient(
    id=1,
    clinic_id="north",
    ref="P-7",
    timezone="Europe/London",
    baseline_mood=6,
    display_name="Jane Doe",
    created_at=NOW,
)


def test_a_page_names_the_pseudonymous_reference_not_the_name_by_default() -> None:
    text = page_text(
        case=_case(), patient=PATIENT, clinic=_clinic(), steps=LADDER, checkin=None, now=NOW
    )
    assert text.splitlines()[:4] == [
        "🔴 HIGH priority — case #12",
        "Patient: P-7",
        "Why:",
        "[Wed 03 Jun 11:00 EDT] C-SSRS item 4 = Yes",  # stored in UTC, read in the clinic's zone
    ]
    assert "Jane" not in text
    assert "Acknowledge within 5 min." in text
    assert "A human should reach this patient within 12 h at most." in text
    assert "Re-page" not in text


def test_a_clinic_that_opts_in_sees_the_name_beside_the_reference() -> None:
    clinic = _clinic("alerts_include_name = true\n")
    text = page_text(
        case=_case(), patient=PATIENT, clinic=clinic, steps=LADDER, checkin=None, now=NOW
    )
    assert "Patient: Jane Doe (P-7)" in text


def test_a_page_shows_the_checkin_answers_against_baseline_in_the_clinics_zone() -> None:
    due = datetime(2026, 6, 3, 13, 0, tzinfo=UTC)
    checkin = Checkin(
        id=40,
        patient_id=1,
        kind=CheckinKind.OFFSET,
        nominal_at=due,
        due_at=due,
        created_at=due,
    )
    infusion = Infusion(
        id=9,
        patient_id=1,
        ended_at=due - timedelta(hours=4),
        protocol="standard",
        recorded_at=due,
        recorded_by="cli",
    )
    facts = CheckinFacts(checkin, {"mood": "2", "q1": "yes", "q2": "no", "note": "x"}, infusion)
    text = page_text(
        case=_case(), patient=PATIENT, clinic=_clinic(), steps=LADDER, checkin=facts, now=NOW
    )
    assert "Mood: 2/10 (baseline 6)" in text
    assert "Answers: Q1=yes, Q2=no" in text  # the note is not repeated on a page
    assert (
        "Check-in #40 (offset, due Wed 03 Jun 09:00 EDT (14:00 BST for the patient)), "
        "infusion #9 ended Wed 03 Jun 05:00 EDT (10:00 BST for the patient)"
    ) in text


def test_a_repage_says_how_long_it_waited_and_who_is_paged_next() -> None:
    case = _case(step=1)
    later = NOW + timedelta(minutes=5)
    rung = NextRung(NOW + timedelta(minutes=10), ("everyone",))
    text = page_text(
        case=case,
        patient=PATIENT,
        clinic=_clinic(),
        steps=LADDER,
        checkin=None,
        now=later,
        next_rung=rung,
    )
    assert "Re-page (step 2): nobody has acknowledged since the first page 5 min ago." in text
    assert (
        "If nobody acknowledges, every clinician will be paged at Wed 03 Jun 11:10 EDT "
        "(16:10 BST for the patient)." in text
    )
    assert "Acknowledge within" not in text  # the first page's deadline has passed
    last = page_text(
        case=_case(step=3), patient=PATIENT, clinic=_clinic(), steps=LADDER, checkin=None, now=later
    )
    assert "This page repeats until someone acknowledges." in last


def _repage(so_far: LadderSoFar, step: int = 1) -> str:
    return page_text(
        case=_case(step=step),
        patient=PATIENT,
        clinic=_clinic(),
        steps=LADDER,
        checkin=None,
        now=NOW + timedelta(seconds=11),
        next_rung=None,
        so_far=so_far,
    )


def test_a_repage_after_a_delivered_page_names_who_was_paged_and_when() -> None:
    text = _repage(LadderSoFar(first_at=NOW, reached=("Dr Ada (Telegram)",), paged_now=("Dr Ben",)))
    assert (
        "Re-page (step 2): Dr Ada (Telegram) was paged 11 s ago and nobody has acknowledged."
        in text
    )
    assert "Paged now: Dr Ben." in text and "Could not be delivered" not in text


def test_a_repage_after_pages_nobody_got_never_says_nobody_acknowledged() -> None:
    text = _repage(
        LadderSoFar(
            first_at=NOW,
            failed=("Dr Ada (Telegram)", "Dr Ada (e-mail)"),
            paged_now=("Dr Ada", "Dr Ben"),
        )
    )
    assert "nobody has acknowledged" not in text
    assert "Re-page (step 2): no earlier page could be delivered, so this step comes now." in text
    assert (
        "Could not be delivered: the page to Dr Ada (Telegram), the page to Dr Ada (e-mail)."
        in text
    )
    assert "Paged now: Dr Ada and Dr Ben." in text


def test_a_rung_paged_again_with_news_says_so_not_that_it_moved_on() -> None:
    text = _repage(LadderSoFar(first_at=NOW, reached=("Dr Ada (Telegram)",), again=True), step=0)
    assert "Paged again (step 1): news on this case (its last line above)." in text
    assert "Re-page" not in text and "Acknowledge within" not in text


def test_a_long_quote_is_cut_and_the_page_fits_one_message() -> None:
    case = _case(quote="x" * 5000, reason="r\n" * 3000)
    text = page_text(
        case=case, patient=PATIENT, clinic=_clinic(), steps=LADDER, checkin=None, now=NOW
    )
    assert len(text) <= 4000
    assert text.endswith("Acknowledge within 5 min."), "what to do is never cut off"
    short = _case(quote="x" * 5000)
    text = page_text(
        case=short, patient=PATIENT, clinic=_clinic(), steps=LADDER, checkin=None, now=NOW
    )
    assert f"Patient wrote: «{'x' * 1500}»" in text and "x" * 1501 not in text


def test_a_taken_case_shows_its_status_instead_of_deadlines() -> None:
    case = _case(step=1, status=CaseStatus.ACKNOWLEDGED)
    text = page_text(
        case=case,
        patient=PATIENT,
        clinic=_clinic(),
        steps=LADDER,
        checkin=None,
        now=NOW,
        status_line="✓ Acknowledged by Dr Ada at Wed 03 Jun 11:02 EDT. Re-paging has stopped.",
    )
    assert text.endswith("✓ Acknowledged by Dr Ada at Wed 03 Jun 11:02 EDT. Re-paging has stopped.")
    assert "Re-page" not in text and "Acknowledge within" not in text


def test_same_zone_times_are_not_repeated() -> None:
    here = Patient(id=2, clinic_id="north", ref="P-8", timezone="America/New_York", created_at=NOW)
    assert when(NOW, _clinic(), here) == "Wed 03 Jun 11:00 EDT"
    assert when(NOW, _clinic(), PATIENT) == "Wed 03 Jun 11:00 EDT (16:00 BST for the patient)"


def test_page_buttons_carry_the_case_and_the_level_they_were_sent_for() -> None:
    buttons = case_buttons(12, Level.MODERATE)
    assert buttons is not None
    rows = buttons.inline_keyboard
    assert [(b.text, b.callback_data) for b in rows[0]] == [
        ("Acknowledge", "esc:ack:12:moderate"),
        ("Resolve", "esc:res:12:moderate"),
    ]


def test_only_the_buttons_that_still_make_sense_remain() -> None:
    taken = case_buttons(12, Level.HIGH, CaseStatus.ACKNOWLEDGED)
    assert taken is not None
    assert [[b.text for b in row] for row in taken.inline_keyboard] == [
        ["Resolve", "Log contact"],
        ["Message patient"],
    ]
    assert case_buttons(12, Level.HIGH, CaseStatus.RESOLVED) is None


def test_durations_read_as_a_clinician_would_say_them() -> None:
    assert duration(timedelta(seconds=45)) == "45 s"
    assert duration(timedelta(minutes=5)) == "5 min"
    assert duration(timedelta(minutes=119)) == "119 min"
    assert duration(timedelta(hours=4)) == "4 h"

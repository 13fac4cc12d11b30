"""Every text Aftercare says to a patient, made with representative arguments in the current
language: the pseudo-locale and Spanish tests walk the same list. The clinic's own words
(its name, numbers, crisis card) and the instrument's are the substituted values a test
strips before looking for English left behind."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from bot.clinic_config import ClinicConfig, parse_clinics
from bot.domain import checkin_flow, instruments
from bot.domain.safety_plan import PlanItem
from bot.i18n import _
from bot.i18n.dates import local_day
from bot.messaging import case_thread, menus, privacy, questions, safety_plan, texts
from bot.services.safety.events import StepView
from storage.models import Checkin
from storage.states import CheckinKind, PatientStatus

CLINIC_TOML = """
[[clinics]]
id = "north"
name = "North Clinic"
timezone = "UTC"
contact_phone = "+1 555 0100"
"""
ENDED = datetime(2025, 11, 25, 15, 0, tzinfo=UTC)
NAMES = ("Dr Ada Lovelace", "Sam Carter", "Ben Ortiz")
CONTACT = PlanItem("Sam Carter +1 555 0101", phone="+1 555 0101", e164="+15550101")
VIEW = StepView(7, 4, "People I can ask for help", (PlanItem("Call my sister"), CONTACT))


def clinic() -> ClinicConfig:
    return parse_clinics(CLINIC_TOML, source="test").clinic("north")


def substituted(c: ClinicConfig) -> list[str]:
    """Values put into texts that are not ours to translate, longest first."""
    cssrs = instruments.cssrs()
    values = [
        c.crisis.card,
        c.name,
        c.contact_phone,
        c.crisis.emergency_number,
        cssrs.preamble,
        *(item.text for item in cssrs.items),
        *NAMES,
        "Call my sister",
        CONTACT.text,
        "Please bring my notes to the next visit",
    ]
    return sorted(values, key=len, reverse=True)


def _checkin(kind: CheckinKind, **fields: Any) -> Checkin:
    return Checkin(patient_id=1, infusion_id=3, kind=kind, nominal_at=ENDED, due_at=ENDED, **fields)


def _titles() -> Iterator[tuple[str, str]]:
    day = local_day(ENDED, ZoneInfo("America/New_York"))
    yield "local_day", day
    for name, row in {
        "title_4h": _checkin(CheckinKind.OFFSET, offset_seconds=4 * 3600),
        "title_1h": _checkin(CheckinKind.OFFSET, offset_seconds=3600),
        "title_2d": _checkin(CheckinKind.OFFSET, offset_seconds=2 * 86400),
        "title_30m": _checkin(CheckinKind.OFFSET, offset_seconds=1800),
        "title_day3": _checkin(CheckinKind.DAILY, day=3),
        "title_adhoc": _checkin(CheckinKind.ADHOC),
    }.items():
        yield name, questions.checkin_title(row, infusion_ended_at_local=day)


def _questions() -> Iterator[tuple[str, str]]:
    for item in checkin_flow.ALL_ITEMS:
        yield f"question {item}", questions.question_text(item, title=_("Check-in"))
        yield f"reminder {item}", questions.reminder_text(item)
    for item in checkin_flow.BUTTON_ITEMS:
        for row in checkin_flow.choices(item):
            for label, value in row:
                yield f"answered {item} {value}", questions.answered_line(item, value)
                yield f"saved {item} {value}", texts.already_saved(item, value)
                yield f"button {item} {label}", _(label)
    yield "answered note", questions.answered_line(checkin_flow.NOTE, checkin_flow.SKIP)
    yield "saved note", texts.already_saved(checkin_flow.NOTE, checkin_flow.SKIP)
    yield "kept", texts.answer_kept(questions.answered_line("s2", "no"))


def _clinic_texts(c: ClinicConfig) -> Iterator[tuple[str, str]]:
    calls: dict[str, Callable[[], str]] = {
        "crisis_card": lambda: texts.crisis_card(c),
        "erased": lambda: privacy.erased_notice(c),
        "join": texts.join_explanation,
        "wrong_card": lambda: texts.something_went_wrong(c, card=True),
        "wrong": lambda: texts.something_went_wrong(c, card=False),
        "outage": lambda: texts.held_for_outage(c),
        "not_processed": lambda: texts.could_not_process(c),
        "saved_continues": lambda: texts.saved_then_failed(c, card=False, continues=True),
        "saved_stops": lambda: texts.saved_then_failed(c, card=True, continues=False),
        "message_saved": lambda: texts.message_saved(c),
        "paused": lambda: texts.paused(c, PatientStatus.OPTED_OUT),
        "unreachable": lambda: texts.paused(c, PatientStatus.UNREACHABLE),
        "resumed": lambda: texts.resumed(c),
        "red_flag_advice": lambda: texts.red_flag_advice(c),
        "schedule": lambda: texts.schedule_in_words(c),
        "consent": lambda: texts.consent_screen(c),
        "consent_given": lambda: texts.consent_given(c),
        "welcome": lambda: texts.welcome(c),
        "stopped": lambda: texts.stopped(c),
        "paged": lambda: texts.paged_notice(c, "high"),
        "paged_message": lambda: texts.paged_notice(c, "high", about="message"),
        "nobody": lambda: texts.nobody_notice(c),
        "nobody_message": lambda: texts.nobody_notice(c, about="message"),
        "paged_after_all": lambda: texts.paged_after_all(c),
        "passed_on_one": lambda: case_thread.passed_on(c, list(NAMES[:1])),
        "passed_on_three": lambda: case_thread.passed_on(c, list(NAMES)),
        "thread_closed": lambda: case_thread.thread_closed(c),
        "to_patient": lambda: case_thread.to_patient(
            NAMES[0], c, "Please bring my notes to the next visit"
        ),
    }
    for ending in ("routine", "queued", "paged", "not_reached"):
        yield f"closing {ending}", texts.closing(c, ending)
    for name, call in calls.items():
        yield name, call()


def _constants() -> Iterator[tuple[str, str]]:
    for name in [
        "NOT_ENROLLED_ALERT",
        "HELD_TAP",
        "SAVED",
        "TRY_AGAIN",
        "REMINDER",
        "CLOSED",
        "HINT_USE_BUTTONS",
        "THANKS",
        "NOTE_SAVED",
        "CHECKINS_ON",
        "AGREE",
        "NOT_NOW",
        "CONSENT_DECLINED",
        "STOP_CONFIRM",
        "STOP_YES_LABEL",
        "STOP_NO_LABEL",
        "STOP_KEPT",
        "ALREADY_STOPPED",
        "PATIENT_HELP",
        "LATE_YES",
        "CHANGED_TO_YES",
        "NOT_CURRENT",
    ]:
        yield name, _(getattr(texts, name))
    for problem in texts.INVITE_PROBLEMS:
        yield f"invite {problem}", texts.invite_problem(problem)


def _plan() -> Iterator[tuple[str, str]]:
    yield "plan step", safety_plan.step_text(VIEW)
    yield "plan empty step", safety_plan.step_text(StepView(7, 6, "Making where I am safe", ()))
    yield "plan no_plan", safety_plan.no_plan()
    yield "plan helped", safety_plan.helped()
    yield "plan call", safety_plan.call_text("Sam Carter", "+15550101")
    for refusal in safety_plan.REFUSALS:
        yield "plan refusal", safety_plan.refusal(refusal)
    for row in safety_plan.keyboard(VIEW).inline_keyboard:
        for button in row:
            yield "plan button", button.text
    for command in menus.patient_commands():
        yield f"menu {command.command}", command.description


def all_texts() -> list[tuple[str, str]]:
    """(name, text) of every patient text, said in the current language."""
    c = clinic()
    return [*_titles(), *_questions(), *_clinic_texts(c), *_constants(), *_plan()]


def callback_data() -> list[str]:
    """Every callback_data of a patient's buttons."""
    data = [
        button["callback_data"]
        for item in checkin_flow.BUTTON_ITEMS
        for row in questions.keyboard_json(999_999_999, item)["inline_keyboard"]
        for button in row
    ]
    keyboard = safety_plan.keyboard(StepView(999_999_999, 5, "x", (CONTACT,) * 8))
    data += [str(b.callback_data) for row in keyboard.inline_keyboard for b in row]
    return data

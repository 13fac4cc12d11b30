"""Every text Aftercare says to a clinician in Telegram (and on the other paging channels), made
with realistic arguments in the current language: pages for each level, re-pages and their
status lines, case news, /open, /patients, /history, /contact, the help and the menu,
/oncall and /offcall, the *Log contact* buttons and their answers, taking a case, the
e-mailed page, the paging services' summaries and the daily digest. The values put in (the
clinic's name, references, names, what patients wrote, stored reasons) are `substituted`:
a test strips them before looking for English left behind."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any
from unittest.mock import patch

from telegram import InlineKeyboardMarkup

from bot.channels.email.message import page_email, page_subject
from bot.channels.event_format import FollowUpFacts, one_line
from bot.channels.webhook.body import follow_up
from bot.clinic_config import ClinicConfig, parse_clinics
from bot.dispatch.digest import digest_subject, digest_text
from bot.domain.escalation import Step
from bot.domain.levels import Level
from bot.i18n import C_
from bot.i18n import resolve as resolving
from bot.messaging import case_news, case_thread, listings, menus, outreach_buttons, pages
from bot.messaging.delivery import Outcome
from bot.messaging.taking import _taken_line
from bot.services import case_taking, messages
from bot.services.case_facts import CheckinFacts
from bot.services.case_queue import CaseCard, PageLine
from bot.services.case_taking import CaseAction, Taken, TakeOutcome
from bot.services.overview import LastCheckin, OpenCase, PatientRow
from bot.services.patients import patient_actions
from bot.services.reaching.contact_details import ContactDetails
from bot.services.timeline import (
    AnswerView,
    CheckinEntry,
    LateAnswerEntry,
    MessageEntry,
    RecentHistory,
    TimelinePatient,
)
from handlers import auth, case_messages, cases, clinician, console, oncall, outreach, taking
from storage.models import Case, Checkin, Clinician, Infusion, Patient
from storage.states import CaseStatus, CaseTrigger, CheckinKind, CheckinStatus, PatientStatus

CLINIC_TOML = """
[[clinics]]
id = "north"
name = "North Clinic"
timezone = "America/New_York"
contact_phone = "+1 555 0100"
alerts_include_name = true
"""
NOW = datetime(2026, 6, 3, 15, 0, tzinfo=UTC)
REF = "P-0042"
NAMES = ("Dr Ada Lovelace", "Dr Ben Ortiz", "Dr Cleo Park")
DISPLAY_NAME = "Jane Doe"
REASON = "C-SSRS item 4 = Yes"
REASON_2 = "crisis words in a message: kill myself — please read the patient's words"
QUOTE = "I cannot sleep and I feel hopeless tonight"
NOTE = "Called her, she is safe with her sister tonight"
ERROR = "Forbidden: bot was blocked by the user"
CONSOLE = "https://console.example.org"
LADDER = [Step(timedelta(0), ("primary",)), Step(timedelta(minutes=5), ("primary", "backup"))]
# Values the bot shows as they are stored (statuses, kinds, Babel's language name), not ours
DATA = ["Spanish", "offset", "daily", "completed", "missed", "active", "opted_out", "Telegram"]


def clinic() -> ClinicConfig:
    return parse_clinics(CLINIC_TOML, source="test").clinic("north")


def substituted() -> list[str]:
    """Values put into texts that are not ours to translate, longest first."""
    c = clinic()
    values = [
        CONSOLE,
        c.name,
        REF,
        *NAMES,
        DISPLAY_NAME,
        REASON,
        REASON_2,
        QUOTE,
        NOTE,
        ERROR,
        *DATA,
    ]
    return sorted(values, key=len, reverse=True)


def patient(language: str | None = "es") -> Patient:
    return Patient(
        id=1,
        clinic_id="north",
        ref=REF,
        timezone="Europe/London",
        baseline_mood=6,
        display_name=DISPLAY_NAME,
        language=language,
        created_at=NOW,
    )


def case(level: Level = Level.HIGH, **fields: Any) -> Case:
    values: dict[str, Any] = {
        "id": 12,
        "clinic_id": "north",
        "patient_id": 1,
        "level": level,
        "trigger": CaseTrigger.CHECKIN,
        "reason": f"[2026-06-03 14:55 UTC] {REASON}\n[2026-06-03 14:58 UTC] {REASON_2}",
        "quote": QUOTE,
        "opened_at": NOW - timedelta(minutes=42),
        "ladder_started_at": NOW - timedelta(minutes=10),
        **fields,
    }
    return Case(**values)


def people() -> dict[int, Clinician]:
    return {
        i: Clinician(id=i, clinic_id="north", name=n, telegram_user_id=i, chat_id=i, created_at=NOW)
        for i, n in enumerate(NAMES, start=1)
    }


def _facts() -> CheckinFacts:
    due = NOW - timedelta(hours=2)
    checkin = Checkin(
        id=40, patient_id=1, kind=CheckinKind.OFFSET, nominal_at=due, due_at=due, created_at=due
    )
    infusion = Infusion(
        id=9,
        patient_id=1,
        ended_at=due - timedelta(hours=4),
        protocol="standard",
        recorded_at=due,
        recorded_by="cli",
    )
    return CheckinFacts(checkin, {"mood": "2", "s1": "yes", "s2": "no", "note": "x"}, infusion)


def _pages() -> Iterator[tuple[str, str]]:
    c, p = clinic(), patient()
    for level in Level:
        yield (
            f"page {level}",
            pages.page_text(
                case=case(level), patient=p, clinic=c, steps=LADDER, checkin=_facts(), now=NOW
            ),
        )
        yield f"summary {level}", pages.page_summary(level, 12, c.name)
        yield f"subject {level}", page_subject(level=level, case_id=12, reference=REF)
    reached = pages.LadderSoFar(
        first_at=NOW - timedelta(minutes=5), reached=NAMES[:1], paged_now=NAMES[1:]
    )
    so_fars = {
        "reached one": reached,
        "reached many": pages.LadderSoFar(first_at=NOW - timedelta(minutes=5), reached=NAMES),
        "reached, no time": pages.LadderSoFar(reached=NAMES),
        "failed": pages.LadderSoFar(first_at=NOW, failed=NAMES[:2], paged_now=NAMES[2:]),
        "nobody": pages.LadderSoFar(first_at=NOW - timedelta(minutes=5)),
        "nobody, no time": pages.LadderSoFar(),
        "again": pages.LadderSoFar(first_at=NOW, reached=NAMES[:1], again=True),
    }
    rungs = {
        "everyone": pages.NextRung(NOW + timedelta(minutes=10), ("everyone",)),
        "primary and backup": pages.NextRung(NOW + timedelta(minutes=10), ("primary", "backup")),
        "last": None,
    }
    for (name, so_far), (rung_name, rung) in zip(
        so_fars.items(), [*rungs.items()] * 3, strict=False
    ):
        yield (
            f"repage {name} {rung_name}",
            pages.page_text(
                case=case(step=1),
                patient=patient(None),
                clinic=c,
                steps=LADDER,
                checkin=None,
                now=NOW,
                next_rung=rung,
                so_far=so_far,
            ),
        )
    yield "duration s", pages.duration(timedelta(seconds=45))
    yield "duration h", pages.duration(timedelta(hours=4))
    ctx = SimpleNamespace(clinic=lambda _id: c, clock=SimpleNamespace(now=lambda: NOW))
    statuses = {
        "reopened": case(status=CaseStatus.OPEN),
        "resolved": case(
            status=CaseStatus.RESOLVED, resolved_at=NOW, resolved_by=1, resolution_note=NOTE
        ),
        "resolved by service": case(
            status=CaseStatus.RESOLVED, resolved_at=NOW, resolution_note=NOTE
        ),
        "acknowledged": case(
            status=CaseStatus.ACKNOWLEDGED, acknowledged_at=NOW, acknowledged_by=2
        ),
        "acknowledged by service": case(status=CaseStatus.ACKNOWLEDGED, acknowledged_at=NOW),
    }
    for name, shown in statuses.items():
        yield f"status {name}", case_news._status_line(shown, p, people(), ctx)  # type: ignore[arg-type]


def _card(level: Level, delivered: bool) -> CaseCard:
    lines = tuple(PageLine(n, NOW, i, delivered or i == 0, None) for i, n in enumerate(NAMES * 4))
    return CaseCard(case(level), patient(), None, lines, None, None, None)


def _listings() -> Iterator[tuple[str, str]]:
    c = clinic()
    reasons = "\n".join(f"[2026-06-03 14:{n:02d} UTC] {REASON} {n}" for n in range(8))
    many = CaseCard(
        case(reason=reasons, status=CaseStatus.ACKNOWLEDGED), patient(), None, (), None, None, None
    )
    cards = [_card(level, level is Level.HIGH) for level in Level] + [many]
    yield "open", listings.open_cases_text(cards, clinic=c, now=NOW)
    yield "open, cut", listings.fit(["x" * 100] * 3, header="Open", limit=250)
    yield "open, none", listings.open_cases_text([], clinic=c, now=NOW)
    row = PatientRow(
        patient_id=1,
        ref=REF,
        status=PatientStatus.ACTIVE,
        status_label="active",
        timezone="Europe/London",
        baseline_mood=6,
        last_checkin=LastCheckin(9, NOW, CheckinStatus.COMPLETED, Level.LOW),
        last_mood=4,
        last_mood_at=NOW,
        open_case=OpenCase(3, Level.MODERATE, CaseStatus.ACKNOWLEDGED),
        sent=3,
        answered=2,
        next_planned_at=None,
    )
    new = PatientRow(**{**row.__dict__, "last_checkin": None, "last_mood": None, "open_case": None})
    yield "patients", listings.patients_text([row, new], clinic=c)
    yield "patients, none", listings.patients_text([], clinic=c)
    yield from _history(c)
    details = ContactDetails(
        REF,
        "Europe/London",
        "20:00",
        "+1 555 0101",
        "+15550101",
        NAMES[1],
        None,
        "+1 555 0102",
        None,
        None,
    )
    yield "contact", listings.contact_text(details)
    yield (
        "contact, note",
        listings.contact_text(
            ContactDetails(REF, "UTC", "20:00", None, None, None, None, None, None, NOTE)
        ),
    )
    yield (
        "contact, none",
        listings.contact_text(
            ContactDetails(REF, "UTC", "20:00", None, None, None, None, None, None, None)
        ),
    )


def _history(c: ClinicConfig) -> Iterator[tuple[str, str]]:
    def answer(item: str, value: str) -> AnswerView:
        return AnswerView(item, value, item, None, value, NOW)

    def entry(id: int, *answers: AnswerView) -> CheckinEntry:
        return CheckinEntry(
            at=NOW,
            checkin_id=id,
            infusion_id=None,
            checkin_kind=CheckinKind.DAILY,
            label="check-in",
            due_at=NOW,
            sent_at=NOW,
            closed_at=None,
            status=CheckinStatus.COMPLETED if answers else CheckinStatus.MISSED,
            risk_level=Level.NONE,
            crisis_card_at=None,
            answers=answers,
        )

    active = PatientStatus.ACTIVE
    who = TimelinePatient(
        1, REF, active, "active", "UTC", None, None, None, patient_actions(active)
    )
    history = RecentHistory(
        patient=who,
        checkins=(entry(3, answer("mood", "4"), answer("s1", "no")), entry(2)),
        messages=(MessageEntry(NOW, 11, QUOTE), LateAnswerEntry(NOW, 10, answer("s2", "yes"))),
    )
    yield "history", listings.history_text(history, clinic=c)
    yield (
        "history, empty",
        listings.history_text(RecentHistory(patient=who, checkins=(), messages=()), clinic=c),
    )


def _taking() -> Iterator[tuple[str, str]]:
    c, done_case = clinic(), case(status=CaseStatus.ACKNOWLEDGED)
    ada = people()[1]
    for action in CaseAction:
        yield f"taken {action}", taking._said(Taken(TakeOutcome.DONE, action, done_case, ada))
        for via in (None, "pagerduty"):
            yield f"told {action} {via}", _taken_line(12, action, via, NAMES[0])
    unreached = C_(case_taking.UNREACHED).format(id=12)
    yield (
        "unreached",
        taking._said(Taken(TakeOutcome.UNREACHED, CaseAction.RESOLVE, done_case, ada, unreached)),
    )
    for status, said in case_taking.ALREADY.items():
        yield f"already {status}", C_(said).format(id=12)
    yield (
        "raised",
        case_taking.raised_since(case(level=Level.HIGH), "low", C_(taking.SEEN_WHEN)) or "",
    )
    yield "resolve prompt", C_(taking.RESOLVE_PROMPT).format(id=12)
    for name in ("UNKNOWN",):
        yield f"taking {name}", C_(getattr(taking, name))
    yield "compose prompt", case_thread.prompt(case_id=12, ref=REF, name=NAMES[0], clinic=c)
    yield "forwarded", case_thread.forwarded(case_id=12, ref=REF, text=QUOTE)
    yield "compose unknown", C_(case_messages.UNKNOWN)
    yield "empty text", messages.check_text(" ") or ""
    yield "long text", messages.check_text("x" * 10_000) or ""
    yield "not authorised", C_(auth.NOT_AUTHORISED)


def _outreach() -> Iterator[tuple[str, str]]:
    for name in ("UNKNOWN", "ALREADY"):
        yield f"outreach {name}", C_(getattr(outreach, name))
    yield "ask method", outreach_buttons.ask_method(12)
    for code, method in outreach_buttons.METHOD_CODES.items():
        yield f"ask outcome {code}", outreach_buttons.ask_outcome(12, method)
        for o_code, outcome in outreach_buttons.OUTCOME_CODES.items():
            due = "Wed 03 Jun 19:00 EDT" if o_code == "n" else None
            yield f"logged {code} {o_code}", outreach_buttons.logged_text(12, method, outcome, due)


def _commands() -> Iterator[tuple[str, str]]:
    c = clinic()
    yield "help", menus.clinician_help()
    yield "registered", menus.clinician_registered(NAMES[0], c.name)
    for command in menus.clinician_commands():
        yield f"menu {command.command}", command.description
    yield "on call", oncall.on_call_text(c.name, "Wed 03 Jun 23:00 EDT")
    for roles in [(), *oncall.STILL_ON]:
        for ended in (True, False):
            lines = oncall.off_call_lines(c.name, ended, tuple(roles), nobody=True)
            yield f"off call {roles} {ended}", "\n".join(lines)
    yield "chart not sent", C_(cases.CHART_NOT_SENT).format(ref=REF)
    yield "invited", clinician.invited_text(REF, "Europe/London", 7, "https://t.me/bot?start=x")
    yield (
        "invited 1 day",
        clinician.invited_text(REF, "Europe/London", 1, "https://t.me/bot?start=x"),
    )
    yield "resumed", clinician.resumed_text(REF, 5, None, Outcome.SENT)
    yield "resumed, not told", clinician.resumed_text(REF, 1, ERROR, Outcome.FAILED)
    yield "console usage", C_(console.USAGE)
    yield "console not set up", C_(console.NOT_SET_UP)
    yield "console link", console.signin_text(f"{CONSOLE}/signin/abc")
    yield "console ended", console.ended_text(2, None)
    yield "console ended admin", console.ended_text(1, NAMES[1])


def _channels() -> Iterator[tuple[str, str]]:
    c, p = clinic(), patient()
    text = pages.page_text(case=case(), patient=p, clinic=c, steps=LADDER, checkin=None, now=NOW)
    mail = page_email(
        to="ada@example.org",
        sender="aftercare@example.org",
        subject=page_subject(level="high", case_id=12, reference=REF),
        text=text,
        ack_url=f"{CONSOLE}/ack/abc",
        console_url=pages.case_link(CONSOLE, 12),
    )
    for part in mail.walk():
        if part.get_content_type() == "text/plain":
            yield "e-mail text", str(part.get_content())
        elif part.get_content_type() == "text/html":  # what a reader sees: the text, the buttons
            shown = re.sub(r"<style.*?</style>|<[^>]+>", " ", str(part.get_content()), flags=re.S)
            yield "e-mail html", html.unescape(shown)
    yield "summary fallback", one_line("", 100)
    for action in ("acknowledge", "resolve"):
        facts = FollowUpFacts(action, "north", 12, "high", None, {"reference": REF})
        yield f"webhook {action}", str(follow_up(facts)["text"])
    cards = [
        _card(Level.HIGH, True),
        CaseCard(case(acknowledged_at=NOW), p, None, (), None, None, None),
    ]
    yield "digest", digest_text(cards, clinic_name=c.name, console_url=CONSOLE)
    yield "digest, none", digest_text([], clinic_name=c.name, console_url=None)
    yield "digest subject", digest_subject(c.name, 2)


def _keyboards() -> list[InlineKeyboardMarkup]:
    boards = [
        pages.case_buttons(999_999_999, level, status, console_url=CONSOLE)
        for level in Level
        for status in CaseStatus
    ]
    boards += [
        pages.message_button(999_999_999, console_url=CONSOLE),
        outreach_buttons.method_keyboard(999_999_999),
        *(outreach_buttons.outcome_keyboard(999_999_999, m) for m in outreach_buttons.METHOD_CODES),
    ]
    return [b for b in boards if b is not None]


def _buttons() -> Iterator[tuple[str, str]]:
    for board in _keyboards():
        for row in board.inline_keyboard:
            for button in row:
                yield f"button {button.callback_data or button.url}", button.text


def all_texts() -> list[tuple[str, str]]:
    """(name, text) of every clinician text, said in the current language; the patient reads
    Spanish (offered as if its C-SSRS were installed), so pages say so."""
    offered = ("en", "es", "en-XA")
    with (
        patch.object(resolving, "cssrs_languages", lambda: offered),
        patch.object(resolving, "catalogued", lambda: offered),
    ):
        return _all()


def _all() -> list[tuple[str, str]]:
    return [
        *_pages(),
        *_listings(),
        *_taking(),
        *_outreach(),
        *_commands(),
        *_channels(),
        *_buttons(),
    ]


def alerts() -> list[str]:
    """Every text a clinician's button is answered with (answerCallbackQuery)."""
    c = case()
    return [
        C_(auth.NOT_AUTHORISED),
        C_(taking.UNKNOWN),
        C_(taking.ACKNOWLEDGED),
        C_(outreach.RECORDED),
        C_(outreach.UNKNOWN),
        C_(outreach.ALREADY),
        C_(case_messages.UNKNOWN),
        C_("No case #{id} in your clinic.").format(id=999_999_999),
        C_("Case #{id} is resolved; its outreach log is closed.").format(id=999_999_999),
        C_("Case #{id} is resolved: its thread is closed.").format(id=999_999_999),
        C_("The patient of case #{id} has no Telegram chat with us yet: call instead.").format(
            id=999_999_999
        ),
        *(C_(said).format(id=999_999_999) for said in case_taking.ALREADY.values()),
        case_taking.raised_since(c, "low", C_(taking.SEEN_WHEN)) or "",
        C_(case_taking.UNREACHED).format(id=999_999_999),
    ]


def callback_data() -> list[str]:
    """Every callback_data of a clinician's buttons."""
    return [
        str(button.callback_data)
        for board in _keyboards()
        for row in board.inline_keyboard
        for button in row
        if button.callback_data is not None
    ]

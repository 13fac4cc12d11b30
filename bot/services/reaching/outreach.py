"""Reaching the patient (CLINICAL.md §10): a case's outreach log and its clock. No Telegram,
no HTTP.

The log: each attempt to reach the patient, how, what came of it, when and by whom, recorded by
a clinician of the case's clinic (the console's form, Telegram's *Log contact*), audited
without the note (`outreach.logged`).

The clock (`Case.outreach_due_at`, the next deadline):
- It starts at the case's first delivered page (a care-team queue rung: when it was queued):
  high needs a first attempt within `high_first_attempt`, every level the patient reached within
  its target, counted from that first page (`first_paged_at`; low in business days).
- An attempt that did not reach the patient moves it to the "reached" target (never sooner than
  `again_after` from now); reaching the patient (or handing over to emergency services) or
  resolving the case ends it. Acknowledging never does.
- A raised or re-opened case (a new concern) starts it again at its next delivered page.
- Past it, an acknowledged case goes back to open and its ladder starts again from the first
  rung (as a re-opened case's does, CLINICAL.md §8), its reason saying what is missing
  (`outreach.overdue`); acknowledged again after the target, the clinician has `again_after`
  before it goes up once more.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from bot.clinic_config import ClinicConfig
from bot.domain.levels import Level
from bot.domain.outreach import (
    Need,
    ReachTargets,
    after_acknowledge,
    due_at,
    need_now,
    overdue_wording,
)
from bot.i18n import C_, NC_
from bot.services.cases import reopen_for_outreach
from storage import audit
from storage.cases import get_case
from storage.models import Case, Clinician, Outreach
from storage.outreach import add_outreach, claim_overdue_outreach, outreach_of_cases
from storage.states import CaseStatus, OutreachMethod, OutreachOutcome, clinician_actor
from storage.views.reports import clinicians_by_ids

log = logging.getLogger(__name__)

METHODS = {
    OutreachMethod.PHONE: NC_("Phone"),
    OutreachMethod.TELEGRAM: NC_("Telegram message"),
    OutreachMethod.VIDEO: NC_("Video"),
    OutreachMethod.IN_PERSON: NC_("In person"),
    OutreachMethod.EMERGENCY_CONTACT: NC_("Emergency contact"),
    OutreachMethod.EMERGENCY_SERVICES: NC_("Emergency services"),
}
OUTCOMES = {
    OutreachOutcome.REACHED: NC_("Reached"),
    OutreachOutcome.NO_ANSWER: NC_("No answer"),
    OutreachOutcome.VOICEMAIL: NC_("Voicemail"),
    OutreachOutcome.WRONG_NUMBER: NC_("Wrong number"),
    OutreachOutcome.REFUSED: NC_("Refused"),
    OutreachOutcome.EMERGENCY_SERVICES_DISPATCHED: NC_("Emergency services dispatched"),
    OutreachOutcome.REFERRED_TO_ED: NC_("Referred to emergency department"),
}
MAX_NOTE = 1000
CLOCK_SKEW = timedelta(minutes=2)  # an attempt "now" typed on a clock slightly ahead


class OutreachMetrics(Protocol):
    def observe_outreach(
        self,
        *,
        level: str,
        opened_at: datetime,
        first_paged_at: datetime | None,
        first_attempt_at: datetime | None = None,
        reached_at: datetime | None = None,
    ) -> None: ...


@dataclass(frozen=True)
class Logged:
    """What logging did: the attempt, or why not (`problems` by form field; `not_found`: no
    such case in the clinician's clinic)."""

    attempt: Outreach | None = None
    case: Case | None = None
    problems: dict[str, str] = field(default_factory=dict)
    not_found: bool = False
    first_attempt_at: datetime | None = None  # the case's first attempt, when this was it
    first_reached_at: datetime | None = None  # the first "reached", when this was it

    def observe(self, metrics: OutreachMetrics) -> None:
        """Response-time histograms, once the attempt is committed."""
        case = self.case
        if case is None or (self.first_attempt_at is None and self.first_reached_at is None):
            return
        metrics.observe_outreach(
            level=str(case.level),
            opened_at=case.opened_at,
            first_paged_at=case.first_paged_at,
            first_attempt_at=self.first_attempt_at,
            reached_at=self.first_reached_at,
        )

    @property
    def message(self) -> str:
        return " ".join(self.problems.values())


def parse_choice(
    raw: str, names: dict[OutreachMethod, str] | dict[OutreachOutcome, str]
) -> str | None:
    """A method's or an outcome's stored value, or None for anything else."""
    return raw if raw in {str(k) for k in names} else None


async def log_outreach(
    session: AsyncSession,
    *,
    case_id: int,
    by: Sequence[Clinician],
    method: str,
    outcome: str,
    at: datetime | None,
    note: str,
    clinic_of: Callable[[str], ClinicConfig],
    now: datetime,
) -> Logged:
    """Record one attempt on a case of the clinician's clinic (`by`: their registrations);
    `at` None means now. Refused with problems by field, or `not_found`."""
    case = await get_case(session, case_id=case_id, lock=True)
    clinician = next((c for c in by if case is not None and c.clinic_id == case.clinic_id), None)
    if case is None or clinician is None or clinician.id is None:
        return Logged(not_found=True)
    problems: dict[str, str] = {}
    if parse_choice(method, METHODS) is None:
        problems["method"] = C_("Choose how you tried to reach the patient.")
    if parse_choice(outcome, OUTCOMES) is None:
        problems["outcome"] = C_("Choose what came of it.")
    when = at or now
    if when > now + CLOCK_SKEW:
        problems["at"] = C_("The time is in the future.")
    elif when < case.opened_at - CLOCK_SKEW:
        problems["at"] = C_("The time is before the case was opened.")
    note = note.strip()
    if len(note) > MAX_NOTE:
        problems["note"] = C_("The note is longer than {max} characters.").format(max=MAX_NOTE)
    if case.status == CaseStatus.RESOLVED:
        problems["case"] = C_("Case #{id} is resolved; its outreach log is closed.").format(
            id=case.id
        )
    if problems:
        return Logged(case=case, problems=problems)
    assert case.id is not None
    earlier = (await outreach_of_cases(session, case_ids=[case.id]))[case.id]
    attempt = await add_outreach(
        session,
        attempt=Outreach(
            case_id=case.id,
            clinic_id=case.clinic_id,
            patient_id=case.patient_id,
            clinician_id=clinician.id,
            method=OutreachMethod(method),
            outcome=OutreachOutcome(outcome),
            at=when,
            recorded_at=now,
            note=note or None,
        ),
    )
    on_attempt(case, attempt, clinic=clinic_of(case.clinic_id), now=now)
    await audit.append(
        session,
        at=now,
        actor=clinician_actor(clinician.id),
        event="outreach.logged",
        clinic_id=case.clinic_id,
        patient_id=case.patient_id,
        case_id=case.id,
        detail={  # never the note's words
            "method": attempt.method,
            "outcome": attempt.outcome,
            "at": when.isoformat(),
            "note_length": len(note),
            "due_at": case.outreach_due_at.isoformat() if case.outreach_due_at else None,
        },
    )
    first = not earlier or when < earlier[0].at
    reached = attempt.outcome == OutreachOutcome.REACHED and not any(
        e.outcome == OutreachOutcome.REACHED and e.at <= when for e in earlier
    )
    return Logged(
        attempt=attempt,
        case=case,
        first_attempt_at=when if first else None,
        first_reached_at=when if reached else None,
    )


async def check_loggable(
    session: AsyncSession, *, case_id: int, by: Sequence[Clinician]
) -> str | None:
    """Why this clinician cannot log outreach on the case (one line, safe to show), or None.
    Changes nothing (Telegram's *Log contact* asks before it offers the methods)."""
    case = await get_case(session, case_id=case_id)
    if case is None or not any(c.clinic_id == case.clinic_id for c in by):
        return C_("No case #{id} in your clinic.").format(id=case_id)
    if case.status == CaseStatus.RESOLVED:
        return C_("Case #{id} is resolved; its outreach log is closed.").format(id=case.id)
    return None


# The clock

# Outcomes that end the clock: the patient reached, or handed over to emergency services.
REACHES = frozenset({OutreachOutcome.REACHED, OutreachOutcome.REFERRED_TO_ED})
ENDS_CLOCK = REACHES | {OutreachOutcome.EMERGENCY_SERVICES_DISPATCHED}


def reach_targets(clinic: ClinicConfig) -> ReachTargets:
    """The clinic's targets; high's "reached" never later than the page's promise
    (`escalation.human_contact_within`)."""
    o = clinic.outreach
    return ReachTargets(
        high_first_attempt=o.high_first_attempt,
        high_reached=min(o.high_reached, clinic.escalation.human_contact_within),
        moderate_reached=o.moderate_reached,
        low_reached_business_days=o.low_reached_business_days,
        business_days=tuple(clinic.escalation.business_hours.days),
        again_after=o.again_after,
    )


def _clock_ended(case: Case) -> bool:
    """Reached since the case's ladder last started (a new concern needs a new reach)."""
    return case.reached_at is not None and case.reached_at >= case.ladder_started_at


def _start(case: Case, now: datetime) -> datetime:
    return case.first_paged_at or now


async def on_rung(
    session: AsyncSession,
    *,
    case: Case,
    clinic: ClinicConfig,
    sent: bool,
    queue_only: bool,
    now: datetime,
) -> None:
    """A rung's pages are recorded: the first delivered page is the clock's start."""
    if case.status == CaseStatus.RESOLVED:
        return
    if sent and case.first_paged_at is None:
        case.first_paged_at = now
    if not (sent or queue_only) or case.outreach_due_at is not None or _clock_ended(case):
        return
    level = Level(case.level)
    assert case.id is not None
    attempts = [
        a
        for a in (await outreach_of_cases(session, case_ids=[case.id]))[case.id]
        if a.at >= case.ladder_started_at
    ]
    need = need_now(level, attempts=len(attempts))
    if need is None:
        return
    targets = reach_targets(clinic)
    if need is Need.FIRST_ATTEMPT:
        case.outreach_due_at = now + targets.high_first_attempt
    else:
        reached = due_at(level, need, start=_start(case, now), targets=targets, zone=clinic.zone)
        case.outreach_due_at = max(reached, now + targets.again_after) if attempts else reached


def on_acknowledge(case: Case, *, clinic: ClinicConfig, now: datetime) -> None:
    """An acknowledgement after the target passed: the clinician gets `again_after`."""
    case.outreach_due_at = after_acknowledge(
        case.outreach_due_at, now=now, targets=reach_targets(clinic)
    )


def on_attempt(case: Case, attempt: Outreach, *, clinic: ClinicConfig, now: datetime) -> None:
    """A logged attempt: reached (or handed over) ends the clock; otherwise it moves on to the
    "reached" target."""
    if attempt.outcome in REACHES and not _clock_ended(case):
        case.reached_at = attempt.at  # the first reach since the ladder (re)started
    if attempt.outcome in ENDS_CLOCK:
        case.outreach_due_at = None
        return
    level = Level(case.level)
    if (
        case.status == CaseStatus.RESOLVED
        or _clock_ended(case)
        or need_now(level, attempts=0) is None
    ):
        return
    targets = reach_targets(clinic)
    reached = due_at(
        level, Need.REACHED, start=_start(case, now), targets=targets, zone=clinic.zone
    )
    case.outreach_due_at = max(reached, now + targets.again_after)


def on_resolve(case: Case) -> None:
    case.outreach_due_at = None


async def reescalate_overdue(
    session: AsyncSession,
    *,
    clinic_of: Callable[[str], ClinicConfig],
    owner: str,
    lease_until: datetime,
    limit: int,
    now: datetime,
) -> list[Case]:
    """Acknowledged cases past their outreach target go back up their ladder (claimed under a
    lease, so no two instances act on one); returns them."""
    # The chain before the claim's row locks (each case is audited): a clinician acting on
    # the case holds the chain, then locks its row; the other order deadlocks (PostgreSQL).
    await audit.hold_chain(session)
    cases = await claim_overdue_outreach(
        session, now=now, owner=owner, lease_until=lease_until, limit=limit
    )
    if not cases:
        return []
    attempts = await outreach_of_cases(session, case_ids=[c.id for c in cases if c.id is not None])
    people = await clinicians_by_ids(
        session, ids=sorted({c.acknowledged_by for c in cases if c.acknowledged_by is not None})
    )
    names = {p.id: p.name for p in people}
    for case in cases:
        assert case.id is not None
        clinic = clinic_of(case.clinic_id)
        level = Level(case.level)
        tried = attempts.get(case.id, [])
        need = need_now(level, attempts=len(tried)) or Need.REACHED
        wording = overdue_wording(
            need=need,
            level=level,
            acknowledged_by=names.get(case.acknowledged_by) if case.acknowledged_by else None,
            acknowledged_at=case.acknowledged_at,
            attempts=len(tried),
            targets=reach_targets(clinic),
            now=now,
        )
        log.warning("outreach.overdue case=%s clinic=%s need=%s", case.id, case.clinic_id, need)
        await reopen_for_outreach(session, case=case, wording=wording, need=need.value, now=now)
    return cases

"""The clinic's cases as the console, Telegram's /open and the digest show them: each with its
patient, why, its pages, who took it, and the next rung of its ladder. Read-only; a handful of
queries however many cases."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from bot.clinic_config import ClinicConfig
from bot.domain.levels import Level
from bot.i18n import C_
from bot.services.case_facts import CheckinFacts
from bot.services.cases import ladder
from bot.services.reaching.outreach import METHODS, OUTCOMES
from storage.cases import pages_of_cases, unresolved_for_clinic
from storage.models import Case, Outreach, Page, Patient
from storage.outreach import outreach_of_cases
from storage.patients import patients_by_ids
from storage.states import CaseStatus, OutreachOutcome, PageStatus
from storage.views.queue import case_in_clinic, checkins_with_answers
from storage.views.reports import clinicians_by_ids


@dataclass(frozen=True)
class PageLine:
    """One page of the case: who, when, at which rung, delivered or not."""

    clinician: str
    sent_at: datetime
    step: int
    delivered: bool
    error: str | None


@dataclass(frozen=True)
class NextRung:
    """What fires next if nobody acknowledges: when, and whom it notifies."""

    at: datetime
    notify: tuple[str, ...]


@dataclass(frozen=True)
class OutreachLine:
    """One attempt to reach the patient, as the console lists it."""

    method: str
    outcome: str
    at: datetime
    recorded_at: datetime
    clinician: str
    note: str | None
    reached: bool


@dataclass(frozen=True)
class CaseCard:
    case: Case
    patient: Patient
    facts: CheckinFacts | None
    pages: tuple[PageLine, ...]
    acknowledged_by: str | None
    resolved_by: str | None
    next_rung: NextRung | None
    outreach: tuple[OutreachLine, ...] = ()
    # what the outreach clock waits for once its target has passed ("a first contact
    # attempt", "the patient reached"), None while in time; read at `now` of the cards
    outreach_overdue: str | None = None

    @property
    def level(self) -> Level:
        return Level(self.case.level)

    @property
    def may_acknowledge(self) -> bool:
        return CaseStatus(self.case.status).may_acknowledge

    @property
    def may_resolve(self) -> bool:
        return CaseStatus(self.case.status).may_resolve


def queue_order(card: CaseCard) -> tuple[bool, int, datetime, int]:
    """Outreach overdue first, then highest level, then oldest."""
    return (card.outreach_overdue is None, -card.level.rank, card.case.opened_at, card.case.id or 0)


def arrival_order(card: CaseCard) -> tuple[datetime, int]:
    """Oldest first, whatever the level (Telegram's /open)."""
    return (card.case.opened_at, card.case.id or 0)


async def open_case_cards(
    session: AsyncSession, *, clinic: ClinicConfig, now: datetime | None = None
) -> list[CaseCard]:
    """Every unresolved case of the clinic: outreach overdue at `now` first, then highest
    level, then oldest."""
    cases = await unresolved_for_clinic(session, clinic_id=clinic.id)
    return sorted(await _cards(session, clinic, cases, now), key=queue_order)


async def case_card(
    session: AsyncSession, *, clinic: ClinicConfig, case_id: int, now: datetime | None = None
) -> CaseCard | None:
    """One case of this clinic (resolved ones too); None if it is not this clinic's."""
    case = await case_in_clinic(session, clinic_id=clinic.id, case_id=case_id)
    if case is None:
        return None
    return (await _cards(session, clinic, [case], now))[0]


def outreach_overdue(case: Case, attempts: list[Outreach], now: datetime | None) -> str | None:
    """What the case's outreach clock waits for, once its target has passed."""
    due = case.outreach_due_at
    if now is None or due is None or due > now or case.status == CaseStatus.RESOLVED:
        return None
    if Level(case.level) is Level.HIGH and not attempts:
        return C_("a first contact attempt")
    return C_("the patient reached")


async def _cards(
    session: AsyncSession, clinic: ClinicConfig, cases: list[Case], now: datetime | None = None
) -> list[CaseCard]:
    if not cases:
        return []
    patients = await patients_by_ids(session, ids=[c.patient_id for c in cases])
    case_ids = [c.id for c in cases if c.id is not None]
    pages = await pages_of_cases(session, case_ids=case_ids)
    attempts = await outreach_of_cases(session, case_ids=case_ids)
    people = await clinicians_by_ids(
        session,
        ids=sorted(
            {p.clinician_id for p in pages}
            | {i for c in cases for i in (c.acknowledged_by, c.resolved_by) if i is not None}
            | {a.clinician_id for tried in attempts.values() for a in tried if a.clinician_id}
        ),
    )
    names = {c.id: c.name for c in people}
    checkins, answers, infusions = await checkins_with_answers(
        session, checkin_ids=[c.checkin_id for c in cases if c.checkin_id is not None]
    )
    by_case: dict[int, list[Page]] = {}
    for page in pages:
        by_case.setdefault(page.case_id, []).append(page)
    cards = []
    for case in cases:
        checkin = checkins.get(case.checkin_id) if case.checkin_id is not None else None
        facts = None
        if checkin is not None and checkin.id is not None:
            infusion = infusions.get(checkin.infusion_id) if checkin.infusion_id else None
            facts = CheckinFacts(checkin, answers.get(checkin.id, {}), infusion)
        cards.append(
            CaseCard(
                case=case,
                patient=patients[case.patient_id],
                facts=facts,
                pages=tuple(
                    PageLine(
                        names.get(p.clinician_id, C_("clinician {id}").format(id=p.clinician_id)),
                        p.sent_at,
                        p.step,
                        p.status == PageStatus.SENT,
                        p.error,
                    )
                    for p in by_case.get(case.id or 0, [])
                ),
                acknowledged_by=names.get(case.acknowledged_by) if case.acknowledged_by else None,
                resolved_by=names.get(case.resolved_by) if case.resolved_by else None,
                next_rung=next_rung(case, clinic),
                outreach=tuple(
                    OutreachLine(
                        C_(METHODS[a.method]),
                        C_(OUTCOMES[a.outcome]),
                        a.at,
                        a.recorded_at,
                        names.get(a.clinician_id, "—") if a.clinician_id else "—",
                        a.note,
                        a.outcome == OutreachOutcome.REACHED,
                    )
                    for a in attempts.get(case.id or 0, [])
                ),
                outreach_overdue=outreach_overdue(case, attempts.get(case.id or 0, []), now),
            )
        )
    return cards


def next_rung(case: Case, clinic: ClinicConfig) -> NextRung | None:
    """The rung that fires at `next_step_at` (the pager pages `steps[step]`, the last one
    repeating), or None once the case is taken or nothing is planned."""
    if case.status != CaseStatus.OPEN or case.next_step_at is None:
        return None
    steps = ladder(clinic, Level(case.level))
    if not steps:
        return None
    return NextRung(case.next_step_at, steps[min(case.step, len(steps) - 1)].notify)

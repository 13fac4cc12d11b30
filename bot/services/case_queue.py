"""The clinic's cases as the console, Telegram's /open and the digest show them: each with its
patient, why, its pages, who took it, and the next rung of its ladder. Read-only; a handful of
queries however many cases."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from bot.clinic_config import ClinicConfig
from bot.domain.levels import Level
from bot.services.case_facts import CheckinFacts
from bot.services.cases import ladder
from storage.cases import pages_of_cases, unresolved_for_clinic
from storage.models import Case, Page, Patient
from storage.patients import patients_by_ids
from storage.states import CaseStatus, PageStatus
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
class CaseCard:
    case: Case
    patient: Patient
    facts: CheckinFacts | None
    pages: tuple[PageLine, ...]
    acknowledged_by: str | None
    resolved_by: str | None
    next_rung: NextRung | None

    @property
    def level(self) -> Level:
        return Level(self.case.level)

    @property
    def may_acknowledge(self) -> bool:
        return CaseStatus(self.case.status).may_acknowledge

    @property
    def may_resolve(self) -> bool:
        return CaseStatus(self.case.status).may_resolve


def queue_order(card: CaseCard) -> tuple[int, datetime, int]:
    """Highest level first, then oldest first."""
    return (-card.level.rank, card.case.opened_at, card.case.id or 0)


def arrival_order(card: CaseCard) -> tuple[datetime, int]:
    """Oldest first, whatever the level (Telegram's /open)."""
    return (card.case.opened_at, card.case.id or 0)


async def open_case_cards(session: AsyncSession, *, clinic: ClinicConfig) -> list[CaseCard]:
    """Every unresolved case of the clinic, highest level and oldest first."""
    cases = await unresolved_for_clinic(session, clinic_id=clinic.id)
    return sorted(await _cards(session, clinic, cases), key=queue_order)


async def case_card(
    session: AsyncSession, *, clinic: ClinicConfig, case_id: int
) -> CaseCard | None:
    """One case of this clinic (resolved ones too); None if it is not this clinic's."""
    case = await case_in_clinic(session, clinic_id=clinic.id, case_id=case_id)
    if case is None:
        return None
    return (await _cards(session, clinic, [case]))[0]


async def _cards(session: AsyncSession, clinic: ClinicConfig, cases: list[Case]) -> list[CaseCard]:
    if not cases:
        return []
    patients = await patients_by_ids(session, ids=[c.patient_id for c in cases])
    pages = await pages_of_cases(session, case_ids=[c.id for c in cases if c.id is not None])
    people = await clinicians_by_ids(
        session,
        ids=sorted(
            {p.clinician_id for p in pages}
            | {i for c in cases for i in (c.acknowledged_by, c.resolved_by) if i is not None}
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
                        names.get(p.clinician_id, f"clinician {p.clinician_id}"),
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

"""The clinic's cases as the console, Telegram's /open and the digest show them: each with its
patient, why, its pages, who took it, and the next rung of its ladder. Read-only; a handful of
queries however many cases."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from bot.clinic_config import ClinicConfig
from bot.domain.escalation import Step
from bot.domain.levels import Level
from bot.i18n import C_
from bot.services.cases import ladder
from bot.services.reaching.outreach import METHODS, OUTCOMES
from storage.states import CaseStatus, OutreachOutcome, PageStatus
from storage.views.queue import (
    CardRows,
    CaseRow,
    CheckinRow,
    InfusionRow,
    OutreachRow,
    PatientRow,
    card_rows,
    unresolved_card_rows,
)


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
class CardFacts:
    """The check-in behind a case as its card shows it: its answers in the order given."""

    checkin: CheckinRow
    given: tuple[tuple[str, str], ...]  # (item, value); a later answer to an item replaces it
    infusion: InfusionRow | None

    @property
    def answers(self) -> dict[str, str]:
        return dict(self.given)


@dataclass(frozen=True)
class CaseCard:
    """Plain records all the way down (frozen, hashable): the console keeps a drawn card
    under the card itself (bot/console/lists/case_cards), so its hash is worked out once."""

    case: CaseRow
    patient: PatientRow
    facts: CardFacts | None
    pages: tuple[PageLine, ...]
    acknowledged_by: str | None
    resolved_by: str | None
    next_rung: NextRung | None
    outreach: tuple[OutreachLine, ...] = ()
    # what the outreach clock waits for once its target has passed ("a first contact
    # attempt", "the patient reached"), None while in time; read at `now` of the cards
    outreach_overdue: str | None = None

    def __hash__(self) -> int:
        known: int | None = self.__dict__.get("_hash")
        if known is None:  # every field, as the generated one would (equal cards: equal hashes)
            known = hash(
                (
                    self.case,
                    self.patient,
                    self.facts,
                    self.pages,
                    self.acknowledged_by,
                    self.resolved_by,
                    self.next_rung,
                    self.outreach,
                    self.outreach_overdue,
                )
            )
            object.__setattr__(self, "_hash", known)  # not a field: not compared, not replaced
        return known

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
    rows = await unresolved_card_rows(session, clinic_id=clinic.id)
    return sorted(_cards(clinic, rows, now), key=queue_order)


async def case_card(
    session: AsyncSession, *, clinic: ClinicConfig, case_id: int, now: datetime | None = None
) -> CaseCard | None:
    """One case of this clinic (resolved ones too); None if it is not this clinic's."""
    cards = _cards(clinic, await card_rows(session, clinic_id=clinic.id, case_id=case_id), now)
    return cards[0] if cards else None


def outreach_overdue(case: CaseRow, attempted: bool, now: datetime | None) -> str | None:
    """What the case's outreach clock waits for, once its target has passed."""
    due = case.outreach_due_at
    if now is None or due is None or due > now or case.status == CaseStatus.RESOLVED:
        return None
    if Level(case.level) is Level.HIGH and not attempted:
        return C_("a first contact attempt")
    return C_("the patient reached")


def _cards(clinic: ClinicConfig, rows: CardRows, now: datetime | None) -> list[CaseCard]:
    ladders = {level: ladder(clinic, level) for level in {r.case.level for r in rows.cards}}
    cards = []
    for row in rows.cards:
        case, checkin = row.case, row.checkin
        facts = None
        if checkin is not None:
            facts = CardFacts(checkin, rows.answers.get(checkin.id, ()), row.infusion)
        attempts = rows.outreach.get(case.id, [])
        cards.append(
            CaseCard(
                case=case,
                patient=row.patient,
                facts=facts,
                pages=tuple(
                    PageLine(
                        p.clinician
                        if p.clinician is not None
                        else C_("clinician {id}").format(id=p.clinician_id),
                        p.sent_at,
                        p.step,
                        p.status == PageStatus.SENT,
                        p.error,
                    )
                    for p in rows.pages.get(case.id, [])
                ),
                acknowledged_by=row.acknowledged_by,
                resolved_by=row.resolved_by,
                next_rung=_next_rung(case, ladders[case.level]),
                outreach=tuple(_outreach_line(a) for a in attempts),
                outreach_overdue=outreach_overdue(case, bool(attempts), now),
            )
        )
    return cards


def _outreach_line(attempt: OutreachRow) -> OutreachLine:
    return OutreachLine(
        C_(METHODS[attempt.method]),
        C_(OUTCOMES[attempt.outcome]),
        attempt.at,
        attempt.recorded_at,
        attempt.clinician if attempt.clinician_id and attempt.clinician is not None else "—",
        attempt.note,
        attempt.outcome == OutreachOutcome.REACHED,
    )


def next_rung(case: CaseRow, clinic: ClinicConfig) -> NextRung | None:
    """The rung that fires at `next_step_at` (the pager pages `steps[step]`, the last one
    repeating), or None once the case is taken or nothing is planned."""
    return _next_rung(case, ladder(clinic, Level(case.level)))


def _next_rung(case: CaseRow, steps: list[Step]) -> NextRung | None:
    if case.status != CaseStatus.OPEN or case.next_step_at is None:
        return None
    if not steps:
        return None
    return NextRung(case.next_step_at, steps[min(case.step, len(steps) - 1)].notify)

"""What pages and the patient's closing message say about a case's check-in: its facts (the
answers and infusion behind a case) and how a finished check-in ended (paged, queued, routine).
Read-only; a case's states change in `bot/services/cases.py`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy.ext.asyncio import AsyncSession

from bot.clinic_config import ClinicConfig
from bot.domain.levels import Level
from bot.services.oncall import who_is_on_call
from storage.cases import current_for_patient, get_case, pages_of
from storage.checkins import answers_of, get_checkin
from storage.infusions import get_infusion
from storage.models import Case, Checkin, Clinician, Infusion, Page, Patient
from storage.patients import get_patient
from storage.states import CaseStatus, PageStatus
from storage.views.reports import clinicians_by_ids


class Ending(StrEnum):
    """What a finished check-in led to, as the patient is told (CLINICAL.md §8)."""

    ROUTINE = "routine"  # nothing of concern
    QUEUED = "queued"  # a low finding: the care team's queue
    PAGED = "paged"  # a page reached someone on call
    NOT_REACHED = "not_reached"  # concerning, but no page reached anyone on call


async def checkin_ending(
    session: AsyncSession, *, checkin: Checkin, clinic: ClinicConfig, now: datetime
) -> Ending:
    """Paged, queued or routine, from this check-in's own level and its case's current ladder.

    Only pages of the ladder now running count (the ladder restarts when this check-in opened,
    raised or re-opened the case), so an old page of the same case is never taken for a new one.
    """
    level = Level(checkin.risk_level)
    if level is Level.NONE:
        return Ending.ROUTINE
    if level.rank < Level.MODERATE.rank:
        return Ending.QUEUED
    case = await current_for_patient(session, patient_id=checkin.patient_id)
    if case is None or case.id is None:
        return Ending.NOT_REACHED  # concerning, and no case left open: never say "paged"
    delivered = any(
        p.status == PageStatus.SENT and p.sent_at >= case.ladder_started_at
        for p in await pages_of(session, case_id=case.id)
    )
    on_call = await who_is_on_call(session, clinic=clinic, at=now)
    if delivered and (on_call.primary is not None or on_call.backup is not None):
        return Ending.PAGED
    return Ending.NOT_REACHED


@dataclass(frozen=True)
class CheckinFacts:
    """The check-in behind a case, as a page shows it."""

    checkin: Checkin
    answers: dict[str, str]
    infusion: Infusion | None


async def checkin_facts(session: AsyncSession, *, checkin_id: int | None) -> CheckinFacts | None:
    """The case's check-in with its answers and infusion, if it has one."""
    checkin = None if checkin_id is None else await get_checkin(session, checkin_id=checkin_id)
    if checkin is None or checkin.id is None:
        return None
    infusion = None
    if checkin.infusion_id is not None:
        infusion = await get_infusion(session, infusion_id=checkin.infusion_id)
    return CheckinFacts(checkin, await answers_of(session, checkin_id=checkin.id), infusion)


@dataclass(frozen=True)
class CaseNews:
    """What every page of a case needs to say what became of it, read at one moment."""

    case: Case
    patient: Patient
    pages: list[Page]  # every page of the case, oldest first
    people: dict[int, Clinician]  # the clinicians paged, and who took or closed it
    checkin: CheckinFacts | None

    @property
    def to_edit(self) -> list[Page]:
        """Delivered pages that can be edited; of a case open again (raised, re-opened), only
        the pages of its earlier ladders (the newest page is the one to act on)."""
        reopened = self.case.status == CaseStatus.OPEN
        return [
            p
            for p in self.pages
            if p.status == PageStatus.SENT
            and p.message_id is not None
            and (not reopened or p.sent_at < self.case.ladder_started_at)
        ]

    def others(self, taker_id: int | None) -> list[Clinician]:
        """Everyone paged for the case but the one who took it."""
        ids = sorted({p.clinician_id for p in self.pages if p.clinician_id != taker_id})
        return [self.people[i] for i in ids if i in self.people]


async def case_news(session: AsyncSession, *, case_id: int) -> CaseNews | None:
    """The case, its patient, pages and people, for telling what became of it."""
    case = await get_case(session, case_id=case_id)
    if case is None:
        return None
    patient = await get_patient(session, patient_id=case.patient_id)
    assert patient is not None
    pages = await pages_of(session, case_id=case_id)
    ids = {p.clinician_id for p in pages} | {
        i for i in (case.acknowledged_by, case.resolved_by) if i is not None
    }
    people = await clinicians_by_ids(session, ids=sorted(ids))
    facts = await checkin_facts(session, checkin_id=case.checkin_id)
    return CaseNews(case, patient, pages, {c.id: c for c in people if c.id is not None}, facts)

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
from storage.cases import current_for_patient, pages_of
from storage.checkins import answers_of, get_checkin
from storage.infusions import get_infusion
from storage.models import Checkin, Infusion
from storage.states import PageStatus


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

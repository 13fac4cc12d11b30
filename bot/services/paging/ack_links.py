"""Acknowledge links in e-mailed pages: single-use, bound to one clinician and one case, good
while the case is open. Opening one shows a confirmation (a mail scanner following links must
not acknowledge); confirming spends the link and takes the case through `take_case`, as a
Telegram button or the console does. Only the token's SHA-256 is stored."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy.ext.asyncio import AsyncSession

from bot.services.case_taking import (
    CaseAction,
    Taken,
    TakeOutcome,
    Taker,
    TakeRequest,
    raised_since,
)
from storage import audit
from storage.cases import get_case
from storage.console import ack_link_by_hash, add_ack_link, spend_ack_link
from storage.invites import clinician_of_clinic
from storage.models import AckLink, Case, Clinician
from storage.states import CaseStatus, clinician_actor

TOKEN_BYTES = 24
MAX_TOKEN = 64


class AckProblem(StrEnum):
    UNKNOWN = "unknown"  # forged, mistyped, or cut short
    USED = "used"  # this link already acknowledged (or tried to)
    TAKEN = "taken"  # the case was acknowledged by someone (maybe through another channel)
    CLOSED = "closed"  # the case is resolved
    RAISED = "raised"  # the case rose (or was re-opened) since the confirmation page was shown
    NOT_ACTIVE = "not_active"  # the clinician was deactivated


@dataclass(frozen=True)
class AckView:
    """What the confirmation page shows, or why there is nothing to confirm."""

    case: Case | None
    clinician: Clinician | None
    problem: AckProblem | None
    taken_by: Clinician | None = None
    earlier: bool = False  # the link came with an earlier page: the case was raised or
    # re-opened since it was sent (the confirmation page shows the case as it is now)

    @property
    def ladder(self) -> str:
        """Which escalation of the case the page shows (its ladder's start), for the form."""
        return self.case.ladder_started_at.isoformat() if self.case is not None else ""


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def issue_ack_link(
    session: AsyncSession, *, case_id: int, clinician_id: int, now: datetime
) -> str:
    """A fresh link token for this clinician and case (shown once, in the e-mail)."""
    token = secrets.token_urlsafe(TOKEN_BYTES)
    await add_ack_link(
        session,
        link=AckLink(
            token_hash=token_hash(token),
            case_id=case_id,
            clinician_id=clinician_id,
            created_at=now,
        ),
    )
    return token


async def _lookup(session: AsyncSession, token: str) -> tuple[AckLink | None, AckView]:
    link = (
        await ack_link_by_hash(session, token_hash=token_hash(token))
        if 0 < len(token) <= MAX_TOKEN
        else None
    )
    if link is None:
        return None, AckView(None, None, AckProblem.UNKNOWN)
    case = await get_case(session, case_id=link.case_id)
    assert case is not None
    clinician = await clinician_of_clinic(
        session, clinic_id=case.clinic_id, clinician_id=link.clinician_id
    )
    assert clinician is not None
    taken_by = (
        await clinician_of_clinic(
            session, clinic_id=case.clinic_id, clinician_id=case.acknowledged_by
        )
        if case.acknowledged_by is not None
        else None
    )
    problem = None
    if not clinician.active:
        problem = AckProblem.NOT_ACTIVE
    elif case.status == CaseStatus.RESOLVED:
        problem = AckProblem.CLOSED
    elif case.status == CaseStatus.ACKNOWLEDGED:
        problem = AckProblem.TAKEN
    elif link.used_at is not None:
        problem = AckProblem.USED
    earlier = link.created_at < case.ladder_started_at
    return link, AckView(case, clinician, problem, taken_by, earlier=earlier)


async def check_ack_link(session: AsyncSession, *, token: str) -> AckView:
    """For the confirmation page: the case and clinician, or the problem. Changes nothing."""
    _, view = await _lookup(session, token)
    return view


async def admit_ack_link(
    session: AsyncSession,
    *,
    token: str,
    seen_level: str,
    seen_ladder: str,
    seen_when: str,
    now: datetime,
) -> TakeRequest | AckView:
    """Spend the link: the request to acknowledge the case as its clinician (audited with what
    came of it), or the view saying why not. `seen_level` and `seen_ladder` are what the
    confirmation page showed: a case raised or re-opened since is not acknowledged on it."""
    link, view = await _lookup(session, token)
    if link is None or view.problem is not None:
        return view
    assert link.id is not None and view.case is not None and view.clinician is not None
    changed = seen_ladder != view.ladder
    if changed or raised_since(view.case, seen_level, seen_when) is not None:
        return AckView(view.case, view.clinician, AckProblem.RAISED, earlier=view.earlier)
    if not await spend_ack_link(session, link_id=link.id, now=now):
        return AckView(view.case, view.clinician, AckProblem.USED)
    clinician = view.clinician

    async def used(session: AsyncSession, taken: Taken) -> None:
        if taken.case is None:
            return
        done = taken.outcome is TakeOutcome.DONE
        await audit.append(
            session,
            at=(taken.case.acknowledged_at if done else None) or now,  # the take's own time
            actor=clinician_actor(clinician.id),
            event="ack_link.used",
            clinic_id=taken.case.clinic_id,
            patient_id=taken.case.patient_id,
            case_id=taken.case.id,
            detail={"channel": "email", "acknowledged": done},
        )

    return TakeRequest(link.case_id, CaseAction.ACKNOWLEDGE, Taker.clinician(clinician), then=used)


def answer_of(taken: Taken) -> AckView:
    """The acknowledge page's view of what taking the case did."""
    if taken.outcome is TakeOutcome.DONE:
        return AckView(taken.case, taken.by, None)
    if taken.outcome is TakeOutcome.ALREADY:
        return AckView(taken.case, taken.by, AckProblem.TAKEN)
    return AckView(taken.case, taken.by, AckProblem.UNKNOWN)

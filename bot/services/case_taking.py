"""Taking a case: the one acknowledge and resolve, whoever takes it and wherever (no Telegram).

Telegram's buttons and commands, the console, an e-mailed acknowledge link and a paging
service's webhook all take a case through `take`, in their own transaction; what the others
are told afterwards is `bot/messaging/taking.py`'s.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy.ext.asyncio import AsyncSession

from bot.clinic_config import ClinicConfig
from bot.domain.levels import Level
from bot.i18n import C_, NC_
from bot.services.paging.outbox import enqueue_followups
from bot.services.reaching import caring
from bot.services.reaching.outreach import ENDS_CLOCK, on_acknowledge, on_resolve
from storage import audit
from storage.cases import get_case
from storage.models import Case, Clinician
from storage.outreach import outreach_of_cases
from storage.states import SERVICE, CaseStatus, clinician_actor

# Resolving a high or moderate case needs the patient reached, or the reason (CLINICAL.md §10).
UNREACHED = NC_(
    "Record that the patient was reached, or give the reason, before resolving case #{id}."
)
ALREADY = {
    CaseStatus.OPEN: NC_("Case #{id} is already open."),
    CaseStatus.ACKNOWLEDGED: NC_("Case #{id} is already acknowledged."),
    CaseStatus.RESOLVED: NC_("Case #{id} is already resolved."),
}
NOT_REACHED_MARK = "Not reached — reason: "  # how the reason is kept in the resolution note
NO_OUTREACH_MARK = "Resolved without outreach recorded."  # a paging service's resolve


def raised_since(case: Case, seen_level: str, seen_when: str) -> str | None:
    """Why an acknowledgement must wait: the open case was raised after the clinician saw it
    at `seen_level` (a page's button, a console page); None when what they saw still holds."""
    if case.status != CaseStatus.OPEN or case.level == seen_level:
        return None
    return C_(
        "Case #{id} was raised to {level} after {seen_when}. "
        "Please read the newest page before acknowledging."
    ).format(id=case.id, level=case.level.upper(), seen_when=seen_when)


class CaseAction(StrEnum):
    """What a clinician (or a paging service) does to take a case."""

    ACKNOWLEDGE = "acknowledge"  # re-paging stops
    RESOLVE = "resolve"  # closed, with a note

    @property
    def done(self) -> str:
        return "acknowledged" if self is CaseAction.ACKNOWLEDGE else "resolved"


class TakeOutcome(StrEnum):
    DONE = "done"  # this call acknowledged or resolved the case
    ALREADY = "already"  # it already was (by someone, on any channel)
    RAISED = "raised"  # raised since the taker saw it: read the newest page first
    NOT_FOUND = "not_found"  # no such case in the taker's clinic
    REFUSED = "refused"  # the request itself cannot be carried out (a resolution without a note)
    UNREACHED = "unreached"  # high or moderate: no "reached" outcome recorded and no reason given


@dataclass(frozen=True)
class Taker:
    """Who takes a case: one of our clinicians (one registration per clinic they work for), or a
    paging service reporting that someone took its incident (`via`, e.g. "pagerduty"), with
    the clinician it could be matched to, if any."""

    registrations: tuple[Clinician, ...] = ()
    via: str = ""
    name: str = ""  # who acted, as the others are told

    @classmethod
    def clinician(cls, *registrations: Clinician) -> Taker:
        return cls(registrations, name=registrations[0].name if registrations else "")

    @classmethod
    def service(cls, via: str, *, clinician: Clinician | None, name: str) -> Taker:
        return cls((clinician,) if clinician else (), via=via, name=name)

    def in_clinic(self, clinic_id: str) -> Clinician | None:
        """The registration that acts in this clinic (a service's match is in the case's)."""
        found = [c for c in self.registrations if c.clinic_id == clinic_id]
        return found[0] if found else None


@dataclass(frozen=True)
class Taken:
    """What `take` did, and what the front end says about it."""

    outcome: TakeOutcome
    action: CaseAction
    case: Case | None
    by: Clinician | None = None  # the clinician who took it (their registration in its clinic)
    message: str = ""  # why not, for anything but DONE: one line, safe to show the taker


@dataclass(frozen=True)
class TakeRequest:
    """Who takes which case, how, and what they saw when they decided."""

    case_id: int
    action: CaseAction
    by: Taker
    note: str = ""
    seen_level: str | None = None  # the level the taker saw (a page's button, a console page)
    seen_when: str = ""  # "this page was sent", for the refusal when it was raised since
    not_reached: str = ""  # resolving: why the patient was not reached (CLINICAL.md §10)
    # in the same transaction, after the take (e.g. the e-mailed link's own audit row)
    then: Callable[[AsyncSession, Taken], Awaitable[None]] | None = None


async def check_take(
    session: AsyncSession,
    *,
    case_id: int,
    by: Taker,
    action: CaseAction,
    seen_level: str | None = None,
    seen_when: str = "",
    lock: bool = False,
) -> Taken | tuple[Case, Clinician | None]:
    """Why `take` would refuse (a `Taken`), or the case and the taker's registration in its
    clinic when it may go ahead. Changes nothing (a Telegram Resolve button asks before it
    prompts for the note)."""
    case = await get_case(session, case_id=case_id, lock=lock)
    clinician = by.in_clinic(case.clinic_id) if case is not None else None
    if case is None or (clinician is None and not by.via):
        message = C_("No case #{id} in your clinic.").format(id=case_id)
        return Taken(TakeOutcome.NOT_FOUND, action, None, message=message)
    if seen_level is not None and (why := raised_since(case, seen_level, seen_when)):
        return Taken(TakeOutcome.RAISED, action, case, clinician, why)
    status = CaseStatus(case.status)
    if not (status.may_acknowledge if action is CaseAction.ACKNOWLEDGE else status.may_resolve):
        message = C_(ALREADY[status]).format(id=case.id)
        return Taken(TakeOutcome.ALREADY, action, case, clinician, message)
    return case, clinician


async def take(
    session: AsyncSession,
    *,
    case_id: int,
    by: Taker,
    action: CaseAction,
    now: datetime,
    note: str = "",
    seen_level: str | None = None,
    seen_when: str = "",
    not_reached: str = "",
    clinic_of: Callable[[str], ClinicConfig] | None = None,
) -> Taken:
    """Acknowledge or resolve a case: the one way every front end takes one (Telegram, the
    console, an e-mailed link, a paging service). Checks the case is the taker's clinic's,
    that it was not raised since they saw it at `seen_level`, and its state (`check_take`);
    audits it and queues the paging services' follow-ups, all in the caller's transaction.

    A clinician resolving a high or moderate case needs a recorded outcome that reached the
    patient (or handed over to emergency services) or `not_reached`, the reason (UNREACHED
    otherwise). A paging service's resolve cannot be asked for one: it is carried out, and
    the note and the audit say no outreach was recorded. `clinic_of` gives the outreach
    targets an acknowledgement after a passed target needs (`outreach.on_acknowledge`)."""
    if action is CaseAction.RESOLVE and not note.strip():
        message = C_("A resolution needs a note: /resolve CASE what was done.")
        return Taken(TakeOutcome.REFUSED, action, None, message=message)
    checked = await check_take(
        session,
        case_id=case_id,
        by=by,
        action=action,
        seen_level=seen_level,
        seen_when=seen_when,
        lock=True,
    )
    if isinstance(checked, Taken):
        return checked
    case, clinician = checked
    if action is CaseAction.ACKNOWLEDGE:
        await _acknowledge(session, case, by=clinician, via=by.via, now=now)
        if clinic_of is not None:
            on_acknowledge(case, clinic=clinic_of(case.clinic_id), now=now)
    else:
        outreach = await outreach_on_resolve(session, case, via=by.via, reason=not_reached)
        if outreach == "missing":
            message = C_(UNREACHED).format(id=case.id)
            return Taken(TakeOutcome.UNREACHED, action, case, clinician, message)
        note = note.strip()
        if outreach == "reason":
            note = f"{note}\n{NOT_REACHED_MARK}{not_reached.strip()}"
        elif outreach == "none_recorded":
            note = f"{note}\n{NO_OUTREACH_MARK}"
        await _resolve(
            session, case, by=clinician, via=by.via, note=note, now=now, outreach=outreach
        )
        if clinic_of is not None:  # a moderate or high case resolved starts caring contacts
            actor = clinician_actor(clinician.id) if clinician else SERVICE
            clinic = clinic_of(case.clinic_id)
            await caring.on_case_resolved(session, case=case, clinic=clinic, now=now, actor=actor)
    await enqueue_followups(session, case=case, action=action.value, now=now)  # other channels
    return Taken(TakeOutcome.DONE, action, case, clinician)


RESOLVE_SKEW = timedelta(minutes=2)  # an attempt typed "now" on a clock slightly behind


async def outreach_on_resolve(session: AsyncSession, case: Case, *, via: str, reason: str) -> str:
    """What lets the case be resolved: "not_needed" (low), "reached" (an outcome that reached
    the patient or handed over), "reason" (stated), "none_recorded" (a paging service's resolve),
    or "missing" (refused)."""
    if Level(case.level).rank < Level.MODERATE.rank:
        return "not_needed"
    assert case.id is not None
    attempts = (await outreach_of_cases(session, case_ids=[case.id]))[case.id]
    # Only a reach since the case's latest concern counts: a case raised or re-opened after
    # the patient was reached needs them reached again (the outreach clock started again too).
    since = case.ladder_started_at - RESOLVE_SKEW
    if any(a.outcome in ENDS_CLOCK and a.at >= since for a in attempts):
        return "reached"
    if reason.strip():
        return "reason"
    return "none_recorded" if via else "missing"


async def _acknowledge(
    session: AsyncSession, case: Case, *, by: Clinician | None, via: str, now: datetime
) -> None:
    case.status, case.acknowledged_at = CaseStatus.ACKNOWLEDGED, now
    case.acknowledged_by, case.next_step_at = (by.id if by else None), None
    after = int((now - case.ladder_started_at).total_seconds())
    await audit.append(
        session,
        at=now,
        actor=clinician_actor(by.id) if by else SERVICE,
        event="escalation.acknowledged",
        clinic_id=case.clinic_id,
        patient_id=case.patient_id,
        case_id=case.id,
        detail={"level": case.level, "after_seconds": after, **({"via": via} if via else {})},
    )


async def _resolve(
    session: AsyncSession,
    case: Case,
    *,
    by: Clinician | None,
    via: str,
    note: str,
    now: datetime,
    outreach: str,
) -> None:
    """Closed with its note; an unacknowledged case is acknowledged too."""
    who = by.id if by else None
    if case.acknowledged_at is None:
        case.acknowledged_at, case.acknowledged_by = now, who
    case.status, case.resolved_at, case.resolved_by = CaseStatus.RESOLVED, now, who
    case.resolution_note, case.next_step_at = note, None
    on_resolve(case)
    await audit.append(
        session,
        at=now,
        actor=clinician_actor(who) if who is not None else SERVICE,
        event="escalation.resolved",
        clinic_id=case.clinic_id,
        patient_id=case.patient_id,
        case_id=case.id,
        detail={
            "level": case.level,
            "note_length": len(note),
            "outreach": outreach,
            **({"via": via} if via else {}),
        },
    )

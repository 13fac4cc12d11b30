"""Every query on escalations, their pages and their message threads (`case_message`)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

from sqlalchemy import and_, exists, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased
from sqlmodel import col

from storage import audit
from storage.leases import NOW, ONLY_ID, ClaimQuery, claim, is_postgres, release_all
from storage.models import Case, CaseMessage, Clinician, Page, PageEvent, Patient
from storage.states import (
    CaseStatus,
    MessageDirection,
    MessageStatus,
    PageEventAction,
    PageEventStatus,
    PageStatus,
)

UNRESOLVED = (CaseStatus.OPEN, CaseStatus.ACKNOWLEDGED)

_STEP_DUE = and_(col(Case.status) == CaseStatus.OPEN, col(Case.next_step_at) <= NOW)
# The lease owner of a case a patient's answer or message has just raised: the instance that
# handled it pages it at once, beside the crisis card, and tells the patient only after the card;
# ticks leave the case alone until the reservation runs out, and only that instance's claim of
# the one case takes it over.
FAST_PATH = "fast-path"

_DUE_CASES = ClaimQuery(Case, _STEP_DUE, col(Case.next_step_at))
_ONE_CASE = ClaimQuery(
    Case,
    and_(_STEP_DUE, col(Case.id) == ONLY_ID),
    col(Case.next_step_at),
    takes_over=FAST_PATH,
    skip_locked=False,  # a patient's next message may hold the row for a moment: wait for it
)


def reserve_for_fast_path(case: Case, *, now: datetime, until: datetime) -> None:
    """Keep dispatcher ticks off `case` until `until`, unless another claim holds it now (its
    step then runs first, as before)."""
    held = case.lease_until is not None and case.lease_until >= now
    if not held or case.lease_owner == FAST_PATH:
        case.lease_owner, case.lease_until = FAST_PATH, until


async def end_fast_path_reservation(session: AsyncSession, *, case_id: int) -> None:
    """The fast path failed before its claim: any tick may page the case now."""
    await session.execute(
        update(Case)
        .where(col(Case.id) == case_id, col(Case.lease_owner) == FAST_PATH)
        .values(lease_owner=None, lease_until=None)
    )


async def current_for_patient(session: AsyncSession, *, patient_id: int) -> Case | None:
    """The patient's unresolved escalation (one per episode), row-locked on PostgreSQL."""
    query = (
        select(Case)
        .where(col(Case.patient_id) == patient_id, col(Case.status).in_(UNRESOLVED))
        .order_by(col(Case.id).desc())
        .limit(1)
    )
    if is_postgres(session):
        query = query.with_for_update()
    return (await session.scalars(query)).first()


async def has_unresolved_case(session: AsyncSession, *, patient_id: int) -> bool:
    """Whether the patient has an unresolved escalation (no lock: a read for what to say)."""
    query = select(col(Case.id)).where(
        col(Case.patient_id) == patient_id, col(Case.status).in_(UNRESOLVED)
    )
    return (await session.scalars(query.limit(1))).first() is not None


async def add_case(session: AsyncSession, *, case: Case) -> Case:
    session.add(case)
    await session.flush()
    return case


async def get_case(session: AsyncSession, *, case_id: int, lock: bool = False) -> Case | None:
    query = select(Case).where(col(Case.id) == case_id)
    if lock and is_postgres(session):
        await audit.hold_chain(session)  # the chain before the row: one lock order for all
        query = query.with_for_update()
    return (await session.scalars(query.execution_options(populate_existing=True))).first()


async def claim_due_cases(
    session: AsyncSession,
    *,
    now: datetime,
    owner: str,
    lease_until: datetime,
    limit: int,
    only_id: int | None = None,
) -> list[Case]:
    """Open escalations whose next ladder step is due, under a lease; `only_id` (the fast path)
    also takes its case over from a fast-path reservation."""
    return await claim(
        session,
        _DUE_CASES if only_id is None else _ONE_CASE,
        now=now,
        owner=owner,
        lease_until=lease_until,
        limit=limit,
        only_id=only_id,
    )


async def add_page(session: AsyncSession, *, page: Page) -> Page:
    session.add(page)
    await session.flush()
    return page


async def pages_of(session: AsyncSession, *, case_id: int) -> list[Page]:
    return await pages_of_cases(session, case_ids=[case_id])


async def pages_of_cases(session: AsyncSession, *, case_ids: list[int]) -> list[Page]:
    rows = await session.scalars(
        select(Page).where(col(Page.case_id).in_(case_ids)).order_by(col(Page.id))
    )
    return list(rows.all())


async def unresolved_for_clinic(session: AsyncSession, *, clinic_id: str) -> list[Case]:
    """Open and acknowledged escalations of a clinic, oldest first."""
    rows = await session.scalars(
        select(Case)
        .where(col(Case.clinic_id) == clinic_id, col(Case.status).in_(UNRESOLVED))
        .order_by(col(Case.opened_at))
    )
    return list(rows.all())


async def release_case_leases(session: AsyncSession, *, owner: str) -> int:
    """Hand back every escalation claim this instance holds (clean shutdown)."""
    return await release_all(session, Case, owner=owner)


async def any_page_sent(session: AsyncSession, *, case_id: int, step: int) -> bool:
    """Whether any page of that rung reached its clinician."""
    found = await session.scalar(
        select(col(Page.id))
        .where(
            col(Page.case_id) == case_id,
            col(Page.step) == step,
            col(Page.status) == PageStatus.SENT,
        )
        .limit(1)
    )
    return found is not None


# Page events (the outbox of events for paging services and the clinic's webhook).

_EARLIER = aliased(PageEvent)
# An event waits while an earlier one of its target (case, channel, url, routing key) is still
# pending: a paging service must see the trigger before its acknowledge or resolve.
_TARGET_BUSY = exists().where(
    col(_EARLIER.case_id) == col(PageEvent.case_id),
    col(_EARLIER.channel) == col(PageEvent.channel),
    col(_EARLIER.url) == col(PageEvent.url),
    func.coalesce(col(_EARLIER.routing_key), "") == func.coalesce(col(PageEvent.routing_key), ""),
    col(_EARLIER.status) == PageEventStatus.PENDING,
    col(_EARLIER.id) < col(PageEvent.id),
)
_EVENT_DUE = and_(
    col(PageEvent.status) == PageEventStatus.PENDING,
    col(PageEvent.next_attempt_at) <= NOW,
    ~_TARGET_BUSY,
)
_DUE_EVENTS = ClaimQuery(PageEvent, _EVENT_DUE, col(PageEvent.id))
_ONE_EVENT = ClaimQuery(
    PageEvent, and_(_EVENT_DUE, col(PageEvent.id) == ONLY_ID), col(PageEvent.id)
)


async def add_page_event(session: AsyncSession, *, event: PageEvent) -> PageEvent:
    session.add(event)
    await session.flush()
    return event


async def get_page_event(session: AsyncSession, *, event_id: int) -> PageEvent | None:
    query = select(PageEvent).where(col(PageEvent.id) == event_id)
    return (await session.scalars(query.execution_options(populate_existing=True))).first()


async def page_events_of(session: AsyncSession, *, case_id: int) -> list[PageEvent]:
    """Every event of a case, oldest first."""
    rows = await session.scalars(
        select(PageEvent).where(col(PageEvent.case_id) == case_id).order_by(col(PageEvent.id))
    )
    return list(rows.all())


async def page_triggered_since(
    session: AsyncSession,
    *,
    case_id: int,
    channel: str,
    url: str,
    routing_key: str | None,
    since: datetime,
) -> bool:
    """Whether a trigger to that target, not failed for good, was queued at or after `since`."""
    found = await session.scalar(
        select(col(PageEvent.id))
        .where(
            col(PageEvent.case_id) == case_id,
            col(PageEvent.channel) == channel,
            col(PageEvent.url) == url,
            func.coalesce(col(PageEvent.routing_key), "") == (routing_key or ""),
            col(PageEvent.action) == PageEventAction.TRIGGER,
            col(PageEvent.status) != PageEventStatus.FAILED,
            col(PageEvent.created_at) >= since,
        )
        .limit(1)
    )
    return found is not None


async def claim_due_page_events(
    session: AsyncSession,
    *,
    now: datetime,
    owner: str,
    lease_until: datetime,
    limit: int,
    only_id: int | None = None,
) -> list[PageEvent]:
    """Pending events due to be sent, oldest first, under a lease (`FOR UPDATE SKIP LOCKED` on
    PostgreSQL); none whose target has an earlier event still pending."""
    return await claim(
        session,
        _DUE_EVENTS if only_id is None else _ONE_EVENT,
        now=now,
        owner=owner,
        lease_until=lease_until,
        limit=limit,
        only_id=only_id,
    )


# A case's message thread

MESSAGE_EXPORT_COLUMNS = (
    "message_id",
    "case_id",
    "patient_ref",
    "at",
    "direction",
    "clinician_id",
    "status",
)
MESSAGE_EXPORT_FREE_TEXT = ("text", "error")


async def add_message(session: AsyncSession, *, message: CaseMessage) -> CaseMessage:
    session.add(message)
    await session.flush()
    return message


async def thread_of(session: AsyncSession, *, case_id: int) -> list[CaseMessage]:
    """A case's messages, oldest first."""
    query = (
        select(CaseMessage)
        .where(col(CaseMessage.case_id) == case_id)
        .order_by(col(CaseMessage.at), col(CaseMessage.id))
    )
    return list((await session.scalars(query)).all())


async def writers_of(session: AsyncSession, *, case_id: int) -> list[Clinician]:
    """The active clinicians who wrote to the patient in this case, in the case's clinic."""
    query = (
        select(Clinician)
        .join(CaseMessage, col(CaseMessage.clinician_id) == col(Clinician.id))
        .where(
            col(CaseMessage.case_id) == case_id,
            col(CaseMessage.direction) == MessageDirection.TO_PATIENT,
            col(Clinician.clinic_id) == col(CaseMessage.clinic_id),
            col(Clinician.active).is_(True),
        )
        .distinct()
        .order_by(col(Clinician.id))
    )
    return list((await session.scalars(query)).all())


async def patient_was_messaged(session: AsyncSession, *, case_id: int) -> bool:
    """Whether a clinician's message of this case reached the patient's chat."""
    query = select(col(CaseMessage.id)).where(
        col(CaseMessage.case_id) == case_id,
        col(CaseMessage.direction) == MessageDirection.TO_PATIENT,
        col(CaseMessage.status) == MessageStatus.SENT,
    )
    return (await session.scalars(query.limit(1))).first() is not None


async def messages_to_patient(
    session: AsyncSession, *, patient_id: int, since: datetime | None
) -> list[tuple[CaseMessage, str | None]]:
    """The clinicians' messages to a patient in every case, with the writer's name, oldest
    first (the timeline; the patient's own words are already among their answers)."""
    query = (
        select(CaseMessage, col(Clinician.name))
        .outerjoin(Clinician, col(Clinician.id) == col(CaseMessage.clinician_id))
        .where(
            col(CaseMessage.patient_id) == patient_id,
            col(CaseMessage.direction) == MessageDirection.TO_PATIENT,
        )
        .order_by(col(CaseMessage.at), col(CaseMessage.id))
    )
    if since is not None:
        query = query.where(col(CaseMessage.at) >= since)
    return [(row[0], row[1]) for row in (await session.execute(query)).all()]


async def message_export_rows(
    session: AsyncSession,
    *,
    clinic_id: str,
    since: datetime | None,
    free_text: bool,
    patient_ref: str | None = None,
) -> AsyncIterator[tuple[Any, ...]]:
    """The clinic's thread messages on or after `since` (of the patient `patient_ref` only,
    if given): `MESSAGE_EXPORT_COLUMNS` (+ free text)."""
    columns: list[Any] = [
        col(CaseMessage.id),
        col(CaseMessage.case_id),
        col(Patient.ref),
        col(CaseMessage.at),
        col(CaseMessage.direction),
        col(CaseMessage.clinician_id),
        col(CaseMessage.status),
    ]
    if free_text:
        columns += [col(CaseMessage.text), col(CaseMessage.error)]
    query = (
        select(*columns)
        .join(Patient, col(Patient.id) == col(CaseMessage.patient_id))
        .where(col(CaseMessage.clinic_id) == clinic_id, col(Patient.clinic_id) == clinic_id)
        .order_by(col(CaseMessage.id))
    )
    if since is not None:
        query = query.where(col(CaseMessage.at) >= since)
    if patient_ref is not None:
        query = query.where(col(Patient.ref) == patient_ref)
    result = await session.stream(query.execution_options(yield_per=1_000))
    async for row in result:
        yield tuple(row)

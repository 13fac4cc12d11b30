"""Every query on check-ins and their answers, including the leased claims of the dispatcher."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import and_, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from storage import audit
from storage.leases import NOW, ClaimQuery, claim, is_postgres, release_all
from storage.models import Answer, Checkin
from storage.models.core import FREE_TEXT_ITEMS
from storage.states import CheckinKind, CheckinStatus

OPEN = (CheckinStatus.SENT, CheckinStatus.IN_PROGRESS)

_DUE = ClaimQuery(
    Checkin,
    and_(col(Checkin.status) == CheckinStatus.SCHEDULED, col(Checkin.due_at) <= NOW),
    col(Checkin.due_at),
)
_REMINDERS = ClaimQuery(
    Checkin,
    and_(
        col(Checkin.status).in_(OPEN),
        col(Checkin.reminder_due_at) <= NOW,
        col(Checkin.reminded_at).is_(None),
    ),
    col(Checkin.reminder_due_at),
)
_CLOSING = ClaimQuery(
    Checkin,
    and_(col(Checkin.status).in_(OPEN), col(Checkin.closes_at) <= NOW),
    col(Checkin.closes_at),
)


async def claim_due(
    session: AsyncSession, *, now: datetime, owner: str, lease_until: datetime, limit: int
) -> list[Checkin]:
    """Scheduled check-ins whose due time has come, oldest first."""
    return await claim(session, _DUE, now=now, owner=owner, lease_until=lease_until, limit=limit)


async def claim_reminders(
    session: AsyncSession, *, now: datetime, owner: str, lease_until: datetime, limit: int
) -> list[Checkin]:
    """Open check-ins whose one reminder is due and not yet sent."""
    return await claim(
        session, _REMINDERS, now=now, owner=owner, lease_until=lease_until, limit=limit
    )


async def claim_closing(
    session: AsyncSession, *, now: datetime, owner: str, lease_until: datetime, limit: int
) -> list[Checkin]:
    """Open check-ins whose answer window has closed."""
    return await claim(
        session, _CLOSING, now=now, owner=owner, lease_until=lease_until, limit=limit
    )


async def release(
    session: AsyncSession, *, checkin: Checkin, retry_at: datetime | None = None
) -> None:
    """Give a lease back; `retry_at` keeps others off the row until then (backoff)."""
    checkin.lease_owner = None
    checkin.lease_until = retry_at


async def get_for_update(session: AsyncSession, *, checkin_id: int) -> Checkin | None:
    """One check-in, row-locked on PostgreSQL (SQLite's BEGIN IMMEDIATE already serialises),
    after the audit chain's lock: one lock order for every writer (`audit.hold_chain`)."""
    query = select(Checkin).where(col(Checkin.id) == checkin_id)
    if is_postgres(session):
        await audit.hold_chain(session)
        query = query.with_for_update()
    return (await session.scalars(query.execution_options(populate_existing=True))).first()


async def awaits(session: AsyncSession, *, checkin_id: int, patient_id: int, item_id: str) -> bool:
    """Whether this patient's open check-in waits for this item's answer now (one row by key)."""
    found = await session.execute(
        select(col(Checkin.id)).where(
            col(Checkin.id) == checkin_id,
            col(Checkin.patient_id) == patient_id,
            col(Checkin.status).in_(OPEN),
            col(Checkin.current_item) == item_id,
        )
    )
    return found.first() is not None


async def answers_of(session: AsyncSession, *, checkin_id: int) -> dict[str, str]:
    rows = await session.execute(
        select(col(Answer.item_id), col(Answer.value)).where(col(Answer.checkin_id) == checkin_id)
    )
    return {item: value for item, value in rows.tuples()}


async def add_answer(session: AsyncSession, *, answer: Answer) -> Answer:
    session.add(answer)
    await session.flush()
    return answer


async def replace_answer(
    session: AsyncSession,
    *,
    checkin_id: int,
    item_id: str,
    value: str,
    answered_at: datetime,
    update_id: int | None,
) -> None:
    """Change a stored answer (a Yes replacing a No); the audit row keeps what it was. Never a
    free-text answer: its words are sealed as their row's (a note is kept, never replaced)."""
    if item_id in FREE_TEXT_ITEMS:
        raise ValueError(f"a {item_id} answer is never replaced")
    await session.execute(
        update(Answer)
        .where(col(Answer.checkin_id) == checkin_id, col(Answer.item_id) == item_id)
        .values(value=value, answered_at=answered_at, update_id=update_id)
    )


async def last_message_at(
    session: AsyncSession, *, patient_id: int, item_id: str
) -> datetime | None:
    """When the patient last sent a message of this kind outside a check-in, if ever."""
    return await session.scalar(
        select(func.max(col(Answer.answered_at))).where(
            col(Answer.patient_id) == patient_id,
            col(Answer.item_id) == item_id,
            col(Answer.checkin_id).is_(None),
        )
    )


async def previous_moods(
    session: AsyncSession, *, patient_id: int, before: datetime, limit: int
) -> list[int]:
    """Moods of the patient's earlier check-ins, newest first."""
    rows = await session.scalars(
        select(col(Answer.value))
        .where(
            col(Answer.patient_id) == patient_id,
            col(Answer.item_id) == "mood",
            col(Answer.checkin_id).is_not(None),
            col(Answer.answered_at) < before,
        )
        .order_by(col(Answer.answered_at).desc())
        .limit(limit)
    )
    return [int(v) for v in rows.all()]


async def open_checkins(session: AsyncSession, *, patient_id: int) -> list[Checkin]:
    """The patient's sent and unanswered or part-answered check-ins, newest first."""
    rows = await session.scalars(
        select(Checkin)
        .where(col(Checkin.patient_id) == patient_id, col(Checkin.status).in_(OPEN))
        .order_by(col(Checkin.sent_at).desc())
    )
    return list(rows.all())


async def add_checkins(session: AsyncSession, *, checkins: Sequence[Checkin]) -> None:
    session.add_all(checkins)
    await session.flush()


async def scheduled_for_patient(
    session: AsyncSession, *, patient_id: int, kind: CheckinKind | None = None
) -> list[Checkin]:
    conditions = [
        col(Checkin.patient_id) == patient_id,
        col(Checkin.status) == CheckinStatus.SCHEDULED,
    ]
    if kind is not None:
        conditions.append(col(Checkin.kind) == kind)
    rows = await session.scalars(select(Checkin).where(*conditions).order_by(col(Checkin.due_at)))
    return list(rows.all())


async def checkins_of_patients(
    session: AsyncSession, *, patient_ids: Sequence[int]
) -> dict[int, list[Checkin]]:
    """Every check-in of these patients, each patient's by due time (one query per 5,000)."""
    found: dict[int, list[Checkin]] = {pid: [] for pid in patient_ids}
    for start in range(0, len(patient_ids), 5000):
        rows = await session.scalars(
            select(Checkin)
            .where(col(Checkin.patient_id).in_(patient_ids[start : start + 5000]))
            .order_by(col(Checkin.patient_id), col(Checkin.due_at))
        )
        for row in rows.all():
            found[row.patient_id].append(row)
    return found


async def get_checkin(session: AsyncSession, *, checkin_id: int) -> Checkin | None:
    return await session.get(Checkin, checkin_id, populate_existing=True)


async def set_message_id(session: AsyncSession, *, checkin_id: int, message_id: int) -> None:
    """The check-in's question now on screen is this message (one UPDATE, no read first)."""
    await session.execute(
        update(Checkin).where(col(Checkin.id) == checkin_id).values(message_id=message_id)
    )


async def cancel_scheduled(
    session: AsyncSession, *, patient_id: int, now: datetime, status: CheckinStatus
) -> int:
    """Stop every not-yet-sent check-in of a patient (opt-out, unreachable)."""
    result = await session.execute(
        update(Checkin)
        .where(
            col(Checkin.patient_id) == patient_id, col(Checkin.status) == CheckinStatus.SCHEDULED
        )
        .values(status=status, closed_at=now, lease_owner=None, lease_until=None)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


async def release_leases(session: AsyncSession, *, owner: str) -> int:
    """Hand back every check-in claim this instance holds (clean shutdown)."""
    return await release_all(session, Checkin, owner=owner)


CLOSED = (CheckinStatus.COMPLETED, CheckinStatus.ABANDONED, CheckinStatus.MISSED)


async def recent_closed(
    session: AsyncSession, *, patient_id: int, excluding: int, limit: int = 20
) -> list[Checkin]:
    """The patient's other closed check-ins, newest due first (for non-response rules)."""
    rows = await session.scalars(
        select(Checkin)
        .where(
            col(Checkin.patient_id) == patient_id,
            col(Checkin.id) != excluding,
            col(Checkin.status).in_(CLOSED),
        )
        .order_by(col(Checkin.due_at).desc())
        .limit(limit)
    )
    return list(rows.all())


async def screened_checkins(session: AsyncSession, *, checkin_ids: Sequence[int]) -> set[int]:
    """Which of these check-ins have at least one C-SSRS answer."""
    if not checkin_ids:
        return set()
    rows = await session.scalars(
        select(col(Answer.checkin_id))
        .where(col(Answer.checkin_id).in_(checkin_ids), col(Answer.item_id).like("s_"))
        .distinct()
    )
    return {row for row in rows.all() if row is not None}


async def checkins_by_ids(session: AsyncSession, *, ids: Sequence[int]) -> dict[int, Checkin]:
    """Fresh copies of these check-ins (row-locked on PostgreSQL, after the audit chain's lock:
    one lock order for every writer)."""
    if not ids:
        return {}
    query = select(Checkin).where(col(Checkin.id).in_(set(ids)))
    if is_postgres(session):
        await audit.hold_chain(session)
        query = query.with_for_update()
    rows = await session.scalars(query.execution_options(populate_existing=True))
    return {c.id: c for c in rows.all() if c.id is not None}


async def open_checkins_of(session: AsyncSession, *, patient_ids: Sequence[int]) -> list[Checkin]:
    """Sent and unanswered or part-answered check-ins of these patients."""
    if not patient_ids:
        return []
    rows = await session.scalars(
        select(Checkin).where(
            col(Checkin.patient_id).in_(set(patient_ids)), col(Checkin.status).in_(OPEN)
        )
    )
    return list(rows.all())

"""Every query on caring tracks and their messages, including the dispatcher's leased claim.

A message is claimable only while it is pending and due, its patient active (not stopped by
/stop, not unreachable) and no case of theirs open or acknowledged: that is the pause.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import and_, exists, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from storage.leases import NOW, ClaimQuery, claim, release_all
from storage.models import Case, Infusion, Patient
from storage.models.care import CaringMessage, CaringTrack
from storage.states import CaringStatus, CaseStatus, InfusionStatus, PatientStatus
from storage.types import UTCDateTime

_CASE_OPEN = exists().where(
    col(Case.patient_id) == col(CaringMessage.patient_id),
    col(Case.status).in_((CaseStatus.OPEN, CaseStatus.ACKNOWLEDGED)),
)
_PATIENT_ACTIVE = exists().where(
    col(Patient.id) == col(CaringMessage.patient_id),
    col(Patient.status) == PatientStatus.ACTIVE,
)
_DUE = ClaimQuery(
    CaringMessage,
    and_(
        col(CaringMessage.status) == CaringStatus.PENDING,
        col(CaringMessage.due_at) <= NOW,
        _PATIENT_ACTIVE,
        ~_CASE_OPEN,
    ),
    col(CaringMessage.due_at),
)


async def claim_due(
    session: AsyncSession, *, now: datetime, owner: str, lease_until: datetime, limit: int
) -> list[CaringMessage]:
    """Pending caring messages whose time has come and whose patient may get them."""
    return await claim(session, _DUE, now=now, owner=owner, lease_until=lease_until, limit=limit)


async def release_leases(session: AsyncSession, *, owner: str) -> int:
    return await release_all(session, CaringMessage, owner=owner)


async def add_track(session: AsyncSession, *, track: CaringTrack) -> CaringTrack:
    """A new track, flushed (its id plans its messages' minutes)."""
    session.add(track)
    await session.flush()
    return track


async def add_messages(
    session: AsyncSession, *, track: CaringTrack, messages_due: Sequence[datetime]
) -> None:
    """The track's pending messages, numbered from 1 in order."""
    assert track.id is not None
    for number, due in enumerate(messages_due, start=1):
        session.add(
            CaringMessage(
                track_id=track.id,
                patient_id=track.patient_id,
                clinic_id=track.clinic_id,
                number=number,
                due_at=due,
                status=CaringStatus.PENDING,
            )
        )
    await session.flush()


async def active_tracks(session: AsyncSession, *, patient_id: int) -> list[CaringTrack]:
    rows = await session.scalars(
        select(CaringTrack).where(
            col(CaringTrack.patient_id) == patient_id,
            col(CaringTrack.status) == CaringStatus.ACTIVE,
        )
    )
    return list(rows.all())


async def get_track(session: AsyncSession, *, track_id: int) -> CaringTrack | None:
    return await session.get(CaringTrack, track_id)


async def drop_pending(
    session: AsyncSession,
    *,
    track_ids: Sequence[int],
    error: str,
    due_before: datetime | None = None,
) -> int:
    """Drop the pending messages of these tracks (those due before `due_before`, if given)."""
    if not track_ids:
        return 0
    conditions = [
        col(CaringMessage.track_id).in_(track_ids),
        col(CaringMessage.status) == CaringStatus.PENDING,
    ]
    if due_before is not None:
        conditions.append(col(CaringMessage.due_at) < due_before)
    result = await session.execute(
        update(CaringMessage)
        .where(*conditions)
        .values(status=CaringStatus.DROPPED, error=error, lease_owner=None, lease_until=None)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


async def pending_count(session: AsyncSession, *, track_id: int) -> int:
    count = await session.scalar(
        select(func.count())
        .select_from(CaringMessage)
        .where(
            col(CaringMessage.track_id) == track_id,
            col(CaringMessage.status) == CaringStatus.PENDING,
        )
    )
    return int(count or 0)


async def latest_track(session: AsyncSession, *, patient_id: int) -> CaringTrack | None:
    return await session.scalar(
        select(CaringTrack)
        .where(col(CaringTrack.patient_id) == patient_id)
        .order_by(col(CaringTrack.started_at).desc(), col(CaringTrack.id).desc())
        .limit(1)
    )


async def messages_of(session: AsyncSession, *, track_id: int) -> list[CaringMessage]:
    rows = await session.scalars(
        select(CaringMessage)
        .where(col(CaringMessage.track_id) == track_id)
        .order_by(col(CaringMessage.number))
    )
    return list(rows.all())


async def last_sent_at(session: AsyncSession, *, patient_id: int) -> datetime | None:
    """When the patient was last sent a caring message."""
    return await session.scalar(
        select(func.max(col(CaringMessage.sent_at), type_=UTCDateTime())).where(
            col(CaringMessage.patient_id) == patient_id,
            col(CaringMessage.status) == CaringStatus.SENT,
        )
    )


async def series_ended(
    session: AsyncSession, *, clinic_id: str, ended_before: datetime, ended_after: datetime
) -> list[tuple[int, datetime]]:
    """Active patients of a clinic whose last active infusion ended in (after, before], with no
    caring track started since it: (patient id, that infusion's end)."""
    last = (
        select(
            col(Infusion.patient_id).label("patient_id"),
            func.max(col(Infusion.ended_at), type_=UTCDateTime()).label("ended_at"),
        )
        .where(col(Infusion.status) == InfusionStatus.ACTIVE)
        .group_by(col(Infusion.patient_id))
        .subquery()
    )
    tracked = exists().where(
        col(CaringTrack.patient_id) == last.c.patient_id,
        col(CaringTrack.started_at) >= last.c.ended_at,
    )
    rows = await session.execute(
        select(last.c.patient_id, last.c.ended_at)
        .join(Patient, col(Patient.id) == last.c.patient_id)
        .where(
            col(Patient.clinic_id) == clinic_id,
            col(Patient.status) == PatientStatus.ACTIVE,
            last.c.ended_at <= ended_before,
            last.c.ended_at > ended_after,
            ~tracked,
        )
    )
    return [(int(pid), ended) for pid, ended in rows.all()]

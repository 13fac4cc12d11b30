"""What the console's patient list is filtered, sorted and paged by, without the rest of each
row: who is of the clinic (id, ref, status), their unresolved case's level, and one sort value
per patient. The console's page then asks `clinic_overview` for its rows only.

The sorting itself stays in Python (bot.console.lists.patient_page), so that it is the very order of
`bot.services.overview.sort_rows` on every database (a ref sorts by code point, not by the
database's collation). Each statement is one indexed pass; the ones over every patient are run
only for an order that needs them (see bot.console.lists.patient_page)."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from storage.cases import UNRESOLVED
from storage.models import Case, Checkin, Patient
from storage.states import Level, PatientStatus
from storage.views.overview import OF_CLINIC, overview_statements

__all__ = ["adherence", "counts", "newest_moods", "newest_sent", "open_levels", "roster"]


async def _rows(session: AsyncSession, statement: Select[Any], **params: Any) -> Any:
    conn = await session.connection()  # Core rows, as clinic_overview
    return (await conn.execute(statement, params)).tuples().all()


_COUNTS: Select[Any] = (
    select(col(Patient.status), func.count()).where(OF_CLINIC).group_by(col(Patient.status))
)


async def counts(session: AsyncSession, *, clinic_id: str) -> dict[PatientStatus, int]:
    """How many patients of the clinic have each status."""
    found = await _rows(session, _COUNTS, overview_clinic=clinic_id)
    return {PatientStatus(status): int(n) for status, n in found}


# The newest unresolved case wins, as in clinic_overview (ordered by id, the last one kept).
_OPEN: Select[Any] = (
    select(col(Case.patient_id), col(Case.level), col(Patient.ref), col(Patient.status))
    .join(Patient, col(Patient.id) == col(Case.patient_id))
    .where(OF_CLINIC, col(Case.status).in_(UNRESOLVED))
    .order_by(col(Case.id))
)


async def open_levels(
    session: AsyncSession, *, clinic_id: str
) -> dict[int, tuple[Level, str, PatientStatus]]:
    """Patients of the clinic with an unresolved case: its level, their ref and status."""
    found = await _rows(session, _OPEN, overview_clinic=clinic_id)
    return {pid: (level, ref, status) for pid, level, ref, status in found}


_ROSTER: Select[Any] = select(col(Patient.id), col(Patient.ref), col(Patient.status)).where(
    OF_CLINIC
)


async def roster(session: AsyncSession, *, clinic_id: str) -> list[tuple[int, str, PatientStatus]]:
    """Every patient of the clinic: id, ref, status (in no particular order)."""
    return list(await _rows(session, _ROSTER, overview_clinic=clinic_id))


async def adherence(
    session: AsyncSession,
    *,
    clinic_id: str,
    now: datetime,
    since: datetime,
    patient_ids: Collection[int] | None = None,
) -> dict[int, tuple[int, int]]:
    """(sent, answered) per patient of the clinic (or of those of `patient_ids`) over the
    check-ins sent in [since, now], counted as clinic_overview counts them; a patient with
    nothing sent is absent."""
    if patient_ids is not None and not patient_ids:
        return {}
    params: dict[str, Any] = {"overview_now": now, "overview_since": since}
    if patient_ids is not None:
        params["overview_ids"] = sorted(patient_ids)
    statement = overview_statements(patient_ids is not None).adherence
    found = await _rows(session, statement, overview_clinic=clinic_id, **params)
    return {pid: (int(sent), int(done)) for pid, sent, done in found}


_NEWEST_SENT: Select[Any] = (
    select(col(Checkin.patient_id), func.max(col(Checkin.sent_at)))
    .join(Patient, col(Patient.id) == col(Checkin.patient_id))
    .where(OF_CLINIC, col(Checkin.sent_at).is_not(None))
    .group_by(col(Checkin.patient_id))
)


async def newest_sent(session: AsyncSession, *, clinic_id: str) -> dict[int, datetime]:
    """When each patient's newest check-in was sent (the list's "last check-in")."""
    return dict(await _rows(session, _NEWEST_SENT, overview_clinic=clinic_id))


async def newest_moods(session: AsyncSession, *, clinic_id: str) -> dict[int, str]:
    """Each patient's newest mood answer as stored (the list's "last mood"), picked as
    clinic_overview picks it."""
    statement = overview_statements(False).last_moods
    found = await _rows(session, statement, overview_clinic=clinic_id)
    return {pid: value for pid, value, _ in found}

"""The patient list of the console and of Telegram's /patients: one row per patient of a
clinic, and how it is sorted and filtered (pure). Read only."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain.levels import Level
from bot.services.safety.plans import without_plan
from storage.states import PatientStatus
from storage.views.overview import LastCheckin, OpenCase, clinic_overview

__all__ = [
    "RISK_FILTERS",
    "SORT_KEYS",
    "STATUS_FILTERS",
    "LastCheckin",
    "OpenCase",
    "PatientRow",
    "filter_rows",
    "patient_rows",
    "sort_rows",
    "status_label",
]

_LABELS = {PatientStatus.OPTED_OUT: "stopped"}  # as clinicians and patients say it (/stop)


def status_label(status: PatientStatus) -> str:
    """How a patient's status reads on the console: "stopped" for opted_out."""
    return _LABELS.get(status, status.value)


ADHERENCE_DAYS = 14  # adherence counts the check-ins sent in these last days


@dataclass(frozen=True)
class PatientRow:
    """A patient of the list. Times are aware UTC; show them in `timezone`."""

    patient_id: int
    ref: str
    status: PatientStatus
    status_label: str
    timezone: str
    baseline_mood: int | None
    last_checkin: LastCheckin | None  # the newest sent: id, sent_at, status, risk_level
    last_mood: int | None
    last_mood_at: datetime | None
    open_case: OpenCase | None  # unresolved (open or acknowledged): id, level, status
    sent: int  # check-ins sent in the adherence window
    answered: int  # of those, completed or with at least one answer
    next_planned_at: datetime | None  # the earliest scheduled check-in due after now
    no_safety_plan: bool = False  # a moderate or high case in 30 days, no active plan (§11)

    @property
    def adherence(self) -> float | None:
        """answered / sent in the window, 0.0–1.0; None when nothing was sent."""
        return self.answered / self.sent if self.sent else None


async def patient_rows(
    session: AsyncSession,
    *,
    clinic_id: str,
    now: datetime,
    days: int = ADHERENCE_DAYS,
    patient_ids: Collection[int] | None = None,
) -> list[PatientRow]:
    """Every patient of that clinic (and only of that clinic), or those of `patient_ids` that
    are of it, ordered by ref; adherence over the check-ins sent in the last `days` days; "no
    safety plan" flagged (CLINICAL.md §11). Seven queries, whatever the number of patients."""
    if patient_ids is not None and not patient_ids:
        return []
    found = await clinic_overview(
        session,
        clinic_id=clinic_id,
        now=now,
        since=now - timedelta(days=days),
        patient_ids=patient_ids,
    )
    unplanned = await without_plan(
        session, clinic_id=clinic_id, now=now, patient_ids=tuple(patient_ids or ())
    )
    return [
        PatientRow(
            patient_id=p.id,
            ref=p.ref,
            status=p.status,
            status_label=status_label(p.status),
            timezone=p.timezone,
            baseline_mood=p.baseline_mood,
            last_checkin=p.last_checkin,
            last_mood=stored_mood(p.last_mood),
            last_mood_at=p.last_mood_at,
            open_case=p.open_case,
            sent=p.sent,
            answered=p.answered,
            next_planned_at=p.next_planned_at,
            no_safety_plan=p.id in unplanned,
        )
        for p in found
    ]


def stored_mood(stored: str | None) -> int | None:
    """A stored mood answer as its number; None for none or anything else."""
    return int(stored) if stored is not None and stored.isdigit() else None


def _open_rank(row: PatientRow) -> int:
    return row.open_case.level.rank if row.open_case else -1


def _missing_last(value: Any) -> tuple[bool, Any]:
    return (value is None, value)


_SORTS: dict[str, Callable[[PatientRow], tuple[Any, ...]]] = {
    # Highest open case first, then the least adherent (no check-ins sent: after any number).
    "risk": lambda r: (-_open_rank(r), _missing_last(r.adherence), r.ref),
    "ref": lambda r: (r.ref,),
    # Newest sent check-in first; never sent last.
    "last_checkin": lambda r: (
        r.last_checkin is None,
        -(r.last_checkin.sent_at.timestamp() if r.last_checkin else 0.0),
        r.ref,
    ),
    # Lowest first: the patients to look at come first; unknown last.
    "adherence": lambda r: (_missing_last(r.adherence), r.ref),
    "mood": lambda r: (_missing_last(r.last_mood), r.ref),
}
SORT_KEYS = tuple(_SORTS)


def sort_rows(rows: Iterable[PatientRow], key: str) -> list[PatientRow]:
    """Rows sorted by one of SORT_KEYS; ValueError for any other key."""
    if key not in _SORTS:
        raise ValueError(f"unknown sort key {key!r}; expected one of {', '.join(SORT_KEYS)}")
    return sorted(rows, key=_SORTS[key])


RISK_FILTERS = ("open", *(level.value for level in Level if level is not Level.NONE))
STATUS_FILTERS = (*(s.value for s in PatientStatus), "stopped")


def filter_rows(
    rows: Iterable[PatientRow], *, risk: str | None = None, status: str | None = None
) -> list[PatientRow]:
    """Rows that pass both filters; None passes everything.

    `risk`: "open" keeps patients with an unresolved case; a level name ("low", "moderate",
    "high") keeps those whose unresolved case is at least that level. `status`: a
    PatientStatus value or its label ("stopped" = opted_out). ValueError for anything else.
    """
    floor: int | None = None
    if risk is not None:
        if risk not in RISK_FILTERS:
            raise ValueError(f"unknown risk filter {risk!r}")
        floor = Level.NONE.rank if risk == "open" else Level(risk).rank
    wanted: PatientStatus | None = None
    if status is not None:
        if status not in STATUS_FILTERS:
            raise ValueError(f"unknown status filter {status!r}")
        wanted = PatientStatus.OPTED_OUT if status == "stopped" else PatientStatus(status)
    return [
        row
        for row in rows
        if (floor is None or (row.open_case is not None and row.open_case.level.rank >= floor))
        and (wanted is None or row.status == wanted)
    ]

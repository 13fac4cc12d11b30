"""The console's patient list, one page at a time, without a row for every patient of the clinic
(issue 32: at 10,000 patients the whole list took ~400 ms).

The page is exactly the slice of `sort_rows(filter_rows(patient_rows(...)))` it stands for: the
same filters and the same sort keys (bot.services.overview's own, applied to light stand-ins
holding only the value a sort reads), then `clinic_overview` for the page's patients alone.
What it costs, by what is asked:
- a risk filter: the few patients with an unresolved case, their full rows, sorted;
- sorted by risk (the default), on a page within the patients with an unresolved case (they
  come first): the same; a later page: adherence of every patient, one grouped pass;
- by ref: every patient's ref; by last check-in, adherence or mood: that value for every
  patient, one indexed pass each."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import cast

from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain.levels import Level
from bot.services.overview import (
    ADHERENCE_DAYS,
    LastCheckin,
    OpenCase,
    PatientRow,
    filter_rows,
    patient_rows,
    sort_rows,
    stored_mood,
)
from storage.states import CaseStatus, CheckinStatus, PatientStatus
from storage.views import patient_list as lists


@dataclass(frozen=True)
class ListPage:
    rows: list[PatientRow]  # the page's, in order
    total: int  # patients of the clinic
    matched: int  # of those, passing the filters


class _Stand:
    """What a sort key or a filter of bot.services.overview reads of a PatientRow, holding only
    the values the asked sort needs (the others are never read by it)."""

    __slots__ = (
        "answered",
        "last_checkin",
        "last_mood",
        "open_case",
        "patient_id",
        "ref",
        "sent",
        "status",
    )

    def __init__(self, patient_id: int, ref: str, status: PatientStatus) -> None:
        self.patient_id, self.ref, self.status = patient_id, ref, status
        self.open_case: OpenCase | None = None
        self.last_checkin: LastCheckin | None = None
        self.last_mood: int | None = None
        self.sent = self.answered = 0

    @property
    def adherence(self) -> float | None:
        return self.answered / self.sent if self.sent else None


def _wanted(status: str | None) -> PatientStatus | None:
    if status is None:
        return None
    return PatientStatus.OPTED_OUT if status == "stopped" else PatientStatus(status)


async def list_page(
    session: AsyncSession,
    *,
    clinic_id: str,
    now: datetime,
    sort: str,
    risk: str | None,
    status: str | None,
    first: int,
    size: int,
) -> ListPage:
    """Rows [first, first + size) of the clinic's list filtered by `risk` and `status` and
    sorted by `sort` (bot.services.overview's names; ValueError for others)."""
    filter_rows([], risk=risk, status=status)  # the same ValueError for an unknown filter
    sort_rows([], sort)
    since = now - timedelta(days=ADHERENCE_DAYS)
    wanted = _wanted(status)
    by_status = await lists.counts(session, clinic_id=clinic_id)
    total = sum(by_status.values())
    opened = {
        pid: found
        for pid, found in (await lists.open_levels(session, clinic_id=clinic_id)).items()
        if wanted is None or found[2] == wanted
    }
    if risk is not None:
        # Only patients with an unresolved case can be on the page: their rows, sorted.
        rows = filter_rows(
            await patient_rows(session, clinic_id=clinic_id, now=now, patient_ids=opened),
            risk=risk,
            status=status,
        )
        return ListPage(sort_rows(rows, sort)[first : first + size], total, len(rows))
    matched_n = _matched(by_status, wanted)
    if first >= matched_n:
        return ListPage([], total, matched_n)
    if sort == "risk" and first + size <= len(opened):
        # The page is within the patients with an unresolved case (they come first): only
        # they are sorted, by their adherence alone.
        stands = [_Stand(pid, ref, found) for pid, (_, ref, found) in opened.items()]
        some: list[int] | None = list(opened)
    else:
        stands = [
            _Stand(pid, ref, found)
            for pid, ref, found in await lists.roster(session, clinic_id=clinic_id)
            if wanted is None or found == wanted
        ]
        some = None
    await _fill(
        session, stands, sort, clinic_id=clinic_id, now=now, since=since, opened=opened, some=some
    )
    ordered = sort_rows(cast(list[PatientRow], stands), sort)
    page_ids = [row.patient_id for row in ordered[first : first + size]]
    found = await patient_rows(session, clinic_id=clinic_id, now=now, patient_ids=page_ids)
    by_id = {row.patient_id: row for row in found}
    return ListPage([by_id[pid] for pid in page_ids if pid in by_id], total, matched_n)


async def _fill(
    session: AsyncSession,
    stands: list[_Stand],
    sort: str,
    *,
    clinic_id: str,
    now: datetime,
    since: datetime,
    opened: dict[int, tuple[Level, str, PatientStatus]],
    some: list[int] | None,
) -> None:
    """Give each stand-in the one value `sort` orders by (counted for the patients of `some`
    only, when given)."""
    if sort == "risk":
        for stand in stands:
            if stand.patient_id in opened:  # the level is all the risk key reads of the case
                stand.open_case = OpenCase(0, opened[stand.patient_id][0], CaseStatus.OPEN)
    if sort in ("risk", "adherence"):
        counted = await lists.adherence(
            session, clinic_id=clinic_id, now=now, since=since, patient_ids=some
        )
        for stand in stands:
            stand.sent, stand.answered = counted.get(stand.patient_id, (0, 0))
    elif sort == "last_checkin":  # the sent time is all the key reads of the check-in
        sent = await lists.newest_sent(session, clinic_id=clinic_id)
        for stand in stands:
            if stand.patient_id in sent:
                at = sent[stand.patient_id]
                stand.last_checkin = LastCheckin(0, at, CheckinStatus.SENT, Level.NONE)
    elif sort == "mood":
        moods = await lists.newest_moods(session, clinic_id=clinic_id)
        for stand in stands:
            stand.last_mood = stored_mood(moods.get(stand.patient_id))


def _matched(by_status: dict[PatientStatus, int], wanted: PatientStatus | None) -> int:
    return by_status.get(wanted, 0) if wanted is not None else sum(by_status.values())

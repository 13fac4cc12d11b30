"""The clinic's response times (CLINICAL.md §10): per case, and per level over 30 and 90 days,
against the clinic's targets and the published comparator; the rows of its CSV."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from bot.clinic_config import ClinicConfig
from bot.domain.response_times import (
    PUBLISHED_MEDIAN,
    CaseTimes,
    Measure,
    Summary,
    describe,
    summarise,
)
from bot.services.reaching.outreach import reach_targets
from storage.views.response_times import case_times

WINDOWS = (30, 90)  # days
CSV_HEADER = (
    "case_id",
    "patient_ref",
    "level",
    "opened_at",
    "first_paged_at",
    "acknowledged_at",
    "first_attempt_at",
    "reached_at",
    *(f"{m.value}_seconds" for m in Measure),
)


@dataclass(frozen=True)
class Report:
    now: datetime
    cases: list[CaseTimes]  # the last 90 days, oldest first
    windows: dict[int, list[Summary]]  # days → every level × measure
    published: timedelta = PUBLISHED_MEDIAN

    def recent(self, limit: int = 50) -> list[CaseTimes]:
        return list(reversed(self.cases))[:limit]


@dataclass(frozen=True)
class Target:
    """A clinic's target for a level and measure: a duration, or business days (low)."""

    within: timedelta | None = None
    business_days: int | None = None


def targets_of(clinic: ClinicConfig) -> dict[tuple[str, Measure], Target]:
    """The clinic's outreach targets (CLINICAL.md §10) per (level, measure)."""
    t = reach_targets(clinic)
    return {
        ("high", Measure.PAGE_TO_ATTEMPT): Target(within=t.high_first_attempt),
        ("high", Measure.PAGE_TO_REACHED): Target(within=t.high_reached),
        ("moderate", Measure.PAGE_TO_REACHED): Target(within=t.moderate_reached),
        ("low", Measure.PAGE_TO_REACHED): Target(business_days=t.low_reached_business_days),
    }


async def case_times_since(
    session: AsyncSession, *, clinic_id: str, since: datetime
) -> list[CaseTimes]:
    """The clinic's cases opened since `since` with their four times, oldest first."""
    rows = await case_times(session, clinic_id=clinic_id, since=since)
    return [
        CaseTimes(
            case_id=r.case_id,
            patient_ref=r.patient_ref,
            level=r.level,
            opened_at=r.opened_at,
            first_paged_at=r.first_paged_at,
            acknowledged_at=r.acknowledged_at,
            first_attempt_at=r.first_attempt_at,
            reached_at=r.reached_at,
        )
        for r in rows
    ]


async def response_report(session: AsyncSession, *, clinic_id: str, now: datetime) -> Report:
    cases = await case_times_since(
        session, clinic_id=clinic_id, since=now - timedelta(days=max(WINDOWS))
    )
    windows = {days: summarise(cases, since=now - timedelta(days=days)) for days in WINDOWS}
    return Report(now=now, cases=cases, windows=windows)


def csv_rows(report: Report) -> Iterator[tuple[object, ...]]:
    """One row per case: its times (ISO-8601 UTC) and the four durations in seconds."""
    for c in report.cases:
        times = (c.opened_at, c.first_paged_at, c.acknowledged_at, c.first_attempt_at)
        yield (
            c.case_id,
            c.patient_ref,
            c.level,
            *(t.isoformat() if t is not None else "" for t in (*times, c.reached_at)),
            *(int(d.total_seconds()) if (d := c.duration(m)) is not None else "" for m in Measure),
        )


__all__ = ["CSV_HEADER", "WINDOWS", "Report", "csv_rows", "describe", "response_report"]

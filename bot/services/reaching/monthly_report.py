"""The clinic's monthly report (README, "The monthly report"): check-ins per slot and week,
cases per level and how many went back up the ladder, response times against the clinic's
targets, mood before and after each infusion series, patients without an active safety plan;
the rows of its CSV files. References only, never a patient's words."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from bot.charts.series import render_series_svg
from bot.clinic_config import ClinicConfig
from bot.domain import safety_plan as plan_rules
from bot.domain.reports.month import Month
from bot.domain.reports.monthly import (
    LevelCount,
    SlotCount,
    WithoutPlan,
    case_counts,
    checkin_counts,
    without_safety_plan,
)
from bot.domain.reports.mood_series import AFTER_WINDOW, Series, median_change, mood_series
from bot.domain.response_times import Measure, Summary, summarise
from bot.i18n import C_
from bot.services.reaching.response_times import Target, case_times_since, targets_of
from storage.views import monthly_report as views

MEASURES = (Measure.PAGE_TO_ACK, Measure.PAGE_TO_ATTEMPT, Measure.PAGE_TO_REACHED)
TABLES = (
    "checkins",
    "checkins_by_week",
    "cases",
    "response_times",
    "mood_series",
    "without_safety_plan",
)


@dataclass(frozen=True)
class MonthlyReport:
    clinic_id: str
    clinic_name: str
    month: Month
    checkins: list[SlotCount]  # per slot: the month's rows first, then each week's
    cases: list[LevelCount]
    times: list[Summary]  # level × the three page measures
    targets: dict[tuple[str, Measure], Target]
    series: list[Series]
    median_change: float | None
    without_plan: list[WithoutPlan]

    @property
    def month_checkins(self) -> list[SlotCount]:
        return [c for c in self.checkins if c.period == "month"]

    @property
    def weekly_checkins(self) -> list[SlotCount]:
        return [c for c in self.checkins if c.period != "month"]


async def _response_times(session: AsyncSession, *, clinic_id: str, month: Month) -> list[Summary]:
    cases = await case_times_since(session, clinic_id=clinic_id, since=month.start)
    opened = [c for c in cases if c.opened_at < month.end]
    return [s for s in summarise(opened, since=month.start) if s.measure in MEASURES]


async def monthly_report(
    session: AsyncSession, *, clinic: ClinicConfig, month: Month
) -> MonthlyReport:
    """Every figure of the clinic's month, read in the caller's transaction."""
    start, end = month.start, month.end
    checkins = await views.checkin_rows(session, clinic_id=clinic.id, start=start, end=end)
    cases = await views.case_rows(session, clinic_id=clinic.id, start=start, end=end)
    infusions = await views.infusion_rows(session, clinic_id=clinic.id, start=start, end=end)
    infused = {i.patient_id for i in infusions}
    moods = await views.mood_rows(session, patient_ids=infused, until=end + AFTER_WINDOW)
    baselines = await views.baselines(session, patient_ids=infused)
    serious = {c.patient_id for c in cases if c.level in ("high", "moderate")}
    plans = await views.newest_plans(session, clinic_id=clinic.id, patient_ids=serious, before=end)
    active = {pid: plan_rules.is_active(plan_rules.from_json(s)) for pid, s in plans.items()}
    series = mood_series(infusions, moods, baselines)
    return MonthlyReport(
        clinic_id=clinic.id,
        clinic_name=clinic.name,
        month=month,
        checkins=checkin_counts(checkins, month),
        cases=case_counts(cases, month),
        times=await _response_times(session, clinic_id=clinic.id, month=month),
        targets=targets_of(clinic),
        series=series,
        median_change=median_change(series),
        without_plan=without_safety_plan(cases, month, active=active),
    )


def series_title(series: Series, month: Month) -> str:
    """A panel's title: the reference and the local day the series' first infusion ended."""
    return f"{series.patient_ref} · {series.first_ended_at.astimezone(month.zone):%d %b}"


def series_chart(report: MonthlyReport) -> str:
    """The small-multiples mood chart as SVG."""
    panels = [(series_title(s, report.month), s.before, s.after) for s in report.series]
    return render_series_svg(
        panels,
        title=C_("Mood before and after each infusion series, {month}").format(
            month=report.month.key
        ),
    )


def _rate(value: float | None) -> str:
    return "" if value is None else f"{value:.3f}"


def _seconds(delta: timedelta | None) -> object:
    return "" if delta is None else int(delta.total_seconds())


def _blank(value: int | None) -> object:
    return "" if value is None else value


def _before_from(series: Series) -> str:
    if series.before is None:
        return ""
    return "baseline" if series.before_from_baseline else "answer"


def _day(at: datetime, month: Month) -> str:
    return at.astimezone(month.zone).date().isoformat()


def _rows(report: MonthlyReport, table: str) -> Iterator[tuple[object, ...]]:
    month = report.month
    weeks = {w.label: w for w in month.weeks()}
    if table == "checkins":
        for c in report.month_checkins:
            yield (month.key, c.slot, c.sent, c.answered, _rate(c.rate), c.missed, c.reminders)
    elif table == "checkins_by_week":
        for c in report.weekly_checkins:
            week = weeks[c.period]
            yield (
                c.period,
                week.first_day.isoformat(),
                week.last_day.isoformat(),
                c.slot,
                c.sent,
                c.answered,
                _rate(c.rate),
                c.missed,
                c.reminders,
            )
    elif table == "cases":
        for n in report.cases:
            yield (month.key, n.level, n.opened, n.reescalated, _rate(n.share))
    elif table == "response_times":
        for summary in report.times:
            t = report.targets.get((summary.level, summary.measure), Target())
            yield (
                month.key,
                summary.level,
                summary.measure.value,
                summary.measured,
                summary.waiting,
                _seconds(summary.median),
                _seconds(summary.p90),
                _seconds(t.within),
                "" if t.business_days is None else t.business_days,
            )
    elif table == "mood_series":
        for one in report.series:
            yield (
                one.patient_ref,
                _day(one.first_ended_at, month),
                _day(one.last_ended_at, month),
                one.infusions,
                _blank(one.before),
                _before_from(one),
                _blank(one.after),
                _blank(one.change),
            )
    else:
        for missing in report.without_plan:
            yield (missing.patient_ref, missing.level, missing.cases, missing.plan)


HEADERS: dict[str, tuple[str, ...]] = {
    "checkins": ("month", "slot", "sent", "answered", "response_rate", "missed", "reminders"),
    "checkins_by_week": (
        "week", "first_day", "last_day", "slot", "sent", "answered", "response_rate", "missed",
        "reminders",
    ),
    "cases": ("month", "level", "opened", "reescalated", "reescalated_share"),
    "response_times": (
        "month", "level", "measure", "measured", "waiting", "median_seconds", "p90_seconds",
        "target_seconds", "target_business_days",
    ),
    "mood_series": (
        "patient_ref", "first_infusion_day", "last_infusion_day", "infusions", "mood_before",
        "before_from", "mood_after", "change",
    ),
    "without_safety_plan": ("patient_ref", "highest_level", "cases", "plan"),
}  # fmt: skip


def table_rows(report: MonthlyReport, table: str) -> list[tuple[object, ...]]:
    """One CSV table's rows (header first); `table` is one of TABLES."""
    if table not in TABLES:
        raise KeyError(table)
    return [HEADERS[table], *_rows(report, table)]


def file_name(report: MonthlyReport, table: str) -> str:
    return f"report-{report.clinic_id}-{report.month.key}-{table}.csv"

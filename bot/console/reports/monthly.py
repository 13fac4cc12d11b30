"""The clinic's monthly report: every clinician of the clinic may read it (references only, no
patient words). `GET /report?month=YYYY-MM` (default: the last complete month in the clinic's
zone) and each of its tables as CSV, `GET /report.csv?month=…&table=…`. A malformed or future
month is refused on the page (400)."""

from __future__ import annotations

import csv
import io

from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bot.console.web import console_of, page, viewer
from bot.domain.reports.month import MonthRefused, parse_month
from bot.domain.response_times import describe
from bot.i18n import C_
from bot.services.console_access import Viewer
from bot.services.reaching.monthly_report import (
    TABLES,
    MonthlyReport,
    file_name,
    monthly_report,
    series_chart,
    series_title,
    table_rows,
)

MAX_MONTH = 20  # characters of ?month= read


def _refused(request: Request, who: Viewer, month: str, error: str) -> Response:
    return page(
        request,
        "report_monthly.html",
        who=who,
        status=400,
        section="report",
        report=None,
        month_text=month,
        error=error,
    )


async def _report(request: Request) -> tuple[Viewer, str, MonthlyReport | str]:
    """The viewer, the month as asked and its report, or the sentence refusing the month."""
    who = await viewer(request)
    console = console_of(request)
    clinic = console.clinic(who)
    asked = request.query_params.get("month", "")[:MAX_MONTH]
    try:
        month = parse_month(asked, zone=clinic.zone, now=console.ctx.clock.now())
    except MonthRefused as exc:
        return who, asked, str(exc)
    async with console.read() as session:
        return who, asked, await monthly_report(session, clinic=clinic, month=month)


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{value:.0%}"


def _target(target: object) -> str:
    within = getattr(target, "within", None)
    days = getattr(target, "business_days", None)
    if within is not None:
        return describe(within)
    if days is not None:
        return C_("{n} business days").format(n=days)
    return "—"


def slot_label(slot: str) -> str:
    """ "+4h" → "+4 h"; daily and the patient's own in words."""
    if slot == "daily":
        return C_("daily")
    if slot == "adhoc":
        return C_("started by the patient")
    return f"{slot[:-1]} {slot[-1]}"


async def report_page(request: Request) -> Response:
    who, asked, report = await _report(request)
    if isinstance(report, str):
        return _refused(request, who, asked, report)
    change = report.median_change
    return page(
        request,
        "report_monthly.html",
        who=who,
        section="report",
        report=report,
        month_text=report.month.key,
        error=None,
        weeks=report.month.weeks(),
        tables=TABLES,
        slot_label=slot_label,
        percent=_percent,
        describe=describe,
        target=_target,
        series_title=lambda s: series_title(s, report.month),
        median_change="—" if change is None else f"{change:+g}",
        chart_svg=Markup(series_chart(report)),
    )


async def report_csv(request: Request) -> Response:
    who, asked, report = await _report(request)
    if isinstance(report, str):
        return _refused(request, who, asked, report)
    table = request.query_params.get("table", "")
    if table not in TABLES:
        error = C_("There is no table “{table}” in the report. Choose one of: {tables}.").format(
            table=table[:40], tables=", ".join(TABLES)
        )
        return _refused(request, who, report.month.key, error)
    buffer = io.StringIO()
    csv.writer(buffer).writerows(table_rows(report, table))
    return Response(
        buffer.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{file_name(report, table)}"'},
    )


ROUTES = [
    Route("/report", report_page, methods=["GET"]),
    Route("/report.csv", report_csv, methods=["GET"]),
]

"""The monthly report page and its CSV tables for a seeded month: check-ins, answers, cases,
pages, outreach, infusions and safety plans across the month, just outside it and in another
clinic; every figure equals one computed here from the rows seeded."""

from __future__ import annotations

import csv
import io
import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
from sqlalchemy import select

from bot.domain import safety_plan as plan_rules
from sandbox import BotApiSandbox
from storage import audit
from storage.models import (
    Answer,
    Case,
    Checkin,
    Clinician,
    Infusion,
    Outreach,
    Page,
    Patient,
    SafetyPlan,
)
from storage.states import (
    CaseTrigger,
    CheckinKind,
    CheckinStatus,
    InfusionStatus,
    Level,
    OutreachMethod,
    OutreachOutcome,
    PageStatus,
    PatientStatus,
)
from tests.auxil.console import ConsoleBot, console_bot, join, sign_in
from tests.auxil.databases import IsolatedDatabase

ADA, SAM = 7201, 7202
NY = ZoneInfo("America/New_York")  # the north clinic's zone
MIN, HOUR, DAY = timedelta(minutes=1), timedelta(hours=1), timedelta(days=1)
ANSWERED = {"in_progress", "completed", "abandoned"}


def _month_before(now: datetime) -> tuple[str, datetime, datetime]:
    """The last complete month in New York: its key and UTC boundaries, by hand."""
    local = now.astimezone(NY)
    this_first = local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    last_first = (this_first - DAY).replace(day=1)
    start = datetime(last_first.year, last_first.month, 1, tzinfo=NY).astimezone(UTC)
    end = datetime(this_first.year, this_first.month, 1, tzinfo=NY).astimezone(UTC)
    return f"{last_first:%Y-%m}", start, end


@dataclass
class Seeded:
    month: str
    start: datetime
    end: datetime
    checkins: list[tuple[str, str, int | None, str, datetime | None, datetime, datetime | None]]
    cases: list[tuple[str, str, str, datetime, list[int], bool, timedelta | None,
                      list[tuple[timedelta, bool]]]]  # fmt: skip


def _checkin_seeds(start: datetime, end: datetime) -> list[tuple]:  # type: ignore[type-arg]
    """(clinic, kind, offset seconds, status, sent, due, reminded)."""
    d = lambda n: start + n * DAY + 14 * HOUR  # noqa: E731
    rows = []
    for clinic in ("north", "south"):
        rows += [
            (clinic, "offset", 14400, "completed", d(1), d(1), d(1) + HOUR),
            (clinic, "offset", 14400, "abandoned", d(2), d(2), None),
            (clinic, "offset", 14400, "missed", d(9), d(9), d(9) + HOUR),
            (clinic, "offset", 14400, "sent", d(16), d(16), None),
            (clinic, "offset", 86400, "completed", d(3), d(3), None),
            (clinic, "offset", 86400, "in_progress", d(23), d(23), None),
            (clinic, "daily", None, "missed", None, d(5), None),  # never sent
            (clinic, "daily", None, "completed", d(6), d(6), None),
            (clinic, "adhoc", None, "completed", d(7), d(7), None),
            (clinic, "offset", 14400, "completed", start - MIN, start - MIN, None),  # before
            (clinic, "offset", 14400, "completed", end, end, end + HOUR),  # after
        ]
    return rows


async def _seed(app: ConsoleBot) -> Seeded:
    ctx = app.bot.ctx
    month, start, end = _month_before(ctx.clock.now())
    d = lambda n, h=14: start + n * DAY + h * HOUR  # noqa: E731
    checkins = _checkin_seeds(start, end)
    # (clinic, ref, level, opened, page steps, outreach overdue, ack after page, attempts)
    cases = [
        ("north", "P-1", "high", d(4), [0, 1], False, 4 * MIN,
         [(10 * MIN, False), (30 * MIN, True)]),
        ("north", "P-2", "high", d(8), [0], True, 3 * MIN, [(20 * MIN, False)]),
        ("north", "P-2", "moderate", d(12), [0], False, 60 * MIN, [(5 * HOUR, True)]),
        ("north", "P-3", "high", d(18), [0], False, None, []),
        ("north", "P-1", "low", d(20), [0, 1, 2], False, 2 * HOUR, []),
        ("north", "P-1", "high", start - HOUR, [0, 1], True, MIN, []),  # October's
        ("south", "S-1", "high", d(4), [0, 1], True, MIN, [(MIN, True)]),
    ]  # fmt: skip
    async with ctx.db.transaction() as session:
        ada = await session.scalar(select(Clinician).where(Clinician.name == "Dr Ada"))
        sam = await session.scalar(select(Clinician).where(Clinician.name == "Dr Sam"))
        assert ada is not None and sam is not None
        people = {}
        for clinic, ref, baseline in (
            ("north", "P-1", 5), ("north", "P-2", 6), ("north", "P-3", 4), ("south", "S-1", 5)
        ):  # fmt: skip
            patient = Patient(clinic_id=clinic, ref=ref, timezone="America/New_York",
                              baseline_mood=baseline, status=PatientStatus.ACTIVE,
                              created_at=start - 30 * DAY)  # fmt: skip
            session.add(patient)
            await session.flush()
            people[ref] = patient
        for clinic, kind, offset, status, sent, due, reminded in checkins:
            ref = "P-1" if clinic == "north" else "S-1"
            session.add(Checkin(patient_id=people[ref].id or 0, kind=CheckinKind(kind),
                                offset_seconds=offset, status=CheckinStatus(status), sent_at=sent,
                                nominal_at=due, due_at=due, reminded_at=reminded,
                                created_at=due - DAY))  # fmt: skip
        for clinic, ref, level, opened, steps, overdue, ack, attempts in cases:
            who = ada if clinic == "north" else sam
            paged = opened + MIN
            case = Case(clinic_id=clinic, patient_id=people[ref].id or 0, level=Level(level),
                        trigger=CaseTrigger.CHECKIN, reason="seeded", opened_at=opened,
                        ladder_started_at=opened, first_paged_at=paged,
                        acknowledged_at=paged + ack if ack else None,
                        acknowledged_by=who.id if ack else None)  # fmt: skip
            session.add(case)
            await session.flush()
            for step in steps:
                at = paged + step * 10 * MIN
                session.add(Page(case_id=case.id or 0, clinician_id=who.id or 0, step=step,
                                 status=PageStatus.SENT, sent_at=at))  # fmt: skip
            for after, reached in attempts:
                outcome = OutreachOutcome.REACHED if reached else OutreachOutcome.NO_ANSWER
                session.add(Outreach(case_id=case.id or 0, clinic_id=clinic,
                                     patient_id=case.patient_id, clinician_id=who.id,
                                     method=OutreachMethod.PHONE, outcome=outcome,
                                     at=paged + after, recorded_at=paged + after))  # fmt: skip
            if overdue:
                await audit.append(session, at=paged + HOUR, actor="dispatcher",
                                   event="outreach.overdue", clinic_id=clinic,
                                   patient_id=case.patient_id, case_id=case.id,
                                   detail={"level": level})  # fmt: skip
        # infusions: P-1 a series of two (days 3 and 10), P-2 one (day 20) and one cancelled,
        # P-1 one the month before, S-1 one in another clinic
        for ref, at, status in (
            ("P-1", d(3), InfusionStatus.ACTIVE), ("P-1", d(10), InfusionStatus.ACTIVE),
            ("P-2", d(20), InfusionStatus.ACTIVE), ("P-3", d(25), InfusionStatus.CANCELLED),
            ("P-1", start - 20 * DAY, InfusionStatus.ACTIVE), ("S-1", d(3), InfusionStatus.ACTIVE),
        ):  # fmt: skip
            session.add(Infusion(patient_id=people[ref].id or 0, ended_at=at, protocol="standard",
                                 status=status, recorded_at=at, recorded_by="cli"))  # fmt: skip
        # mood: P-1 3 before (and 9 the month before), 7 after; P-2 baseline 6, 4 after
        for ref, at, mood in (
            ("P-1", start - 25 * DAY, 9), ("P-1", d(2), 3), ("P-1", d(14), 7),
            ("P-1", d(18), 10),  # 8 days after the series' last infusion: not "after"
            ("P-2", d(22), 4), ("S-1", d(2), 1), ("S-1", d(4), 10),
        ):  # fmt: skip
            session.add(Answer(patient_id=people[ref].id or 0, item_id="mood", value=str(mood),
                               instrument_id="aftercare-checkin", instrument_version="1",
                               answered_at=at))  # fmt: skip
        # safety plans: P-2 active (before the month ended), P-3 not active, P-1 none
        active, _ = plan_rules.read_plan(
            {"step4": "Sam +44 20 7946 0000", "step5": "Dr Ben +44 20 7946 0001"},
            country_code=None,
        )
        partial, _ = plan_rules.read_plan({"step1": "Not sleeping"}, country_code=None)
        assert active is not None and partial is not None
        for ref, steps, is_active in (("P-2", active, True), ("P-3", partial, False)):
            session.add(SafetyPlan(patient_id=people[ref].id or 0, clinic_id="north", version=1,
                                   steps=plan_rules.to_json(steps), active=is_active,
                                   created_at=start + DAY, created_by="cli"))  # fmt: skip
    return Seeded(month, start, end, checkins, cases)


def _slot(kind: str, offset: int | None) -> str:
    return {"daily": "daily", "adhoc": "adhoc"}.get(kind) or f"+{(offset or 0) // 3600}h"


def _expected_checkins(s: Seeded) -> dict[str, list[str]]:
    inside = lambda at: at is not None and s.start <= at < s.end  # noqa: E731
    found: dict[str, list[str]] = {}
    for slot in ("+4h", "+24h", "daily", "adhoc"):
        ours = [c for c in s.checkins if c[0] == "north" and _slot(c[1], c[2]) == slot]
        sent = [c for c in ours if inside(c[4])]
        answered = [c for c in sent if c[3] in ANSWERED]
        missed = [c for c in ours if c[3] == "missed" and inside(c[5])]
        reminded = [c for c in ours if inside(c[6])]
        rate = f"{len(answered) / len(sent):.3f}" if sent else ""
        found[slot] = [s.month, slot, str(len(sent)), str(len(answered)), rate,
                       str(len(missed)), str(len(reminded))]  # fmt: skip
    return found


def _nearest_rank(values: list[timedelta], q: int) -> str:
    if not values:
        return ""
    ordered = sorted(values)
    return str(int(ordered[max(1, math.ceil(q / 100 * len(ordered))) - 1].total_seconds()))


def _expected_times(s: Seeded) -> dict[tuple[str, str], list[str]]:
    ours = [c for c in s.cases if c[0] == "north" and s.start <= c[3] < s.end]
    found = {}
    for level in ("high", "moderate", "low"):
        of_level = [c for c in ours if c[2] == level]
        measures = {
            "page_to_ack": [c[6] for c in of_level if c[6] is not None],
            "page_to_attempt": [c[7][0][0] for c in of_level if c[7]],
            "page_to_reached": [
                min(a for a, reached in c[7] if reached)
                for c in of_level
                if any(reached for _, reached in c[7])
            ],
        }
        for measure, values in measures.items():
            found[(level, measure)] = [
                str(len(values)), str(len(of_level) - len(values)),
                _nearest_rank(values, 50), _nearest_rank(values, 90),
            ]  # fmt: skip
    return found


def _csv(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


def _cells(html: str, table: str, attrs: str) -> list[str]:
    """The cells of the row of `table` whose opening tag carries `attrs`."""
    part = html[html.index(f'id="{table}"') :]
    row = part[part.index(f"<tr {attrs}>") :].split("</tr>", 1)[0]
    return [re.sub(r"<[^>]+>", "", c) for c in re.findall(r"<td>(.*?)</td>", row)]


async def test_the_report_shows_the_months_figures_of_its_clinic_only(
    sandbox: BotApiSandbox, test_db: IsolatedDatabase
) -> None:
    async with console_bot(sandbox, test_db) as app:
        await join(app, ADA, "Dr Ada")
        await join(app, SAM, "Dr Sam", clinic="south")
        seeded = await _seed(app)
        client = await sign_in(app, ADA)
        try:
            shown = await client.get(f"{app.base}/report")  # the last complete month
            tables = {
                t: await client.get(f"{app.base}/report.csv?month={seeded.month}&table={t}")
                for t in ("checkins", "checkins_by_week", "cases", "response_times",
                          "mood_series", "without_safety_plan")
            }  # fmt: skip
            bad = await client.get(f"{app.base}/report?month=2026-13")
            future = await client.get(f"{app.base}/report?month=2999-01")
            no_table = await client.get(f"{app.base}/report.csv?month={seeded.month}&table=x")
        finally:
            await client.aclose()
    assert shown.status_code == 200, shown.text[:500]
    html = shown.text
    assert f"North Clinic · {seeded.month}" in html
    assert "S-1" not in html and "South" not in html.split("<main", 1)[1]
    # 1 and 2: check-ins per slot, on the page and in the CSV
    expected = _expected_checkins(seeded)
    rows = _csv(tables["checkins"].text)
    assert rows[0] == ["month", "slot", "sent", "answered", "response_rate", "missed", "reminders"]
    assert {r[1]: r for r in rows[1:]} == expected
    for slot, want in expected.items():
        cells = _cells(html, "report-checkins", f'data-slot="{slot}"')
        assert [cells[1], cells[2], cells[4], cells[5]] == [want[2], want[3], want[5], want[6]]
    weekly = _csv(tables["checkins_by_week"].text)[1:]
    for column in (4, 5, 7, 8):  # the weeks add up to the month
        for slot, want in expected.items():
            total = sum(int(r[column]) for r in weekly if r[3] == slot)
            assert str(total) == want[{4: 2, 5: 3, 7: 5, 8: 6}[column]], (slot, column)
    assert weekly[0][1] == seeded.start.astimezone(NY).date().isoformat()
    assert weekly[-1][2] == (seeded.end.astimezone(NY) - DAY).date().isoformat()
    # 3 and 5: cases per level and the re-escalated share
    ours = [c for c in seeded.cases if c[0] == "north" and seeded.start <= c[3] < seeded.end]
    for row in _csv(tables["cases"].text)[1:]:
        level = [c for c in ours if c[2] == row[1]]
        up = [c for c in level if max(c[4]) >= 1 or c[5]]
        share = f"{len(up) / len(level):.3f}" if level else ""
        assert row == [seeded.month, row[1], str(len(level)), str(len(up)), share]
        cells = _cells(html, "report-cases", f'data-level="{row[1]}"')
        assert cells[1:3] == [str(len(level)), str(len(up))]
    # 4: response times, nearest rank, against the targets
    times = _expected_times(seeded)
    for row in _csv(tables["response_times"].text)[1:]:
        assert row[3:7] == times[(row[1], row[2])], row
    target = {(r[1], r[2]): (r[7], r[8]) for r in _csv(tables["response_times"].text)[1:]}
    assert target[("high", "page_to_attempt")] == ("1800", "")
    assert target[("low", "page_to_reached")] == ("", "3")
    # 6: mood series: P-1 3 → 7 (days 3 and 10), P-2 baseline 6 → 4
    series = _csv(tables["mood_series"].text)[1:]
    assert [(r[0], r[3], r[4], r[5], r[6], r[7]) for r in series] == [
        ("P-1", "2", "3", "answer", "7", "4"),
        ("P-2", "1", "6", "baseline", "4", "-2"),
    ]
    assert "Median change: +1 " in html and 'id="mood-series-chart"' in html
    # 7: moderate or high case, no active plan
    plans = {"P-2": "active", "P-3": "not_active"}  # as seeded; P-1 has none
    serious = [c for c in ours if c[2] in ("high", "moderate")]
    want = []
    for ref in sorted({c[1] for c in serious}):
        theirs = [c for c in serious if c[1] == ref]
        if plans.get(ref) != "active":
            top = "high" if any(c[2] == "high" for c in theirs) else "moderate"
            want.append([ref, top, str(len(theirs)), plans.get(ref, "none")])
    assert _csv(tables["without_safety_plan"].text)[1:] == want
    assert [r[0] for r in want] == ["P-1", "P-3"]  # the seed says what it tests
    # refusals: on the page, 400, never a 500
    assert bad.status_code == 400 and "YYYY-MM" in bad.text
    assert future.status_code == 400 and "has not begun" in future.text
    assert no_table.status_code == 400


async def test_the_report_needs_a_session(
    sandbox: BotApiSandbox, test_db: IsolatedDatabase
) -> None:
    async with console_bot(sandbox, test_db) as app, httpx.AsyncClient(timeout=10) as anonymous:
        assert (await anonymous.get(f"{app.base}/report")).status_code == 401
        assert (await anonymous.get(f"{app.base}/report.csv?table=cases")).status_code == 401

"""The Response times page and its CSV: the four durations per case and per level, only the
viewer's clinic (CLINICAL.md §10)."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import httpx
from sqlalchemy import select

from bot.domain.levels import Level
from sandbox import BotApiSandbox
from storage.models import Case, Clinician, Outreach, Page
from storage.states import OutreachMethod, OutreachOutcome, PageStatus
from tests.auxil.console import ConsoleBot, console_bot, csrf_of, join, patient_with_case, sign_in
from tests.auxil.databases import IsolatedDatabase

ADA, SAM = 7001, 7002
MIN = timedelta(minutes=1)


async def _case_with_outreach(app: ConsoleBot, ref: str, clinic: str, clinician: str) -> int:
    """A high case paged a minute after it opened, acknowledged after 4 min, a first attempt
    (no answer) after 10 and the patient reached after 25 (minutes from the page)."""
    _, case = await patient_with_case(app, ref, clinic=clinic, level=Level.HIGH)
    assert case.id is not None
    async with app.bot.ctx.db.transaction() as session:
        who = await session.scalar(select(Clinician).where(Clinician.name == clinician))
        row = await session.get(Case, case.id)
        assert who is not None and who.id is not None and row is not None
        paged = row.opened_at + MIN
        row.first_paged_at = paged
        row.acknowledged_at, row.acknowledged_by = paged + 4 * MIN, who.id
        session.add(
            Page(
                case_id=case.id, clinician_id=who.id, step=0, status=PageStatus.SENT, sent_at=paged
            )
        )
        for minutes, outcome in ((10, OutreachOutcome.NO_ANSWER), (25, OutreachOutcome.REACHED)):
            session.add(
                Outreach(
                    case_id=case.id,
                    clinic_id=clinic,
                    patient_id=row.patient_id,
                    clinician_id=who.id,
                    method=OutreachMethod.PHONE,
                    outcome=outcome,
                    at=paged + minutes * MIN,
                    recorded_at=paged + minutes * MIN,
                )
            )
    return case.id


async def test_the_page_and_csv_show_a_cases_four_durations_for_its_clinic_only(
    sandbox: BotApiSandbox, test_db: IsolatedDatabase
) -> None:
    async with console_bot(sandbox, test_db) as app:
        await join(app, ADA, "Dr Ada")
        await join(app, SAM, "Dr Sam", clinic="south")
        ours = await _case_with_outreach(app, "P-100", "north", "Dr Ada")
        theirs = await _case_with_outreach(app, "P-200", "south", "Dr Sam")
        client = await sign_in(app, ADA)
        try:
            shown = await client.get(f"{app.base}/response-times")
            exported = await client.get(f"{app.base}/response-times.csv")
        finally:
            await client.aclose()
    assert shown.status_code == 200, shown.text[:300]
    html = shown.text
    assert f"#{ours}</a>" in html and "P-100" in html
    assert "P-200" not in html and f"#{theirs}</a>" not in html, "another clinic's case"
    row = html[html.index(f"#{ours}</a>") :].split("</tr>", 1)[0]
    assert [cell in row for cell in ("4 min", "10 min", "25 min", "26 min")] == [True] * 4
    assert 'role="img"' in html and "1.9 days" in html
    high_reached = html[html.index('id="response-30"') :].split("Page → patient reached", 1)[1]
    assert high_reached.split("</tr>", 1)[0].count("25 min") == 2  # median and p90 of one case
    assert exported.status_code == 200
    assert exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert [r["patient_ref"] for r in rows] == ["P-100"]
    assert (
        rows[0]["page_to_ack_seconds"],
        rows[0]["page_to_attempt_seconds"],
        rows[0]["page_to_reached_seconds"],
        rows[0]["answer_to_reached_seconds"],
    ) == ("240", "600", "1500", "1560")


async def test_the_page_needs_a_session(sandbox: BotApiSandbox, test_db: IsolatedDatabase) -> None:
    async with console_bot(sandbox, test_db) as app, httpx.AsyncClient(timeout=10) as anonymous:
        assert (await anonymous.get(f"{app.base}/response-times")).status_code == 401
        assert (await anonymous.get(f"{app.base}/response-times.csv")).status_code == 401


async def test_logged_outreach_feeds_the_response_time_histograms(
    sandbox: BotApiSandbox, test_db: IsolatedDatabase
) -> None:
    async with console_bot(sandbox, test_db) as app:
        await join(app, ADA, "Dr Ada")
        _, case = await patient_with_case(app, "P-300", level=Level.HIGH)
        async with app.bot.ctx.db.transaction() as session:
            row = await session.get(Case, case.id)
            assert row is not None
            row.first_paged_at = row.opened_at
        client = await sign_in(app, ADA)
        try:
            shown = await client.get(f"{app.base}/cases/{case.id}")
            csrf = csrf_of(shown.text)
            for outcome in ("no_answer", "reached", "reached"):
                logged = await client.post(
                    f"{app.base}/cases/{case.id}/outreach",
                    data={"csrf": csrf, "method": "phone", "outcome": outcome},
                )
                assert logged.status_code == 303, logged.text[:300]
        finally:
            await client.aclose()
        async with httpx.AsyncClient(timeout=10) as scraper:
            metrics = (await scraper.get(app.base.replace("/console", "/metrics"))).text
    # one first attempt, one first "reached" (the second reached is not a new one)
    assert 'aftercare_time_to_first_attempt_seconds_count{level="high"} 1.0' in metrics
    assert 'aftercare_time_to_reached_seconds_count{level="high"} 1.0' in metrics
    assert 'aftercare_answer_to_reached_seconds_count{level="high"} 1.0' in metrics

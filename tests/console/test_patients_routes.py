"""The patients list and a patient's timeline with its mood chart, in the console."""

from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import select

from sandbox import BotApiSandbox
from storage.models import Answer, AuditEvent, Checkin, Infusion, Patient
from storage.states import CheckinKind, CheckinStatus, InfusionStatus, Level
from tests.auxil.console import ConsoleBot, console_bot, join, patient_with_case, sign_in
from tests.auxil.databases import IsolatedDatabase

ADA, SOL = 7001, 7101
MOODS = [6, 3, 7]


async def _history(app: ConsoleBot, patient: Patient) -> None:
    """An infusion and three answered check-ins a day apart; the second screened positive."""
    ctx = app.bot.ctx
    now = ctx.clock.now()
    start = now - timedelta(days=3)
    async with ctx.db.transaction() as session:
        infusion = Infusion(
            patient_id=patient.id or 0,
            ended_at=start,
            protocol="standard",
            status=InfusionStatus.ACTIVE,
            recorded_at=start,
            recorded_by="cli",
        )
        session.add(infusion)
        await session.flush()
        for day, mood in enumerate(MOODS, start=0):
            at = start + timedelta(days=day, hours=4)
            checkin = Checkin(
                patient_id=patient.id or 0,
                infusion_id=infusion.id,
                kind=CheckinKind.DAILY,
                day=day,
                nominal_at=at,
                due_at=at,
                sent_at=at,
                closed_at=at + timedelta(minutes=5),
                status=CheckinStatus.COMPLETED,
                risk_level=Level.MODERATE if day == 1 else Level.NONE,
                created_at=start,
            )
            session.add(checkin)
            await session.flush()
            values = {"mood": str(mood), "s1": "yes" if day == 1 else "no", "s2": "no"}
            for offset, (item, value) in enumerate(values.items()):
                session.add(
                    Answer(
                        patient_id=patient.id or 0,
                        checkin_id=checkin.id,
                        item_id=item,
                        value=value,
                        instrument_id="aftercare-mood" if item == "mood" else "cssrs-screener",
                        instrument_version="1",
                        answered_at=at + timedelta(seconds=offset + 1),
                    )
                )
        session.add(
            Answer(
                patient_id=patient.id or 0,
                checkin_id=None,
                item_id="message",
                value="Feeling <b>low</b> tonight",
                instrument_id="free-text",
                instrument_version="1",
                answered_at=now - timedelta(hours=1),
            )
        )


async def test_the_timeline_shows_answers_words_cases_and_the_chart(
    sandbox: BotApiSandbox, test_db: IsolatedDatabase
) -> None:
    async with console_bot(sandbox, test_db) as app:
        await join(app, ADA, "Dr Ada")
        patient, case = await patient_with_case(app, "P-001")
        await _history(app, patient)
        client = await sign_in(app, ADA)
        listed = await client.get(f"{app.base}/patients")
        assert listed.status_code == 200
        row = re.search(r"<tr>\s*<th scope=\"row\"><a [^>]*>P-001</a>.*?</tr>", listed.text, re.S)
        assert row, listed.text
        assert "7/10" in row.group(0) and "(6)" in row.group(0)  # last mood, baseline
        assert f"#{case.id} HIGH" in row.group(0)
        assert "3/3 (100%)" in row.group(0)
        page = await client.get(f"{app.base}/patients/P-001")
        assert page.status_code == 200
        text = page.text
        # The chart: inline SVG with its accessible title, beside the same numbers as a table.
        svg = re.search(r"<svg.*?</svg>", text, re.S)
        assert svg and 'role="img"' in svg.group(0) and "<title" in svg.group(0)
        table = re.search(r'<table class="data" id="chart-table">.*?</table>', text, re.S)
        assert table is not None
        assert [int(m) for m in re.findall(r"</td><td>(\d+)</td><td>", table.group(0))] == MOODS
        assert "positive" in table.group(0) and "negative" in table.group(0)
        # The timeline: answers, the typed words (escaped), the case and its page.
        assert "Feeling &lt;b&gt;low&lt;/b&gt; tonight" in text and "<b>low</b>" not in text
        assert f"Case #{case.id}" in text and "Paged Dr Ada" in text
        assert "Infusion #" in text
        async with app.bot.ctx.db.transaction() as session:
            views = (
                await session.scalars(
                    select(AuditEvent).where(AuditEvent.event == "console.viewed_patient")
                )
            ).all()
        assert [(v.patient_id, v.actor) for v in views] == [(patient.id, "clinician:1")]
        # Sorting and filtering keep to known values; nonsense falls back to the defaults.
        risky = await client.get(f"{app.base}/patients", params={"risk": "high", "sort": "x"})
        assert "P-001" in risky.text and "1 of 1 patients" in risky.text
        calm = await client.get(f"{app.base}/patients", params={"status": "active"})
        assert "0 of 1 patients" in calm.text  # P-001 is invited, not active
        await client.aclose()


async def test_another_clinics_patient_is_not_found(
    sandbox: BotApiSandbox, test_db: IsolatedDatabase
) -> None:
    async with console_bot(sandbox, test_db) as app:
        await join(app, SOL, "Dr Sol", clinic="south")
        patient, _ = await patient_with_case(app, "NORTH-9")
        await _history(app, patient)
        client = await sign_in(app, SOL)
        listed = await client.get(f"{app.base}/patients")
        assert "NORTH-9" not in listed.text and "0 of 0 patients" in listed.text
        for ref in ("NORTH-9", "x" * 200, "..%2F..%2Fetc"):
            seen = await client.get(f"{app.base}/patients/{ref}")
            assert seen.status_code == 404
            assert "Feeling" not in seen.text and "NORTH-9" not in seen.text
        await client.aclose()

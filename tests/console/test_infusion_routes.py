"""Recording, moving and cancelling infusions in the console: the stored check-ins change as
they do through the CLI (`record_infusion` / `change_infusion` on a twin patient), and the
pages show the plan before and after in the patient's time; bad times change nothing."""

from __future__ import annotations

import html
import re
from datetime import datetime, timedelta

import httpx
import pytest
from sqlalchemy import select

from bot.console.web import local_time
from bot.services.enrollment import enroll_patient
from bot.services.infusions import change_infusion, record_infusion
from sandbox import BotApiSandbox
from storage.models import AuditEvent, Checkin, Infusion, Patient
from storage.states import CheckinStatus, InfusionStatus
from tests.auxil.console import ConsoleBot, console_bot, csrf_of, join, sign_in
from tests.auxil.databases import IsolatedDatabase
from tests.auxil.wall_clock import clock_at

ADA, SOL = 7001, 7101
PZONE = "Europe/Berlin"  # the patients' zone; the clinic's (North) is America/New_York
FORM = "%Y-%m-%dT%H:%M"
# The bot's clock reads 15:00 UTC (16:00 in Berlin, 10:00 in New York) whatever the hour:
# an infusion ended an hour ago, or two hours before that, is planned outside quiet hours.
AFTERNOON = "15:00"


async def _patient(app: ConsoleBot, ref: str) -> Patient:
    ctx = app.bot.ctx
    async with ctx.db.transaction() as session:
        patient, _ = await enroll_patient(
            session,
            clinic=ctx.clinic("north"),
            ref=ref,
            timezone=PZONE,
            baseline_mood=None,
            emergency_contact=None,
            now=ctx.clock.now(),
            actor="cli",
        )
    return patient


def _form(at: datetime, app: ConsoleBot) -> str:
    return at.astimezone(app.bot.ctx.clinic("north").zone).strftime(FORM)


def _minute(at: datetime) -> datetime:
    return at.replace(second=0, microsecond=0)


async def _plan(app: ConsoleBot, patient_id: int | None) -> list[Checkin]:
    """The patient's check-ins planned and not yet sent, soonest first."""
    async with app.bot.ctx.db.transaction() as session:
        rows = await session.scalars(
            select(Checkin)
            .where(Checkin.patient_id == patient_id, Checkin.status == CheckinStatus.SCHEDULED)
            .order_by(Checkin.due_at)
        )
        return list(rows.all())


def _shape(rows: list[Checkin]) -> list[tuple[str, int | None, int | None, datetime]]:
    return [(r.kind, r.offset_seconds, r.day, r.due_at) for r in rows]


def _shown(page: httpx.Response, dom_id: str) -> list[str]:
    """The planned check-ins a list on the page shows: their times, as shown."""
    listed = re.search(rf'<ol id="{dom_id}" class="plan">(.*?)</ol>', page.text, re.S)
    assert listed is not None, page.text[:3000]
    return [
        m.split(": ")[0] for m in re.findall(r'<li data-checkin="\d+">([^<]*)', listed.group(1))
    ]


def _times(rows: list[Checkin]) -> list[str]:
    return [local_time(r.due_at, PZONE) for r in rows]


async def _infusions(app: ConsoleBot, patient_id: int | None) -> list[Infusion]:
    async with app.bot.ctx.db.transaction() as session:
        rows = await session.scalars(select(Infusion).where(Infusion.patient_id == patient_id))
        return list(rows.all())


async def _events(app: ConsoleBot, event: str) -> list[AuditEvent]:
    async with app.bot.ctx.db.transaction() as session:
        rows = await session.scalars(select(AuditEvent).where(AuditEvent.event == event))
        return list(rows.all())


async def _as_the_cli(
    app: ConsoleBot, twin: Patient, ended_at: datetime | None, **kw: object
) -> None:
    """The same change to the twin patient through the services the CLI calls."""
    ctx = app.bot.ctx
    async with ctx.db.transaction() as session:
        row = await session.get(Patient, twin.id)
        assert row is not None
        if "infusion" not in kw:
            assert ended_at is not None
            await record_infusion(
                session,
                patient=row,
                clinic=ctx.clinic("north"),
                ended_at=ended_at,
                protocol=None,
                now=ctx.clock.now(),
                actor="cli",
            )
            return
        infusion = await session.get(Infusion, kw["infusion"])
        assert infusion is not None
        await change_infusion(
            session,
            infusion=infusion,
            patient=row,
            clinic=ctx.clinic("north"),
            now=ctx.clock.now(),
            actor="cli",
            ended_at=ended_at,
            cancel=ended_at is None,
        )


@pytest.mark.usefixtures("any_hour")  # it failed at 02:40-02:55 UTC before its clock_at
async def test_record_move_and_cancel_plan_as_the_cli_does(
    sandbox: BotApiSandbox, test_db: IsolatedDatabase
) -> None:
    async with console_bot(sandbox, test_db, clock=clock_at(AFTERNOON)) as app:
        await join(app, ADA, "Dr Ada")  # not an admin: infusions are for every clinician
        patient, twin = await _patient(app, "P-1"), await _patient(app, "TWIN")
        client = await sign_in(app, ADA)
        timeline = await client.get(f"{app.base}/patients/P-1")
        assert 'href="/console/patients/P-1/infusions/new" id="record-infusion"' in timeline.text
        form = await client.get(f"{app.base}/patients/P-1/infusions/new")
        assert form.status_code == 200
        default = re.search(r'id="f-ended_at" name="ended_at" value="([^"]+)"', form.text)
        assert default is not None  # now, on the clinic's clock
        now = app.bot.ctx.clock.now()
        assert default.group(1) in {_form(now, app), _form(now - timedelta(minutes=1), app)}
        assert "America/New_York" in form.text
        csrf = csrf_of(form.text)
        # Record: the time on the form is the clinic's; the plan is the CLI's.
        ended = _minute(now - timedelta(hours=1))
        done = await client.post(
            f"{app.base}/patients/P-1/infusions", data={"csrf": csrf, "ended_at": _form(ended, app)}
        )
        assert done.status_code == 200, done.text
        (infusion,) = await _infusions(app, patient.id)
        assert infusion.ended_at == ended and infusion.protocol == "standard"
        await _as_the_cli(app, twin, ended)
        recorded = await _plan(app, patient.id)
        assert len(recorded) >= 2
        assert _shape(recorded) == _shape(await _plan(app, twin.id))
        assert _shown(done, "planned-before") == []
        assert _shown(done, "planned-after") == _times(recorded)
        assert "CET" in done.text or "CEST" in done.text  # the patient's time, marked
        events = await _events(app, "infusion.recorded")
        assert [(e.patient_id, e.actor) for e in events] == [
            (patient.id, "clinician:1"),
            (twin.id, "cli"),
        ]
        # The same form sent again (a reload): refused as a second entry of the same infusion.
        again = await client.post(
            f"{app.base}/patients/P-1/infusions", data={"csrf": csrf, "ended_at": _form(ended, app)}
        )
        assert again.status_code == 400 and 'id="err-ended_at"' in again.text
        assert f"Infusion #{infusion.id} already ends within an hour" in html.unescape(again.text)
        assert len(await _infusions(app, patient.id)) == 1
        # Move it two hours earlier.
        page = await client.get(f"{app.base}/patients/P-1/infusions/{infusion.id}")
        assert f'value="{_form(ended, app)}"' in page.text
        earlier = ended - timedelta(hours=2)
        moved = await client.post(
            f"{app.base}/patients/P-1/infusions/{infusion.id}/move",
            data={"csrf": csrf, "ended_at": _form(earlier, app)},
        )
        assert moved.status_code == 200, moved.text
        (twin_infusion,) = await _infusions(app, twin.id)
        await _as_the_cli(app, twin, earlier, infusion=twin_infusion.id)
        after_move = await _plan(app, patient.id)
        assert _shape(after_move) == _shape(await _plan(app, twin.id))
        assert _shape(after_move) != _shape(recorded)
        assert _shown(moved, "planned-before") == _times(recorded)
        assert _shown(moved, "planned-after") == _times(after_move)
        assert (await _infusions(app, patient.id))[0].ended_at == earlier
        assert [e.actor for e in await _events(app, "infusion.moved")] == ["clinician:1", "cli"]
        # Cancel it: nothing left planned.
        cancelled = await client.post(
            f"{app.base}/patients/P-1/infusions/{infusion.id}/cancel", data={"csrf": csrf}
        )
        assert cancelled.status_code == 200, cancelled.text
        await _as_the_cli(app, twin, None, infusion=twin_infusion.id)
        assert await _plan(app, patient.id) == [] == await _plan(app, twin.id)
        assert _shown(cancelled, "planned-before") == _times(after_move)
        assert _shown(cancelled, "planned-after") == []
        assert (await _infusions(app, patient.id))[0].status == InfusionStatus.CANCELLED
        # Cancelling again: a clear message, nothing changed.
        twice = await client.post(
            f"{app.base}/patients/P-1/infusions/{infusion.id}/cancel", data={"csrf": csrf}
        )
        assert twice.status_code == 400
        assert f"Infusion #{infusion.id} is already cancelled" in twice.text
        assert len(await _events(app, "infusion.cancelled")) == 2  # the console's and the twin's
        page = await client.get(f"{app.base}/patients/P-1/infusions/{infusion.id}")
        assert 'id="move-form"' not in page.text and 'id="cancel-form"' not in page.text
        await client.aclose()


async def test_bad_times_are_refused_beside_the_field_and_change_nothing(
    sandbox: BotApiSandbox, test_db: IsolatedDatabase
) -> None:
    async with console_bot(sandbox, test_db, clock=clock_at(AFTERNOON)) as app:
        await join(app, ADA, "Dr Ada")
        patient = await _patient(app, "P-2")
        client = await sign_in(app, ADA)
        csrf = csrf_of((await client.get(f"{app.base}/patients/P-2/infusions/new")).text)
        now = app.bot.ctx.clock.now()
        url = f"{app.base}/patients/P-2/infusions"
        for value, message in [
            ("", "Enter the date and time"),
            ("yesterday", "Not a date and time"),
            (_form(now + timedelta(hours=2), app), "That is later than now ("),
            (_form(now + timedelta(minutes=3), app), "in the clinic's time): record an infusion"),
            (_form(now - timedelta(days=40), app), "more than 30 days ago"),
            ("2025-03-09T02:30", "does not exist in America/New_York"),  # clocks went forward
            ("9999-12-31T23:59", "too far in the past or future"),  # past year 9999 in UTC
            ("0001-01-01T00:00", "more than 30 days ago"),
        ]:
            bad = await client.post(url, data={"csrf": csrf, "ended_at": value})
            assert bad.status_code == 400, value
            assert 'id="err-ended_at"' in bad.text and message in html.unescape(bad.text), value
            assert f'value="{value}"' in bad.text  # kept
        protocol = await client.post(
            url, data={"csrf": csrf, "ended_at": _form(now, app), "protocol": "nope"}
        )
        assert protocol.status_code == 400 and 'id="err-protocol"' in protocol.text
        assert (await client.post(url, data={"ended_at": _form(now, app)})).status_code == 403
        assert await _infusions(app, patient.id) == [] and await _plan(app, patient.id) == []
        # A valid one, then a move to bad times: refused, nothing moved.
        ended = _minute(now - timedelta(hours=1))
        ok = await client.post(url, data={"csrf": csrf, "ended_at": _form(ended, app)})
        assert ok.status_code == 200
        (infusion,) = await _infusions(app, patient.id)
        planned = _shape(await _plan(app, patient.id))
        move = f"{app.base}/patients/P-2/infusions/{infusion.id}/move"
        for value in (
            "soon",
            _form(now + timedelta(days=2), app),
            _form(ended, app),
            "9999-12-31T23:59",
        ):
            bad = await client.post(move, data={"csrf": csrf, "ended_at": value})
            assert bad.status_code == 400 and 'id="err-ended_at"' in bad.text, value
            assert f'value="{value}"' in bad.text
        assert (await _infusions(app, patient.id))[0].ended_at == ended
        assert _shape(await _plan(app, patient.id)) == planned
        assert (await client.post(move, data={"ended_at": _form(now, app)})).status_code == 403
        assert await _events(app, "infusion.moved") == []
        await client.aclose()


async def test_another_clinics_or_patients_infusion_is_not_found(
    sandbox: BotApiSandbox, test_db: IsolatedDatabase
) -> None:
    async with console_bot(sandbox, test_db, clock=clock_at(AFTERNOON)) as app:
        await join(app, ADA, "Dr Ada")
        await join(app, SOL, "Dr Sol", clinic="south")
        patient, _ = await _patient(app, "NORTH-1"), await _patient(app, "NORTH-2")
        ada = await sign_in(app, ADA)
        csrf = csrf_of((await ada.get(f"{app.base}/patients/NORTH-1/infusions/new")).text)
        ended = _form(app.bot.ctx.clock.now() - timedelta(hours=1), app)
        await ada.post(
            f"{app.base}/patients/NORTH-1/infusions", data={"csrf": csrf, "ended_at": ended}
        )
        (infusion,) = await _infusions(app, patient.id)
        planned = _shape(await _plan(app, patient.id))
        # Under another patient's reference, the infusion does not exist.
        for path in (
            f"/patients/NORTH-2/infusions/{infusion.id}",
            "/patients/NORTH-1/infusions/x",
            "/patients/NORTH-1/infusions/²",  # a digit to str.isdigit, not to int()
            f"/patients/NORTH-1/infusions/{infusion.id}²",
        ):
            assert (await ada.get(f"{app.base}{path}")).status_code == 404, path
        wrong = await ada.post(
            f"{app.base}/patients/NORTH-2/infusions/{infusion.id}/cancel", data={"csrf": csrf}
        )
        assert wrong.status_code == 404
        sol = await sign_in(app, SOL)
        sol_csrf = csrf_of((await sol.get(f"{app.base}/enroll")).text)
        for method, path in [
            ("GET", "/patients/NORTH-1/infusions/new"),
            ("GET", f"/patients/NORTH-1/infusions/{infusion.id}"),
            ("POST", "/patients/NORTH-1/infusions"),
            ("POST", f"/patients/NORTH-1/infusions/{infusion.id}/move"),
            ("POST", f"/patients/NORTH-1/infusions/{infusion.id}/cancel"),
        ]:
            data = {"csrf": sol_csrf, "ended_at": ended} if method == "POST" else None
            seen = await sol.request(method, f"{app.base}{path}", data=data)
            assert seen.status_code == 404 and "NORTH-1" not in seen.text, path
        (still,) = await _infusions(app, patient.id)
        assert still.status == InfusionStatus.ACTIVE
        assert _shape(await _plan(app, patient.id)) == planned
        await ada.aclose()
        await sol.aclose()


async def test_the_form_says_its_rule_and_zones_and_warns_of_a_patient_not_in_telegram(
    sandbox: BotApiSandbox, test_db: IsolatedDatabase
) -> None:
    """ "Not later than now" is the rule (a minute of clock skew, the form's resolution); each
    time says whose zone it is in; a patient with no Telegram chat yet is warned of."""
    async with console_bot(sandbox, test_db, clock=clock_at(AFTERNOON)) as app:
        await join(app, ADA, "Dr Ada")
        patient = await _patient(app, "P-0042")  # invited, not joined: no chat yet
        client = await sign_in(app, ADA)
        form = await client.get(f"{app.base}/patients/P-0042/infusions/new")
        text = html.unescape(form.text)
        assert "in the clinic's time (America/New_York); not later than now" in text
        assert "in the future" not in text
        warning = "P-0042 has not joined in Telegram yet: no check-in can be sent until they do."
        assert 'id="not-joined"' in form.text and warning in text
        csrf = csrf_of(form.text)
        now = app.bot.ctx.clock.now()
        url = f"{app.base}/patients/P-0042/infusions"
        late = await client.post(
            url, data={"csrf": csrf, "ended_at": _form(now + timedelta(minutes=3), app)}
        )
        assert late.status_code == 400 and "That is later than now" in html.unescape(late.text)
        assert await _infusions(app, patient.id) == []
        ended = _minute(now + timedelta(minutes=1))  # within the minute's skew: taken as now
        done = await client.post(url, data={"csrf": csrf, "ended_at": _form(ended, app)})
        assert done.status_code == 200, done.text
        shown = html.unescape(done.text)
        clinic_time = local_time(ended, "America/New_York")
        patient_time = local_time(ended, PZONE)
        assert (
            f"ended {clinic_time} in the clinic's time (America/New_York), "
            f"{patient_time} in the patient's time ({PZONE})"
        ) in shown
        assert 'id="not-joined"' in done.text and warning in shown
        (infusion,) = await _infusions(app, patient.id)
        assert infusion.ended_at == ended
        page = await client.get(f"{app.base}/patients/P-0042/infusions/{infusion.id}")
        assert f"{clinic_time} in the clinic's time (America/New_York)" in html.unescape(page.text)
        await client.aclose()

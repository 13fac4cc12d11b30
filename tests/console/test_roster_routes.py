"""The on-call roster in the console: the week as the pager resolves it, shifts added, changed
and ended through the forms (own shifts, or anyone's for admins), the gap warning, and the
weekly rotation edited live on a console-managed clinic."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from urllib.parse import urlencode

import httpx
from sqlalchemy import func, select

from bot.services.oncall import add_shift, who_is_on_call
from sandbox import BotApiSandbox
from storage.models import AuditEvent, Clinician, ClinicSettings, OnCallShift
from storage.states import CLI
from tests.auxil.console import ConsoleBot, console_bot, csrf_of, join, sign_in
from tests.auxil.databases import IsolatedDatabase
from tests.auxil.harness import make_clinics

ADMIN, BEN, SOL = 7001, 7002, 7101  # Admin Ada and Dr Ben at North; Admin Sol at South
CLINICS = """
[[clinics]]
id = "north"
name = "North Clinic"
timezone = "America/New_York"
contact_phone = "+1 555 0100"
managed_by = "console"

[[clinics]]
id = "south"
name = "South Clinic"
timezone = "Europe/Berlin"
contact_phone = "+49 30 0100"
"""
LOCAL = "%Y-%m-%dT%H:%M"


def _cell(html: str, day: str, hour: int) -> str:
    found = re.search(rf'<td id="h-{day}-{hour:02d}" class="([^"]*)">(.*?)</td>', html, re.S)
    assert found, f"no cell {day} {hour}"
    return f"{found.group(1)}|{found.group(2)}"


async def _id(app: ConsoleBot, user_id: int, clinic: str = "north") -> int:
    async with app.bot.ctx.db.transaction() as session:
        row = (
            await session.scalars(
                select(Clinician).where(
                    Clinician.telegram_user_id == user_id, Clinician.clinic_id == clinic
                )
            )
        ).first()
    assert row is not None and row.id is not None
    return row.id


async def _shift(app: ConsoleBot, name: str, start: datetime, end: datetime, **kw: str) -> int:
    ctx = app.bot.ctx
    clinic = kw.pop("clinic", "north")
    async with ctx.db.transaction() as session:
        shift, _ = await add_shift(
            session,
            clinic=ctx.clinic(clinic),
            clinician_name=name,
            starts_at=start,
            ends_at=end,
            now=ctx.clock.now(),
            actor=CLI,
            **kw,
        )
    assert shift.id is not None
    return shift.id


async def _shifts(app: ConsoleBot) -> list[tuple[int, int, str, datetime, datetime]]:
    async with app.bot.ctx.db.transaction() as session:
        rows = await session.scalars(
            select(OnCallShift).order_by(OnCallShift.id).execution_options(populate_existing=True)
        )
        return [(r.id or 0, r.clinician_id, str(r.role), r.starts_at, r.ends_at) for r in rows]


async def _events(app: ConsoleBot, event: str) -> list[AuditEvent]:
    async with app.bot.ctx.db.transaction() as session:
        rows = await session.scalars(select(AuditEvent).where(AuditEvent.event == event))
        return list(rows.all())


async def _page(client: httpx.AsyncClient, url: str) -> tuple[str, str]:
    shown = await client.get(url)
    assert shown.status_code == 200, shown.text
    return shown.text, csrf_of(shown.text)


async def test_the_week_shows_shifts_in_local_hours_gaps_and_who_is_on_call_now(
    sandbox: BotApiSandbox, test_db: IsolatedDatabase
) -> None:
    async with console_bot(sandbox, test_db) as app:
        await join(app, ADMIN, "Admin Ada")
        await join(app, BEN, "Dr Ben")
        zone = app.bot.ctx.clinic("north").zone
        now = app.bot.ctx.clock.now()
        tomorrow = now.astimezone(zone).date() + timedelta(days=1)
        after = tomorrow + timedelta(days=1)
        # Ben: tomorrow 20:00 to the day after 02:30, New York time (stored in UTC).
        start = datetime(tomorrow.year, tomorrow.month, tomorrow.day, 20, tzinfo=zone)
        await _shift(app, "Dr Ben", start, start + timedelta(hours=6, minutes=30))
        client = await sign_in(app, ADMIN)
        html, _ = await _page(client, f"{app.base}/roster")
        now_box = re.search(r'<section id="oncall-now".*?</section>', html, re.S)
        assert now_box and "No one on call" in now_box.group(0)
        assert 'class="oncall-now gap"' in now_box.group(0)
        assert "Dr Ben" in _cell(html, tomorrow.isoformat(), 20)
        assert _cell(html, tomorrow.isoformat(), 20).startswith("covered")
        evening = _cell(html, tomorrow.isoformat(), 19)
        assert evening.startswith("gap") and "no one on call" in evening and "Dr Ben" not in evening
        assert "Dr Ben" in _cell(html, after.isoformat(), 1)
        half = _cell(html, after.isoformat(), 2)  # Ben until 02:30, then nobody
        assert half.startswith("gap") and "Dr Ben" in half and "from 02:30" in half
        assert "no one on call" in half
        assert 'id="shifts"' in html and re.search(
            r'<tr id="shift-\d+">\s*<td data-label="Who">Dr Ben</td>', html
        )
        # Ada on call from now: the box says so, with when it ends.
        await _shift(app, "Admin Ada", now - timedelta(minutes=5), now + timedelta(hours=3))
        html, _ = await _page(client, f"{app.base}/roster")
        now_box = re.search(r'<section id="oncall-now".*?</section>', html, re.S)
        assert now_box and "Primary: <strong>Admin Ada</strong>" in now_box.group(0)
        ends = (now + timedelta(hours=3)).astimezone(zone).strftime("%H:%M")
        assert ends in now_box.group(0)
        await client.aclose()


async def test_shifts_are_added_changed_and_ended_through_the_forms(
    sandbox: BotApiSandbox, test_db: IsolatedDatabase
) -> None:
    async with console_bot(sandbox, test_db, clinics=make_clinics(CLINICS)) as app:
        await join(app, ADMIN, "Admin Ada")
        await join(app, BEN, "Dr Ben")
        await join(app, SOL, "Admin Sol", clinic="south")
        ben, ada = await _id(app, BEN), await _id(app, ADMIN)
        zone = app.bot.ctx.clinic("north").zone
        now = app.bot.ctx.clock.now()
        client = await sign_in(app, BEN)
        html, csrf = await _page(client, f"{app.base}/roster")
        assert 'id="add-shift"' in html
        # A clinician is offered only themself.
        assert re.findall(
            r'<option value="(\d+)"', html.split('id="f-clinician"')[1].split("</select>")[0]
        ) == [str(ben)]
        start = (
            (now + timedelta(hours=1)).astimezone(zone).replace(minute=0, second=0, microsecond=0)
        )
        form = {
            "csrf": csrf,
            "clinician": str(ben),
            "role": "primary",
            "starts_at": start.strftime(LOCAL),
            "ends_at": (start + timedelta(hours=4)).strftime(LOCAL),
        }
        # Bad input: shown beside the field, values kept, nothing stored.
        wrong = await client.post(
            f"{app.base}/roster/shifts",
            data={**form, "ends_at": (start - timedelta(hours=1)).strftime(LOCAL)},
        )
        assert wrong.status_code == 400
        assert re.search(
            r'id="err-shift-ends_at" role="alert">The shift must end after it starts', wrong.text
        )
        assert f'value="{form["starts_at"]}"' in wrong.text
        long = await client.post(
            f"{app.base}/roster/shifts",
            data={**form, "ends_at": (start + timedelta(days=15)).strftime(LOCAL)},
        )
        assert long.status_code == 400 and "at most 14 days" in long.text
        garbled = await client.post(f"{app.base}/roster/shifts", data={**form, "starts_at": "soon"})
        assert garbled.status_code == 400 and 'id="err-shift-starts_at"' in garbled.text
        # Someone else's shift: admins only.
        theirs = await client.post(
            f"{app.base}/roster/shifts", data={**form, "clinician": str(ada)}
        )
        assert theirs.status_code == 403
        no_csrf = await client.post(f"{app.base}/roster/shifts", data={**form, "csrf": ""})
        assert no_csrf.status_code == 403
        assert await _shifts(app) == []
        added = await client.post(f"{app.base}/roster/shifts", data=form)
        assert added.status_code == 303 and added.headers["location"].endswith("done=added")
        [(shift_id, who, role, starts, ends)] = await _shifts(app)
        assert (who, role, starts, ends) == (ben, "primary", start, start + timedelta(hours=4))
        [event] = await _events(app, "oncall.added")
        assert (
            event.actor == f"clinician:{ben}" and json.loads(event.detail)["shift_id"] == shift_id
        )
        shown, csrf = await _page(client, f"{app.base}/roster?done=added")
        assert "Shift added." in shown and f'id="shift-{shift_id}"' in shown
        # Making it a backup shift would leave the next 24 h without a primary for 4 hours:
        # a warning with the times, and nothing saved until confirmed.
        change = {**form, "csrf": csrf, "role": "backup"}
        change.pop("clinician")
        warned = await client.post(f"{app.base}/roster/shifts/{shift_id}", data=change)
        assert warned.status_code == 200 and 'id="gap-warning"' in warned.text
        gap_times = re.search(r'<ul id="gap-times">(.*?)</ul>', warned.text, re.S)
        assert gap_times and start.strftime("%H:%M") in gap_times.group(1)
        assert (start + timedelta(hours=4)).strftime("%H:%M") in gap_times.group(1)
        assert 'name="confirm" value="1"' in warned.text and "Save anyway" in warned.text
        assert (await _shifts(app))[0][2] == "primary"
        assert await _events(app, "oncall.changed") == []
        confirmed = await client.post(
            f"{app.base}/roster/shifts/{shift_id}", data={**change, "confirm": "1"}
        )
        assert confirmed.status_code == 303
        assert (await _shifts(app))[0][2] == "backup"
        [changed] = await _events(app, "oncall.changed")
        assert (
            json.loads(changed.detail)["before"]["role"] == "primary"
            and json.loads(changed.detail)["role"] == "backup"
        )
        assert len(json.loads(changed.detail)["gaps_confirmed"]) == 1
        # A change's errors, beside the field on the shift's own page.
        bad = await client.post(
            f"{app.base}/roster/shifts/{shift_id}", data={**change, "ends_at": form["starts_at"]}
        )
        assert bad.status_code == 400 and 'id="err-shift-ends_at"' in bad.text
        # Ending (cancelling: it has not started) a backup shift leaves no primary gap: at once.
        ended = await client.post(f"{app.base}/roster/shifts/{shift_id}/end", data={"csrf": csrf})
        assert ended.status_code == 303
        [(_, _, _, starts, ends)] = await _shifts(app)
        assert ends == starts
        [end_event] = await _events(app, "oncall.ended")
        assert json.loads(end_event.detail)["shift_ids"] == [shift_id]
        # Ada's shift (ahead) is not Ben's to change or end; Sol's (another clinic) is not there.
        adas = await _shift(
            app, "Admin Ada", now + timedelta(days=2), now + timedelta(days=2, hours=8)
        )
        sols = await _shift(app, "Admin Sol", now, now + timedelta(hours=8), clinic="south")
        before = await _shifts(app)
        refused = await client.post(f"{app.base}/roster/shifts/{adas}/end", data={"csrf": csrf})
        assert refused.status_code == 403
        assert (await client.get(f"{app.base}/roster/shifts/{sols}")).status_code == 404
        hidden = await client.post(f"{app.base}/roster/shifts/{sols}/end", data={"csrf": csrf})
        assert hidden.status_code == 404 and "No such shift here" in hidden.text
        other = await client.post(
            f"{app.base}/roster/shifts/{sols}", data={**change, "confirm": "1"}
        )
        assert other.status_code == 404
        assert await _shifts(app) == before
        await client.aclose()
        # An admin may change anyone's shift: Ada moves Ben... and ends her own now.
        admin = await sign_in(app, ADMIN)
        _, csrf = await _page(admin, f"{app.base}/roster")
        for_ben = await admin.post(
            f"{app.base}/roster/shifts",
            data={
                **form,
                "csrf": csrf,
                "starts_at": (start + timedelta(days=3)).strftime(LOCAL),
                "ends_at": (start + timedelta(days=3, hours=2)).strftime(LOCAL),
            },
        )
        assert for_ben.status_code == 303
        assert (await _shifts(app))[-1][1:3] == (ben, "primary")
        # Only the role changed: the times (stored to the second; the form has minutes) stay.
        page = await admin.get(f"{app.base}/roster/shifts/{adas}")
        shown_times = dict(re.findall(r'name="(starts_at|ends_at)" value="([^"]+)"', page.text))
        [exact] = [s for s in await _shifts(app) if s[0] == adas]
        assert exact[3].second or exact[3].microsecond  # the test means something
        role_only = await admin.post(
            f"{app.base}/roster/shifts/{adas}", data={"csrf": csrf, "role": "backup", **shown_times}
        )
        assert role_only.status_code == 303
        [after] = [s for s in await _shifts(app) if s[0] == adas]
        assert after[2:] == ("backup", exact[3], exact[4])
        cancelled = await admin.post(f"{app.base}/roster/shifts/{adas}/end", data={"csrf": csrf})
        assert cancelled.status_code == 303
        [gone] = [s for s in await _shifts(app) if s[0] == adas]
        assert gone[3] == gone[4]
        await admin.aclose()


FORM = {"content-type": "application/x-www-form-urlencoded"}


async def _post(
    client: httpx.AsyncClient, url: str, fields: list[tuple[str, str]]
) -> httpx.Response:
    """Post a form with repeated fields (the weekday checkboxes)."""
    return await client.post(url, content=urlencode(fields), headers=FORM)


def _rotation_form(
    csrf: str, based_on: int, slots: list[dict[str, object]], new: dict[str, object] | None = None
) -> list[tuple[str, str]]:
    fields = [("csrf", csrf), ("based_on", str(based_on)), ("count", str(len(slots)))]
    for n, slot in enumerate([*slots, new or {}]):
        prefix = f"slot{n}" if n < len(slots) else "new"
        for key, value in slot.items():
            if key == "days":
                fields.extend((f"{prefix}.days", str(d)) for d in value)  # type: ignore[attr-defined]
            else:
                fields.append((f"{prefix}.{key}", str(value)))
    return fields


async def _versions(app: ConsoleBot, clinic: str) -> int:
    async with app.bot.ctx.db.transaction() as session:
        return int(
            await session.scalar(
                select(func.count())
                .select_from(ClinicSettings)
                .where(ClinicSettings.clinic_id == clinic)
            )
            or 0
        )


async def test_the_rotation_is_edited_live_on_a_console_managed_clinic(
    sandbox: BotApiSandbox, test_db: IsolatedDatabase
) -> None:
    async with console_bot(sandbox, test_db, clinics=make_clinics(CLINICS)) as app:
        ctx = app.bot.ctx
        await join(app, ADMIN, "Admin Ada")
        await join(app, BEN, "Dr Ben")
        await join(app, SOL, "Admin Sol", clinic="south")
        ben = await _id(app, BEN)
        admin = await sign_in(app, ADMIN)
        html, csrf = await _page(admin, f"{app.base}/roster/rotation")
        assert 'id="rotation-form"' in html
        version = ctx.settings_versions["north"]
        stored = await _versions(app, "north")
        every_day = {
            "clinician": "Dr Ben",
            "role": "primary",
            "days": range(1, 8),
            "start": "00:00",
            "end": "00:00",
        }
        # Bad slot: beside its field, nothing saved.
        bad = await _post(
            admin,
            f"{app.base}/roster/rotation",
            _rotation_form(csrf, version, [], {**every_day, "days": []}),
        )
        assert bad.status_code == 400 and 'id="err-new-days"' in bad.text
        assert ctx.clinic("north").oncall.rotation == []
        # A clinician cannot change it.
        ben_client = await sign_in(app, BEN)
        _, ben_csrf = await _page(ben_client, f"{app.base}/roster/rotation")
        refused = await _post(
            ben_client,
            f"{app.base}/roster/rotation",
            _rotation_form(ben_csrf, version, [], every_day),
        )
        assert refused.status_code == 403
        assert ctx.clinic("north").oncall.rotation == [] and await _versions(app, "north") == stored
        # Ben every day around the clock: applies at once, as a new settings version.
        saved = await _post(
            admin, f"{app.base}/roster/rotation", _rotation_form(csrf, version, [], every_day)
        )
        assert saved.status_code == 303, saved.text
        [slot] = ctx.clinic("north").oncall.rotation
        assert (slot.clinician, slot.role, slot.days) == (
            "Dr Ben",
            "primary",
            [1, 2, 3, 4, 5, 6, 7],
        )
        assert ctx.settings_versions["north"] == version + 1
        assert await _versions(app, "north") == stored + 1
        async with ctx.db.transaction() as session:
            on_call = await who_is_on_call(session, clinic=ctx.clinic("north"), at=ctx.clock.now())
        assert on_call.primary == ben
        roster_html, _ = await _page(admin, f"{app.base}/roster")
        assert "Primary: <strong>Dr Ben</strong>" in roster_html
        assert "No gaps" in roster_html
        # A stale form: someone saved since.
        stale = await _post(
            admin, f"{app.base}/roster/rotation", _rotation_form(csrf, version, [], every_day)
        )
        assert stale.status_code == 409 and "Someone saved" in stale.text
        # Removing the slot leaves nobody on call: a warning first, saved only when confirmed.
        html, csrf = await _page(admin, f"{app.base}/roster/rotation")
        removal = _rotation_form(csrf, version + 1, [{**every_day, "remove": "1"}])
        warned = await _post(admin, f"{app.base}/roster/rotation", removal)
        assert warned.status_code == 200 and 'id="gap-warning"' in warned.text
        assert len(ctx.clinic("north").oncall.rotation) == 1
        # "Save anyway" sends the same fields again, with confirm=1.
        confirm_form = re.search(r'<form [^>]*id="confirm-form">(.*?)</form>', warned.text, re.S)
        assert confirm_form is not None
        again = re.findall(r'type="hidden" name="([^"]+)" value="([^"]*)"', confirm_form.group(1))
        assert sorted(again) == sorted([*removal, ("confirm", "1")])
        done = await _post(admin, f"{app.base}/roster/rotation", again)
        assert done.status_code == 303
        assert ctx.clinic("north").oncall.rotation == []
        assert ctx.settings_versions["north"] == version + 2
        assert len(await _events(app, "settings.saved")) == 2
        await admin.aclose()
        await ben_client.aclose()
        # South's settings come from the clinic file: shown, not editable.
        sol = await sign_in(app, SOL)
        html, csrf = await _page(sol, f"{app.base}/roster/rotation")
        assert "This clinic's settings come from the clinic file" in html
        assert 'id="rotation-form"' not in html
        south_version = ctx.settings_versions["south"]
        tried = await _post(
            sol,
            f"{app.base}/roster/rotation",
            _rotation_form(csrf, south_version, [], {**every_day, "clinician": "Admin Sol"}),
        )
        assert tried.status_code == 403
        assert (
            ctx.clinic("south").oncall.rotation == []
            and ctx.settings_versions["south"] == south_version
        )
        await sol.aclose()


async def test_a_shift_cannot_start_in_the_past_but_a_running_one_keeps_its_start(
    sandbox: BotApiSandbox, test_db: IsolatedDatabase
) -> None:
    async with console_bot(sandbox, test_db, clinics=make_clinics(CLINICS)) as app:
        await join(app, BEN, "Dr Ben")
        ben = await _id(app, BEN)
        zone = app.bot.ctx.clinic("north").zone
        now = app.bot.ctx.clock.now()
        client = await sign_in(app, BEN)
        _, csrf = await _page(client, f"{app.base}/roster")

        def local(at: datetime) -> str:
            return at.astimezone(zone).strftime(LOCAL)

        form = {"csrf": csrf, "clinician": str(ben), "role": "backup"}
        late = {**form, "starts_at": local(now - timedelta(hours=2)), "ends_at": local(now + H4)}
        refused = await client.post(f"{app.base}/roster/shifts", data=late)
        assert refused.status_code == 400
        assert re.search(
            r'id="err-shift-starts_at" role="alert">A shift cannot start in the past', refused.text
        )
        assert f'value="{late["starts_at"]}"' in refused.text  # kept
        assert await _shifts(app) == [] and await _events(app, "oncall.added") == []
        # "Now", typed a moment ago (the form has minutes only): accepted.
        just_now = {**late, "starts_at": local(now - timedelta(minutes=2))}
        added = await client.post(f"{app.base}/roster/shifts", data=just_now)
        assert added.status_code == 303
        # A running shift: its end or role may change while its start stays where it was...
        running = await _shift(app, "Dr Ben", now - timedelta(hours=3), now + timedelta(hours=1))
        page, csrf = await _page(client, f"{app.base}/roster/shifts/{running}")
        shown = dict(re.findall(r'name="(starts_at|ends_at)" value="([^"]+)"', page))
        longer = {"csrf": csrf, "role": "primary", **shown, "ends_at": local(now + H4)}
        kept = await client.post(f"{app.base}/roster/shifts/{running}", data=longer)
        assert kept.status_code == 303
        [(_, _, role, starts, ends)] = [s for s in await _shifts(app) if s[0] == running]
        assert (role, starts) == ("primary", now - timedelta(hours=3))
        assert ends.strftime(LOCAL) == (now + H4).strftime(LOCAL)
        # ...but its start cannot be moved to another time in the past.
        earlier = {**longer, "starts_at": local(now - timedelta(hours=5))}
        moved = await client.post(f"{app.base}/roster/shifts/{running}", data=earlier)
        assert moved.status_code == 400
        assert 'id="err-shift-starts_at"' in moved.text and "cannot start in the past" in moved.text
        assert next(s for s in await _shifts(app) if s[0] == running)[3] == starts
        assert len(await _events(app, "oncall.changed")) == 1
        await client.aclose()


H4 = timedelta(hours=4)


async def test_odd_numbers_and_dates_at_the_calendars_ends_are_refused_not_crashed_on(
    sandbox: BotApiSandbox, test_db: IsolatedDatabase
) -> None:
    async with console_bot(sandbox, test_db, clinics=make_clinics(CLINICS)) as app:
        await join(app, ADMIN, "Admin Ada")
        await join(app, SOL, "Admin Sol", clinic="south")
        ada = await _id(app, ADMIN)
        client = await sign_in(app, ADMIN)
        html, csrf = await _page(client, f"{app.base}/roster")
        # "²" is a digit to str.isdigit, which int() then refuses: not a number here.
        for raw in ("²", "1²", "9" * 10):
            assert (await client.get(f"{app.base}/roster/shifts/{raw}")).status_code == 404, raw
            ended = await client.post(f"{app.base}/roster/shifts/{raw}/end", data={"csrf": csrf})
            assert ended.status_code == 404, raw
        form = {
            "csrf": csrf,
            "clinician": str(ada),
            "role": "primary",
            "starts_at": re.findall(r'name="starts_at"[^>]*value="([^"]+)"', html)[0],
            "ends_at": re.findall(r'name="ends_at"[^>]*value="([^"]+)"', html)[0],
        }
        odd = await client.post(f"{app.base}/roster/shifts", data={**form, "clinician": "²"})
        assert odd.status_code == 400 and 'id="err-shift-clinician"' in odd.text
        # The first and last minutes of the calendar: a message beside the field.
        for field, value in [("starts_at", "9999-12-31T23:59"), ("ends_at", "9999-12-31T23:59")]:
            far = await client.post(f"{app.base}/roster/shifts", data={**form, field: value})
            assert far.status_code == 400, value
            assert re.search(rf'id="err-shift-{field}" role="alert">That date is too far', far.text)
        early = await client.post(
            f"{app.base}/roster/shifts", data={**form, "starts_at": "0001-01-01T00:00"}
        )
        assert early.status_code == 400 and "at most 14 days" in early.text  # New York: no overflow
        sol = await sign_in(app, SOL)  # South is Europe/Berlin: year 1 starts before UTC's
        _, sol_csrf = await _page(sol, f"{app.base}/roster")
        south = await sol.post(
            f"{app.base}/roster/shifts",
            data={
                **form,
                "csrf": sol_csrf,
                "clinician": str(await _id(app, SOL, "south")),
                "starts_at": "0001-01-01T00:00",
            },
        )
        assert south.status_code == 400
        assert re.search(r'id="err-shift-starts_at" role="alert">That date is too far', south.text)
        assert await _shifts(app) == []
        # The rotation form's numbers: the same.
        _, csrf = await _page(client, f"{app.base}/roster/rotation")
        slot = {"clinician": "Admin Ada", "role": "primary", "start": "08:00", "end": "20:00"}
        for fields in (
            [("csrf", csrf), ("based_on", "²"), ("count", "0")],
            [("csrf", csrf), ("based_on", "0"), ("count", "²")],
        ):
            sent = await _post(client, f"{app.base}/roster/rotation", fields)
            assert sent.status_code in (400, 409), fields
        version = app.bot.ctx.settings_versions["north"]
        days = _rotation_form(csrf, version, [], {**slot, "days": ["²", "1"]})
        refused = await _post(client, f"{app.base}/roster/rotation", days)
        assert refused.status_code == 400 and "Tick at least one weekday" in refused.text
        assert app.bot.ctx.clinic("north").oncall.rotation == []
        await client.aclose()
        await sol.aclose()

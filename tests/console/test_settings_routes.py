"""Clinic settings edited in the console: preview, save applied at once with unsent check-ins
re-planned, validation beside the field, permissions, file-managed clinics read-only, version
conflicts, history, compare and restore."""

from __future__ import annotations

import re
from datetime import time, timedelta
from typing import Any
from urllib.parse import urlencode

import httpx
from sqlalchemy import select

from bot.clinic_config import ClinicConfig
from bot.console.forms.settings import form_values
from bot.services.infusions import record_infusion
from sandbox import BotApiSandbox
from storage.models import AuditEvent, Checkin, ClinicSettings
from storage.states import CheckinStatus, Level
from tests.auxil.console import ConsoleBot, console_bot, csrf_of, join, patient_with_case, sign_in
from tests.auxil.databases import IsolatedDatabase
from tests.auxil.harness import make_clinics

ADMIN, BEN, SOLA = 7001, 7002, 7101  # Admin Ada and Ben at North; Admin Sol at South
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


FORM = {"content-type": "application/x-www-form-urlencoded"}


def posted(clinic: ClinicConfig, csrf: str, based_on: int, **changes: Any) -> str:
    """What the browser posts for the settings form, with `changes` (dots as `__`) applied;
    no csrf field when `csrf` is empty."""
    values = form_values(clinic)
    values.update({key.replace("__", "."): value for key, value in changes.items()})
    fields = [("csrf", csrf)] if csrf else []
    fields.append(("based_on", str(based_on)))
    for key, value in values.items():
        if isinstance(value, bool):
            if value:
                fields.append((key, "on"))
        elif isinstance(value, list):
            fields.extend((key, str(item)) for item in value)
        elif isinstance(value, time):
            fields.append((key, value.strftime("%H:%M")))
        else:
            fields.append((key, str(value)))
    return urlencode(fields)


async def _admin(app: ConsoleBot) -> tuple[httpx.AsyncClient, str]:
    await join(app, ADMIN, "Admin Ada")
    client = await sign_in(app, ADMIN)
    page = await client.get(f"{app.base}/settings")
    assert page.status_code == 200, page.text
    return client, csrf_of(page.text)


async def _versions(app: ConsoleBot, clinic_id: str = "north") -> list[int]:
    async with app.bot.ctx.db.transaction() as session:
        rows = await session.scalars(
            select(ClinicSettings.version).where(ClinicSettings.clinic_id == clinic_id)
        )
        return sorted(rows.all())


async def test_an_admin_previews_then_saves_a_schedule_and_it_applies_at_once(
    sandbox: BotApiSandbox, test_db: IsolatedDatabase
) -> None:
    async with console_bot(sandbox, test_db, clinics=make_clinics(CLINICS)) as app:
        ctx = app.bot.ctx
        client, csrf = await _admin(app)
        patient, _ = await patient_with_case(app, "P-1")
        now = ctx.clock.now()
        async with ctx.db.transaction() as session:
            await record_infusion(
                session,
                patient=patient,
                clinic=ctx.clinic("north"),
                ended_at=now,
                protocol=None,
                now=now,
                actor="cli",
            )
        north = ctx.clinic("north")
        change = {
            "protocol__standard__offsets": "6h, 24h",
            "protocol__standard__red_flags_at": "6h",
        }
        preview = await client.post(
            f"{app.base}/settings",
            headers=FORM,
            content=posted(north, csrf, 1, action="preview", preview_protocol="standard", **change),
        )
        assert preview.status_code == 200, preview.text
        assert 'id="settings-preview"' in preview.text
        before = re.search(r'<ol id="planned-before">(.*?)</ol>', preview.text, re.S)
        after = re.search(r'<ol id="planned-after">(.*?)</ol>', preview.text, re.S)
        assert before and after
        assert ": 4-hour check-in" in before.group(1) and ": 6-hour" not in before.group(1)
        assert ": 6-hour check-in" in after.group(1) and ": 4-hour" not in after.group(1)
        assert (
            '<p id="preview-replanned">1 patient with an active infusion would have their unsent '
            "check-ins re-planned.</p>" in preview.text
        )
        assert (
            "<li><strong>Check-ins after the infusion (standard protocol)</strong>: "
            "4 hours, 24 hours → 6 hours, 24 hours</li>" in preview.text
        )
        assert ctx.clinic("north").protocols["standard"].offsets[0] == timedelta(hours=4)
        assert await _versions(app) == [1], "a preview saves nothing"

        saved = await client.post(
            f"{app.base}/settings",
            headers=FORM,
            content=posted(north, csrf, 1, action="save", **change),
        )
        assert saved.status_code == 303
        shown = await client.get(f"{app.base}{saved.headers['location'].removeprefix('/console')}")
        assert (
            "Saved as version 2. 1 patient with an active infusion had their unsent check-ins "
            "re-planned." in shown.text
        )
        assert ctx.clinic("north").protocols["standard"].offsets[0] == timedelta(hours=6)
        assert ctx.settings_versions["north"] == 2
        async with ctx.db.transaction() as session:
            offsets = sorted(
                (
                    await session.scalars(
                        select(Checkin.offset_seconds).where(
                            Checkin.patient_id == patient.id,
                            Checkin.status == CheckinStatus.SCHEDULED,
                            Checkin.kind == "offset",
                        )
                    )
                ).all()
            )
            event = await session.scalar(
                select(AuditEvent).where(AuditEvent.event == "settings.saved")
            )
        assert offsets == [6 * 3600, 24 * 3600]
        assert event is not None and event.clinic_id == "north"
        await client.aclose()


async def test_invalid_settings_are_shown_beside_their_fields_and_nothing_is_saved(
    sandbox: BotApiSandbox, test_db: IsolatedDatabase
) -> None:
    async with console_bot(sandbox, test_db, clinics=make_clinics(CLINICS)) as app:
        client, csrf = await _admin(app)
        north = app.bot.ctx.clinic("north")
        cases = [
            ({"protocol__standard__offsets": "6 hours"}, "protocol-standard-offsets", "6 hours"),
            ({"checkins__reminder_after": "5h"}, "checkins-missed_after", "5h"),
            ({"ladder__high__0__after": "5m"}, "ladder-high-0-after", "5m"),
            ({"thresholds__mood_floor": "eleven"}, "thresholds-mood_floor", "eleven"),
            ({"thresholds__mood_floor": "11"}, "thresholds-mood_floor", "11"),
            ({"crisis__card": "   "}, "crisis-card", None),
            ({"quiet__start": "25:00"}, "quiet-start", "25:00"),
            ({"ladder__high__1__notify": []}, "ladder-high-1-after", None),
            ({"crisis__terms": "  "}, "crisis-terms", None),
            ({"invite_valid_for": "9999999999d"}, "invite_valid_for", "9999999999d"),
            ({"invite_valid_for": "365d"}, "invite_valid_for", "365d"),
            ({"protocol__standard__offsets": "4h, 60d"}, "protocol-standard-offsets", None),
            ({"timezone": "Mars/Olympus"}, "timezone", "Mars/Olympus"),
            ({"phone_country_code": "44"}, "phone_country_code", "44"),
        ]
        for change, field, kept in cases:
            answer = await client.post(
                f"{app.base}/settings",
                headers=FORM,
                content=posted(north, csrf, 1, action="save", **change),
            )
            assert answer.status_code == 400, (change, answer.text[:300])
            assert f'id="err-{field}"' in answer.text, (change, field)
            assert f'aria-describedby="err-{field}"' in answer.text, (change, field)
            if kept is not None:
                assert f'value="{kept}"' in answer.text, change
        assert await _versions(app) == [1]
        assert app.bot.ctx.settings_versions["north"] == 1
        await client.aclose()


async def test_only_admins_change_settings_and_file_managed_clinics_are_read_only(
    sandbox: BotApiSandbox, test_db: IsolatedDatabase
) -> None:
    async with console_bot(sandbox, test_db, clinics=make_clinics(CLINICS)) as app:
        ctx = app.bot.ctx
        await join(app, BEN, "Ben")
        await join(app, SOLA, "Admin Sol", clinic="south")
        ben = await sign_in(app, BEN)
        page = await ben.get(f"{app.base}/settings")
        assert page.status_code == 200
        assert "Only an admin of this clinic can change these settings." in page.text
        assert 'id="settings-save"' not in page.text
        refused = await ben.post(
            f"{app.base}/settings",
            headers=FORM,
            content=posted(ctx.clinic("north"), csrf_of(page.text), 1, action="save", name="Ben's"),
        )
        assert refused.status_code == 403
        assert "Only an admin" in refused.text

        sol = await sign_in(app, SOLA)
        page = await sol.get(f"{app.base}/settings")
        assert 'id="settings-readonly"' in page.text and "come from the clinic file" in page.text
        assert 'id="settings-save"' not in page.text
        refused = await sol.post(
            f"{app.base}/settings",
            headers=FORM,
            content=posted(ctx.clinic("south"), csrf_of(page.text), 1, action="save", name="X"),
        )
        assert refused.status_code == 403
        assert ctx.clinic("north").name == "North Clinic"
        assert ctx.clinic("south").name == "South Clinic"
        assert await _versions(app) == [1] and await _versions(app, "south") == [1]

        admin, _ = await _admin(app)
        forged = await admin.post(
            f"{app.base}/settings",
            headers=FORM,
            content=posted(ctx.clinic("north"), "", 1, action="save", name="Y"),
        )
        assert forged.status_code == 403
        assert await _versions(app) == [1]
        for client in (ben, sol, admin):
            await client.aclose()


async def test_a_stale_form_conflicts_and_versions_compare_and_restore(
    sandbox: BotApiSandbox, test_db: IsolatedDatabase
) -> None:
    async with console_bot(sandbox, test_db, clinics=make_clinics(CLINICS)) as app:
        ctx = app.bot.ctx
        client, csrf = await _admin(app)
        north = ctx.clinic("north")
        first = await client.post(
            f"{app.base}/settings",
            headers=FORM,
            content=posted(north, csrf, 1, action="save", **{"crisis__emergency_number": "112"}),
        )
        assert first.status_code == 303
        stale = await client.post(
            f"{app.base}/settings",
            headers=FORM,
            content=posted(north, csrf, 1, action="save", name="Somebody else's"),
        )
        assert stale.status_code == 409
        assert 'id="settings-conflict"' in stale.text
        # the form shown with the conflict still carries the version it was based on: saving
        # it again cannot overwrite what the other admin saved
        assert 'name="based_on" value="1"' in stale.text
        again = await client.post(
            f"{app.base}/settings",
            headers=FORM,
            content=posted(north, csrf, 1, action="save", name="Somebody else's"),
        )
        assert again.status_code == 409
        assert ctx.clinic("north").name == "North Clinic"
        assert ctx.clinic("north").crisis.emergency_number == "112"

        listing = await client.get(f"{app.base}/settings/versions")
        assert "Admin Ada" in listing.text and "2 (in use)" in listing.text
        compare = await client.get(f"{app.base}/settings/versions/2")
        assert (
            '<th scope="row">Emergency number</th><td class="setting-value">911</td>'
            '<td class="setting-value">112</td>' in compare.text
        )
        assert 'tabindex="0" role="region" aria-label="Settings changed from version 1 to 2"' in (
            compare.text
        )
        restored = await client.post(
            f"{app.base}/settings/versions/1/restore", data={"csrf": csrf, "based_on": "2"}
        )
        assert restored.status_code == 303
        assert ctx.clinic("north").crisis.emergency_number == "911"
        assert ctx.settings_versions["north"] == 3
        moved = await client.post(
            f"{app.base}/settings",
            headers=FORM,
            content=posted(ctx.clinic("north"), csrf, 3, action="save", timezone="Europe/Lisbon"),
        )
        assert moved.status_code == 303
        assert ctx.clinic("north").zone.key == "Europe/Lisbon"
        assert await _versions(app) == [1, 2, 3, 4]
        missing = await client.get(f"{app.base}/settings/versions/99")
        assert missing.status_code == 404
        other_clinic = await client.get(f"{app.base}/settings/versions/1?with=abc")
        assert other_clinic.status_code == 200
        await client.aclose()


async def test_a_rungs_channels_and_the_paging_settings_are_edited_and_kept(
    sandbox: BotApiSandbox, test_db: IsolatedDatabase
) -> None:
    async with console_bot(sandbox, test_db, clinics=make_clinics(CLINICS)) as app:
        ctx = app.bot.ctx
        client, csrf = await _admin(app)
        first = await client.post(
            f"{app.base}/settings",
            headers=FORM,
            content=posted(
                ctx.clinic("north"),
                csrf,
                1,
                action="save",
                ladder__high__0__channels=["telegram", "email", "pager"],
                paging__routing_key="NORTHKEY",
                paging__routing_keys__high="HIGHKEY",
                paging__digest_time="08:30",
            ),
        )
        assert first.status_code == 303
        north = ctx.clinic("north")
        assert north.escalation.high[0].channels == ["telegram", "email", "pager"]
        assert north.paging.routing_key == "NORTHKEY"
        assert north.paging.routing_keys == {Level.HIGH: "HIGHKEY"}
        assert north.paging.digest_time == time(8, 30)
        # a later save of something else keeps them (the form shows them ticked)
        second = await client.post(
            f"{app.base}/settings",
            headers=FORM,
            content=posted(north, csrf, 2, action="save", name="North, renamed"),
        )
        assert second.status_code == 303
        assert ctx.clinic("north").escalation.high[0].channels == ["telegram", "email", "pager"]
        assert ctx.clinic("north").paging.routing_key == "NORTHKEY"
        assert ctx.clinic("north").paging.digest_time == time(8, 30)
        bad = await client.post(
            f"{app.base}/settings",
            headers=FORM,
            content=posted(
                ctx.clinic("north"), csrf, 3, action="save", paging__webhook_url="ftp://x"
            ),
        )
        assert bad.status_code == 400 and 'id="err-paging-webhook_url"' in bad.text
        await client.aclose()


async def test_the_phone_country_code_is_set_and_unset_in_the_console(
    sandbox: BotApiSandbox, test_db: IsolatedDatabase
) -> None:
    async with console_bot(sandbox, test_db, clinics=make_clinics(CLINICS)) as app:
        ctx = app.bot.ctx
        client, csrf = await _admin(app)
        assert ctx.clinic("north").phone_country_code is None
        page = await client.get(f"{app.base}/settings")
        assert 'name="phone_country_code" value=""' in page.text
        for version, code, expected in ((1, " +44 ", "+44"), (2, "", None)):
            saved = await client.post(
                f"{app.base}/settings",
                headers=FORM,
                content=posted(
                    ctx.clinic("north"), csrf, version, action="save", phone_country_code=code
                ),
            )
            assert saved.status_code == 303, saved.text[:500]
            assert ctx.clinic("north").phone_country_code == expected
        await client.aclose()

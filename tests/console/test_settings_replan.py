"""The settings page an administrator can use (issue 28): the preview and the save of a schedule
change count the same patients (a patient with an active infusion whose check-ins were all sent
is re-planned by the save, so the preview counts them too); a failed save comes back with an
error summary in people's words; the read-only page says who can change the settings."""

from __future__ import annotations

from sqlalchemy import select

from bot.services.infusions import record_infusion
from sandbox import BotApiSandbox
from storage.models import Checkin
from storage.states import CheckinStatus
from tests.auxil.console import console_bot, csrf_of, join, patient_with_case, sign_in
from tests.auxil.databases import IsolatedDatabase
from tests.auxil.harness import make_clinics
from tests.console.test_settings_routes import BEN, CLINICS, FORM, _admin, posted


async def test_the_preview_counts_the_patients_the_save_replans(
    sandbox: BotApiSandbox, test_db: IsolatedDatabase
) -> None:
    async with console_bot(sandbox, test_db, clinics=make_clinics(CLINICS)) as app:
        ctx = app.bot.ctx
        client, csrf = await _admin(app)
        now = ctx.clock.now()
        patients = [(await patient_with_case(app, ref))[0] for ref in ("P-1", "P-2")]
        async with ctx.db.transaction() as session:
            for patient in patients:
                await record_infusion(
                    session,
                    patient=patient,
                    clinic=ctx.clinic("north"),
                    ended_at=now,
                    protocol=None,
                    now=now,
                    actor="cli",
                )
            sent = await session.scalars(
                select(Checkin).where(Checkin.patient_id == patients[1].id)
            )
            for checkin in sent.all():  # every check-in of P-2 already went out
                checkin.status = CheckinStatus.SENT
        north = ctx.clinic("north")
        change = {"protocol__standard__daily_days": "10"}

        preview = await client.post(
            f"{app.base}/settings",
            headers=FORM,
            content=posted(north, csrf, 1, action="preview", **change),
        )
        assert preview.status_code == 200, preview.text[:500]
        said = "2 patients with an active infusion would have their unsent check-ins re-planned."
        assert f'<p id="preview-replanned">{said}</p>' in preview.text
        assert (
            "<li><strong>Daily check-ins for (standard protocol)</strong>: 7 days → 10 days</li>"
            in preview.text
        )
        assert "protocols.standard" not in preview.text

        saved = await client.post(
            f"{app.base}/settings",
            headers=FORM,
            content=posted(north, csrf, 1, action="save", **change),
        )
        assert saved.status_code == 303
        assert "replanned=2" in saved.headers["location"]
        shown = await client.get(f"{app.base}{saved.headers['location'].removeprefix('/console')}")
        assert (
            "Saved as version 2. 2 patients with an active infusion had their unsent check-ins "
            "re-planned." in shown.text
        )
        await client.aclose()


async def test_a_failed_save_lists_each_problem_in_words_at_the_top_of_the_form(
    sandbox: BotApiSandbox, test_db: IsolatedDatabase
) -> None:
    async with console_bot(sandbox, test_db, clinics=make_clinics(CLINICS)) as app:
        client, csrf = await _admin(app)
        north = app.bot.ctx.clinic("north")
        refused = await client.post(
            f"{app.base}/settings",
            headers=FORM,
            content=posted(
                north, csrf, 1, action="save", protocol__standard__daily_days="91", crisis__terms=""
            ),
        )
        assert refused.status_code == 400
        html = refused.text
        summary = html.index('id="error-summary"')
        assert html.index('id="settings-form"') < summary < html.index('name="based_on"')
        assert "Not saved: 2 problems." in html
        assert (
            '<a href="#f-protocol-standard-daily_days">Daily check-ins for (standard protocol): '
            "at most 90 days</a>" in html
        )
        assert '<a href="#f-crisis-terms">Crisis words: give at least one crisis word</a>' in html
        assert 'id="err-protocol-standard-daily_days" role="alert">at most 90 days<' in html
        assert "Input should" not in html and "List should" not in html
        await client.aclose()


async def test_the_read_only_page_says_who_can_change_the_settings(
    sandbox: BotApiSandbox, test_db: IsolatedDatabase
) -> None:
    async with console_bot(sandbox, test_db, clinics=make_clinics(CLINICS)) as app:
        admin, _ = await _admin(app)
        await join(app, BEN, "Ben")
        ben = await sign_in(app, BEN)
        page = await ben.get(f"{app.base}/settings")
        assert page.status_code == 200 and csrf_of(page.text)
        assert "Only an admin of this clinic can change these settings." in page.text
        assert "This clinic's admin is <strong>Admin Ada</strong>: ask them" in page.text
        assert 'id="settings-bar"' not in page.text
        for client in (admin, ben):
            await client.aclose()

"""Enrolling in the console (the invite as a QR code and a working t.me link), a new invite in
place of the old one, and stopping or resuming a patient's check-ins: validation beside the
fields, CSRF, clinic isolation, audit rows, and what the patient is told in Telegram."""

from __future__ import annotations

import html
import json
import re
from datetime import timedelta

import httpx
import segno
from sqlalchemy import select

from bot.messaging import texts
from bot.services.infusions import record_infusion
from sandbox import BotApiSandbox
from storage.models import AuditEvent, Checkin, Invite, Patient
from storage.states import CheckinStatus, PatientStatus
from tests.auxil.console import ConsoleBot, console_bot, csrf_of, join, sign_in
from tests.auxil.databases import IsolatedDatabase

ADA, SOL = 7001, 7101  # Ada is a clinician (not an admin) at North, Sol at South
LINK = re.compile(r'id="invite-link"[^>]*>(https://t\.me/([A-Za-z0-9_]+)\?start=([A-Za-z0-9_-]+))<')


async def _form(client: httpx.AsyncClient, app: ConsoleBot) -> str:
    page = await client.get(f"{app.base}/enroll")
    assert page.status_code == 200
    return csrf_of(page.text)


async def _enroll(
    client: httpx.AsyncClient, app: ConsoleBot, ref: str, **fields: str
) -> httpx.Response:
    data = {"csrf": await _form(client, app), "ref": ref, "timezone": "Europe/London", **fields}
    return await client.post(f"{app.base}/enroll", data=data)


def _token(page: httpx.Response) -> tuple[str, str]:
    match = LINK.search(page.text)
    assert match, page.text[:2000]
    return match.group(1), match.group(3)


async def _patients(app: ConsoleBot) -> list[Patient]:
    async with app.bot.ctx.db.transaction() as session:
        return list((await session.scalars(select(Patient))).all())


async def _events(app: ConsoleBot, event: str) -> list[AuditEvent]:
    async with app.bot.ctx.db.transaction() as session:
        rows = await session.scalars(select(AuditEvent).where(AuditEvent.event == event))
        return list(rows.all())


async def _consent(app: ConsoleBot, user_id: int, token: str) -> None:
    """A new Telegram user opens the invite and agrees."""
    app.sandbox.add_user(user_id, "Pat")
    app.sandbox.send_text(user_id, f"/start {token}")
    prompt = await app.sandbox.wait_for_message(user_id, "Do you agree?", timeout=10)
    app.sandbox.tap(user_id, prompt["message_id"], button_text="I agree")
    await app.sandbox.wait_for_message(user_id, "you're enrolled", timeout=10)


async def test_enrolling_shows_a_qr_code_and_a_link_that_works(
    sandbox: BotApiSandbox, test_db: IsolatedDatabase
) -> None:
    async with console_bot(sandbox, test_db) as app:
        await join(app, ADA, "Dr Ada")  # not an admin: enrolling is for every clinician
        client = await sign_in(app, ADA)
        form = await client.get(f"{app.base}/enroll")
        assert 'id="f-timezone" name="timezone" list="zone-list" value="America/New_York"' in (
            form.text
        )
        assert '<option value="Europe/London">' in form.text
        done = await _enroll(
            client,
            app,
            "P-100",
            baseline_mood="5",
            phone="+44 7700 900123",
            emergency_name="Sam Doe",
            emergency_relation="sister",
            emergency_phone="+44 (0)20 7946 0000",
            protocol="",
        )
        assert done.status_code == 200, done.text
        assert done.headers["cache-control"] == "no-store"
        link, token = _token(done)
        assert link.startswith(f"https://t.me/{app.bot.ctx.settings.bot_username or ''}")
        # The QR code is inline SVG encoding exactly that link.
        qr = re.search(
            r'<figure class="invite-qr" id="invite-qr">\s*(<svg.*?</svg>)', done.text, re.S
        )
        assert qr is not None
        expected = segno.make(link, error="m").svg_inline(
            scale=4,
            border=2,
            dark="#000",
            light="#fff",
            title="Invite QR code",
            svgclass="qr",
            omitsize=True,
        )
        assert qr.group(1) == expected
        zone = app.bot.ctx.clinic("north").zone
        expires = app.bot.ctx.clock.now() + app.bot.ctx.clinic("north").invite_valid_for
        shown = re.search(r'id="invite-expires">([^<]+)<', done.text)
        assert shown is not None
        local = expires.astimezone(zone)
        assert f"{local:%a %d %b}" in shown.group(1) and str(local.tzname()) in shown.group(1)
        (patient,) = await _patients(app)
        assert (patient.ref, patient.timezone, patient.baseline_mood) == (
            "P-100",
            "Europe/London",
            5,
        )
        assert patient.emergency_contact is None and patient.protocol is None
        assert (patient.phone, patient.phone_e164) == ("+44 7700 900123", "+447700900123")
        assert (patient.emergency_name, patient.emergency_relation) == ("Sam Doe", "sister")
        assert patient.emergency_phone_e164 == "+442079460000"
        (event,) = await _events(app, "patient.enrolled")
        assert event.actor == "clinician:1" and event.patient_id == patient.id
        (contact,) = await _events(app, "patient.contact_changed")  # fields named, no values
        assert contact.patient_id == patient.id and "7946" not in contact.detail
        # The token is shown once: it is not stored, and no page shows it again.
        async with app.bot.ctx.db.transaction() as session:
            invites = (await session.scalars(select(Invite))).all()
        assert token not in {i.token_hash for i in invites}
        again = await client.get(f"{app.base}/patients/P-100")
        assert token not in again.text and 'id="reissue-invite"' in again.text
        # The link works: a new Telegram user opening it gets the consent screen.
        sandbox.add_user(8001, "Pat")
        sandbox.send_text(8001, f"/start {token}")
        await sandbox.wait_for_message(8001, "Do you agree?", timeout=10)
        await client.aclose()


async def test_a_new_invite_makes_the_old_one_stop_working(
    sandbox: BotApiSandbox, test_db: IsolatedDatabase
) -> None:
    async with console_bot(sandbox, test_db) as app:
        await join(app, ADA, "Dr Ada")
        client = await sign_in(app, ADA)
        _, old = _token(await _enroll(client, app, "P-101"))
        page = await client.get(f"{app.base}/patients/P-101")
        again = await client.post(
            f"{app.base}/patients/P-101/invite", data={"csrf": csrf_of(page.text)}
        )
        assert again.status_code == 200, again.text
        assert "every earlier invite of theirs no longer works" in again.text
        _, new = _token(again)
        assert new != old
        sandbox.add_user(8002, "Old")
        sandbox.send_text(8002, f"/start {old}")
        await sandbox.wait_for_message(8002, texts.INVITE_PROBLEMS["expired"], timeout=10)
        (event,) = await _events(app, "invite.reissued")
        assert (
            event.actor == "clinician:1" and len(json.loads(event.detail)["expired_invites"]) == 1
        )
        await _consent(app, 8003, new)
        (patient,) = await _patients(app)
        assert patient.status == PatientStatus.ACTIVE and patient.chat_id == 8003
        # Once joined, no new invite: it would not work for them; nothing changes.
        page = await client.get(f"{app.base}/patients/P-101")
        assert 'id="reissue-invite"' not in page.text
        refused = await client.post(
            f"{app.base}/patients/P-101/invite", data={"csrf": csrf_of(page.text)}
        )
        assert refused.status_code == 409 and "already joined" in refused.text
        assert len(await _events(app, "invite.reissued")) == 1
        await client.aclose()


async def test_bad_enrollments_show_the_problem_beside_the_field_and_store_nothing(
    sandbox: BotApiSandbox, test_db: IsolatedDatabase
) -> None:
    async with console_bot(sandbox, test_db) as app:
        await join(app, ADA, "Dr Ada")
        client = await sign_in(app, ADA)
        bad = await _enroll(
            client,
            app,
            "",
            timezone="Mars/Olympus",
            baseline_mood="11",
            emergency_name="Sam <b>",
            emergency_phone="12",
            protocol="nope",
        )
        assert bad.status_code == 400
        for field in ("ref", "timezone", "baseline_mood", "protocol", "emergency_phone"):
            assert f'id="err-{field}"' in bad.text, field
            assert f'id="f-{field}"' in bad.text
        assert "Enter the clinic's reference" in html.unescape(bad.text)
        assert 'value="Mars/Olympus"' in bad.text and 'value="11"' in bad.text
        assert 'value="Sam &lt;b&gt;"' in bad.text  # kept, escaped
        assert 'id="err-emergency_name"' not in bad.text
        assert "Start with + and the country code" in html.unescape(bad.text)
        for ref, mood, message in [
            ("x" * 65, "3", "At most 64 characters"),
            ("Jane Doe", "3", "never the patient's name"),
            ("P-1", "abc", "A whole number from 0 to 10"),
            ("P-1", "-1", "A whole number from 0 to 10"),
            ("P-1", "²", "A whole number from 0 to 10"),  # a digit to str.isdigit, not int()
            ("P-1", "٥", "A whole number from 0 to 10"),
        ]:
            refused = await _enroll(client, app, ref, baseline_mood=mood)
            assert refused.status_code == 400, (ref, mood)
            assert message in html.unescape(refused.text), (ref, mood)
        long_contact = await _enroll(
            client, app, "P-1", emergency_name="x" * 121, emergency_phone="+44 20 7946 0000"
        )
        assert long_contact.status_code == 400
        assert 'id="err-emergency_name"' in long_contact.text
        assert await _patients(app) == []
        # A reference already in use: refused beside the field, the first patient untouched.
        assert (await _enroll(client, app, "P-1", baseline_mood="4")).status_code == 200
        dup = await _enroll(client, app, "P-1", baseline_mood="9", timezone="Asia/Tokyo")
        assert dup.status_code == 400 and 'id="err-ref"' in dup.text
        assert "P-1 is already a patient of this clinic" in html.unescape(dup.text)
        assert "t.me" not in dup.text
        (patient,) = await _patients(app)
        assert (patient.baseline_mood, patient.timezone) == (4, "Europe/London")
        assert len(await _events(app, "patient.enrolled")) == 1
        # No CSRF token: 403, nothing stored.
        forged = await client.post(f"{app.base}/enroll", data={"ref": "P-2"})
        assert forged.status_code == 403
        assert [p.ref for p in await _patients(app)] == ["P-1"]
        # Stopping a patient who has not joined: nothing to stop, nothing changed.
        csrf = await _form(client, app)
        early = await client.post(
            f"{app.base}/patients/P-1/stop", data={"csrf": csrf, "reason": "clinical_decision"}
        )
        assert early.status_code == 400 and "has not joined yet" in early.text
        assert [p.status for p in await _patients(app)] == [PatientStatus.INVITED]
        assert await _events(app, "patient.stopped_by_clinic") == []
        await client.aclose()


async def test_another_clinics_patient_is_not_found(
    sandbox: BotApiSandbox, test_db: IsolatedDatabase
) -> None:
    async with console_bot(sandbox, test_db) as app:
        await join(app, ADA, "Dr Ada")
        await join(app, SOL, "Dr Sol", clinic="south")
        ada = await sign_in(app, ADA)
        _, token = _token(await _enroll(ada, app, "NORTH-1"))
        sol = await sign_in(app, SOL)
        csrf = csrf_of((await sol.get(f"{app.base}/enroll")).text)
        for path in ("invite", "stop", "resume"):
            seen = await sol.post(
                f"{app.base}/patients/NORTH-1/{path}",
                data={"csrf": csrf, "reason": "clinical_decision"},
            )
            assert seen.status_code == 404 and "NORTH-1" not in seen.text, path
        assert (await sol.get(f"{app.base}/patients/NORTH-1/monitoring")).status_code == 404
        assert (await sol.get(f"{app.base}/patients/{'x' * 100}/monitoring")).status_code == 404
        assert await _events(app, "invite.reissued") == []
        sandbox.add_user(8004, "Pat")
        sandbox.send_text(8004, f"/start {token}")  # the invite still works
        await sandbox.wait_for_message(8004, "Do you agree?", timeout=10)
        await ada.aclose()
        await sol.aclose()


async def _scheduled(app: ConsoleBot, patient_id: int) -> list[Checkin]:
    async with app.bot.ctx.db.transaction() as session:
        rows = await session.scalars(
            select(Checkin).where(
                Checkin.patient_id == patient_id, Checkin.status == CheckinStatus.SCHEDULED
            )
        )
        return list(rows.all())


async def test_stop_and_resume_do_what_stop_and_resume_do_in_telegram(
    sandbox: BotApiSandbox, test_db: IsolatedDatabase
) -> None:
    async with console_bot(sandbox, test_db) as app:
        await join(app, ADA, "Dr Ada")
        client = await sign_in(app, ADA)
        _, token = _token(await _enroll(client, app, "P-7"))
        await _consent(app, 8007, token)
        ctx = app.bot.ctx
        clinic = ctx.clinic("north")
        (patient,) = await _patients(app)
        assert patient.id is not None
        async with ctx.db.transaction() as session:
            row = await session.get(Patient, patient.id)
            assert row is not None
            await record_infusion(
                session,
                patient=row,
                clinic=clinic,
                ended_at=ctx.clock.now() - timedelta(hours=1),
                protocol=None,
                now=ctx.clock.now(),
                actor="cli",
            )
        planned = len(await _scheduled(app, patient.id))
        assert planned >= 2
        page = await client.get(f"{app.base}/patients/P-7")
        assert 'id="stop-link"' in page.text
        form = await client.get(f"{app.base}/patients/P-7/monitoring")
        assert 'id="stop-form"' in form.text
        csrf = csrf_of(form.text)
        # No reason: refused beside the choice, nothing changed.
        bare = await client.post(f"{app.base}/patients/P-7/stop", data={"csrf": csrf})
        assert bare.status_code == 400 and "Choose the reason" in bare.text
        assert len(await _scheduled(app, patient.id)) == planned
        assert (await client.post(f"{app.base}/patients/P-7/stop", data={})).status_code == 403
        assert (await _patients(app))[0].status == PatientStatus.ACTIVE
        last = sandbox.last_message(8007)
        after = int(last["message_id"]) if last else 0
        stopped = await client.post(
            f"{app.base}/patients/P-7/stop", data={"csrf": csrf, "reason": "treatment_ended"}
        )
        assert stopped.status_code == 200, stopped.text
        assert f"{planned} planned check-ins cancelled" in stopped.text
        assert "They have been told in Telegram" in stopped.text
        told = await sandbox.wait_for_message(8007, "Your check-ins are stopped", after=after)
        assert told["text"] == texts.stopped(clinic)  # the words of the patient's own /stop
        (row,) = await _patients(app)
        assert row.status == PatientStatus.OPTED_OUT and row.opted_out_at is not None
        assert await _scheduled(app, patient.id) == []
        (event,) = await _events(app, "patient.stopped_by_clinic")
        assert event.actor == "clinician:1"
        assert json.loads(event.detail) == {"was": "active", "reason": "treatment_ended",
                                "cancelled_checkins": planned}  # fmt: skip
        twice = await client.post(
            f"{app.base}/patients/P-7/stop", data={"csrf": csrf, "reason": "treatment_ended"}
        )
        assert twice.status_code == 400 and "already stopped" in twice.text
        assert len(await _events(app, "patient.stopped_by_clinic")) == 1
        # Resume: planned again from the infusion, audited with its reason, the patient told.
        page = await client.get(f"{app.base}/patients/P-7")
        assert 'id="resume-link"' in page.text and 'id="stop-link"' not in page.text
        resumed = await client.post(
            f"{app.base}/patients/P-7/resume", data={"csrf": csrf, "reason": "patient_asked"}
        )
        assert resumed.status_code == 200, resumed.text
        await sandbox.wait_for_message(8007, texts.resumed(clinic)[:40], after=after)
        (row,) = await _patients(app)
        assert row.status == PatientStatus.ACTIVE
        assert len(await _scheduled(app, patient.id)) == planned
        (event,) = await _events(app, "patient.resumed")
        assert (
            event.actor == "clinician:1" and json.loads(event.detail)["reason"] == "patient_asked"
        )
        await client.aclose()

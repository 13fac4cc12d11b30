"""Caring contacts in the console (CLINICAL.md §12): the patient page shows the track, the next
message in the patient's zone and the ones sent; any clinician of the clinic stops the track
(audited, a notice after); another clinic's clinician gets 404; a post without CSRF is refused."""

from __future__ import annotations

import json
from datetime import timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from bot.services.reaching import caring
from sandbox import BotApiSandbox
from storage.models import AuditEvent, Patient
from storage.models.care import CaringMessage, CaringTrack
from storage.states import CaringStatus, PatientStatus, clinician_actor
from tests.auxil.console import ConsoleBot, console_bot, csrf_of, join, patient_with_case, sign_in
from tests.auxil.databases import IsolatedDatabase

ADA, SOL = 7001, 7101  # Ada is a clinician at North, Sol at South


async def _with_track(app: ConsoleBot, ref: str) -> tuple[Patient, int]:
    """A patient of North on the default track, its first message sent a day ago."""
    patient, _ = await patient_with_case(app, ref)
    ctx = app.bot.ctx
    now = ctx.clock.now()
    async with ctx.db.transaction() as session:
        fresh = await session.get(Patient, patient.id)
        assert fresh is not None
        fresh.status = PatientStatus.ACTIVE  # as if they had joined
        track = await caring.start_track(
            session,
            patient=fresh,
            clinic=ctx.clinic("north"),
            reason=caring.CASE_RESOLVED,
            now=now - timedelta(days=2),
            actor=clinician_actor(1),
        )
        assert track is not None and track.id is not None
        await session.flush()
        first = await session.scalar(
            select(CaringMessage).where(
                CaringMessage.track_id == track.id, CaringMessage.number == 1
            )
        )
        assert first is not None
        first.status, first.sent_at = CaringStatus.SENT, now - timedelta(days=1)
        return fresh, track.id


async def _track(app: ConsoleBot, track_id: int) -> tuple[CaringTrack, list[CaringMessage]]:
    async with app.bot.ctx.db.transaction() as session:
        track = await session.get(CaringTrack, track_id)
        rows = await session.scalars(
            select(CaringMessage).where(CaringMessage.track_id == track_id)
        )
        assert track is not None
        return track, list(rows.all())


async def test_the_patient_page_shows_the_track_and_a_clinician_stops_it(
    sandbox: BotApiSandbox, test_db: IsolatedDatabase
) -> None:
    async with console_bot(sandbox, test_db) as app:
        await join(app, ADA, "Dr Ada")  # not an admin: any clinician of the clinic may
        client = await sign_in(app, ADA)
        patient, track_id = await _with_track(app, "P-1")
        _, messages = await _track(app, track_id)
        second = next(m for m in messages if m.number == 2)
        sent = next(m for m in messages if m.number == 1)
        zone = ZoneInfo(patient.timezone)

        page = await client.get(f"{app.base}/patients/P-1")
        assert page.status_code == 200, page.text[:500]
        assert 'id="caring-track"' in page.text and "Comtois" in page.text
        assert "a moderate or high case was resolved" in page.text
        assert "<strong>active</strong>" in page.text
        assert f"Next caring message: #2 on {second.due_at.astimezone(zone):%a %d %b %H:%M %Z}" in (
            page.text
        ), page.text[page.text.find('id="caring"') :][:800]
        assert f"<td>#1</td><td>{sent.sent_at.astimezone(zone):%a %d %b %H:%M %Z}" in page.text
        assert 'id="caring-stop"' in page.text

        # Without the form's CSRF token: 403, nothing changed.
        forged = await client.post(f"{app.base}/patients/P-1/caring/stop", data={})
        assert forged.status_code == 403
        assert (await _track(app, track_id))[0].status == CaringStatus.ACTIVE

        stopped = await client.post(
            f"{app.base}/patients/P-1/caring/stop", data={"csrf": csrf_of(page.text)}
        )
        assert stopped.status_code == 303
        assert stopped.headers["location"] == "/console/patients/P-1?done=caring#caring"
        track, messages = await _track(app, track_id)
        assert track.status == CaringStatus.STOPPED
        assert not [m for m in messages if m.status == CaringStatus.PENDING]
        async with app.bot.ctx.db.transaction() as session:
            event = await session.scalar(
                select(AuditEvent).where(AuditEvent.event == "caring.stopped")
            )
        assert event is not None and event.actor == "clinician:1"
        assert event.patient_id == patient.id and json.loads(event.detail)["track"] == track_id

        after = await client.get(f"{app.base}/patients/P-1?done=caring")
        assert 'id="caring-stopped"' in after.text and "Caring contacts stopped" in after.text
        assert "<strong>stopped</strong>" in after.text
        assert "No caring message planned." in after.text
        assert 'id="caring-stop"' not in after.text
        await client.aclose()


async def test_a_patient_without_a_track_and_another_clinics_clinician(
    sandbox: BotApiSandbox, test_db: IsolatedDatabase
) -> None:
    async with console_bot(sandbox, test_db) as app:
        await join(app, ADA, "Dr Ada")
        await join(app, SOL, "Dr Sol", clinic="south")
        await patient_with_case(app, "P-2")
        ada = await sign_in(app, ADA)
        none = await ada.get(f"{app.base}/patients/P-2")
        assert 'id="caring-none"' in none.text and 'id="caring-stop"' not in none.text
        _, track_id = await _with_track(app, "P-1")
        sol = await sign_in(app, SOL)
        own = await sol.get(f"{app.base}/enroll")
        refused = await sol.post(
            f"{app.base}/patients/P-1/caring/stop", data={"csrf": csrf_of(own.text)}
        )
        assert refused.status_code == 404
        assert (await _track(app, track_id))[0].status == CaringStatus.ACTIVE
        long_ref = await sol.post(
            f"{app.base}/patients/{'x' * 80}/caring/stop", data={"csrf": csrf_of(own.text)}
        )
        assert long_ref.status_code == 404
        await ada.aclose()
        await sol.aclose()

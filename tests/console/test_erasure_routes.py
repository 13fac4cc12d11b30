"""A patient's erasure and legal hold in the console (issue 31): an admin erases a patient who
joined, after typing their reference; the patient is told in their chat, the result page says
so, their page then shows none of their words, and the audit log has the tombstone. Refused,
with nothing erased: a non-admin (403), a mistyped reference (400, beside the field), a legal
hold or an unresolved case (the service's reason), a form without its CSRF token, another
clinic's patient (404). Placing and lifting the hold from the patient's page is audited."""

from __future__ import annotations

from datetime import timedelta

import httpx
from sqlalchemy import select
from sqlmodel import col

from bot.services.enrollment import enroll_patient
from sandbox import BotApiSandbox
from storage.models import Answer, AuditEvent, Patient
from storage.states import CLI, PatientStatus
from tests.auxil.console import ConsoleBot, console_bot, csrf_of, join, patient_with_case, sign_in
from tests.auxil.databases import IsolatedDatabase
from tests.auxil.journey import enrolled_patient

ADMIN, BEN, SOL, PAT = 7001, 7002, 7101, 7301  # admins of North and South, Ben, a patient
WORDS = (  # what the patient gave or wrote: none of it may be on their page once erased
    "Marisol Ibanez",
    "+1 555 0199 7788",
    "Rosa Quintero",
    "+1 555 0142 3344",
    "the bridge again tonight",
)


async def _joined_patient(app: ConsoleBot, ref: str) -> int:
    """A patient who joined in Telegram (the sandbox user PAT), with contacts and a message."""
    patient_id = await enrolled_patient(app.bot, PAT, ref, infusion=False)
    name, phone, contact, contact_phone, message = WORDS
    async with app.bot.ctx.db.transaction() as session:
        row = await session.get(Patient, patient_id)
        assert row is not None
        row.display_name, row.phone, row.phone_e164 = name, phone, phone.replace(" ", "")
        row.emergency_name, row.emergency_relation = contact, "sister"
        row.emergency_phone = contact_phone
        row.emergency_phone_e164 = contact_phone.replace(" ", "")
        row.emergency_contact = f"{contact} {contact_phone}"
        session.add(row)
        session.add(
            Answer(
                patient_id=patient_id,
                checkin_id=None,
                item_id="message",
                value=message,
                instrument_id="free-text",
                instrument_version="1",
                answered_at=app.bot.ctx.clock.now() - timedelta(hours=1),
            )
        )
    return patient_id


PRIVACY = ("patient.erased", "patient.legal_hold", "patient.legal_hold_lifted")


async def _events(app: ConsoleBot) -> list[str]:
    """The privacy events of the audit log, oldest first."""
    async with app.bot.ctx.db.transaction() as session:
        rows = await session.scalars(
            select(col(AuditEvent.event))
            .where(col(AuditEvent.event).in_(PRIVACY))
            .order_by(col(AuditEvent.id))
        )
        return list(rows.all())


async def _status(app: ConsoleBot, ref: str) -> PatientStatus:
    async with app.bot.ctx.db.transaction() as session:
        row = (await session.scalars(select(Patient).where(col(Patient.ref) == ref))).one()
    return PatientStatus(row.status)


async def _erase_form(client: httpx.AsyncClient, app: ConsoleBot, ref: str) -> str:
    form = await client.get(f"{app.base}/patients/{ref}/erase")
    assert form.status_code == 200, form.text[:500]
    return csrf_of(form.text)


async def test_an_admin_erases_a_patient_who_is_told_in_their_chat(
    sandbox: BotApiSandbox, test_db: IsolatedDatabase
) -> None:
    async with console_bot(sandbox, test_db) as app:
        await join(app, ADMIN, "Admin Ada")
        await _joined_patient(app, "P-1")
        client = await sign_in(app, ADMIN)
        try:
            before = await client.get(f"{app.base}/patients/P-1")
            assert 'id="privacy"' in before.text and "No legal hold stands." in before.text
            assert 'href="/console/patients/P-1/erase"' in before.text
            assert "the bridge again tonight" in before.text  # the seed shows what it claims
            form = await client.get(f"{app.base}/patients/P-1/erase")
            text = form.text
            assert form.status_code == 200 and "What is erased" in text and "What is kept" in text
            assert 'action="/console/export/fhir"' in text
            assert 'name="patient" value="P-1"' in text and 'name="bundle_type"' in text
            assert "CSV export" in text and 'value="patient_request"' in text
            assert "The patient asked for their data to be erased" in text
            assert "Erase for good" in text
            done = await client.post(
                f"{app.base}/patients/P-1/erase",
                data={"csrf": csrf_of(text), "basis": "patient_request", "confirm": "P-1"},
            )
            assert done.status_code == 200, done.text[:800]
            assert "P-1 was erased on" in done.text
            assert "was told in their Telegram chat" in done.text
            assert 'href="/console/patients/P-1"' in done.text
            told = await sandbox.wait_for_message(PAT, "has erased what you wrote", timeout=10)
            assert "North Clinic" in told["text"]
            after = await client.get(f"{app.base}/patients/P-1")
            assert after.status_code == 200 and "Erased on" in after.text
            assert [w for w in WORDS if w in after.text] == []
            assert 'id="erase-link"' not in after.text
            again = await client.get(f"{app.base}/patients/P-1/erase")
            assert again.status_code == 200 and "was erased on" in again.text
            assert 'id="erase-form"' not in again.text
            # nothing of an erased patient's is stored again: no forms, and a post is refused
            assert 'id="patient-contact' not in after.text and 'id="safety-plan"' not in after.text
            csrf = csrf_of(after.text)
            for path, fields in (
                ("contact", {"phone": "+1 555 0100 9999"}),
                ("plan", {"step4": "Rosa +1 555 0100 9999"}),
            ):
                stored = await client.post(
                    f"{app.base}/patients/P-1/{path}", data={"csrf": csrf, **fields}
                )
                assert stored.status_code == 409 and "was erased" in stored.text, path
        finally:
            await client.aclose()
        assert await _status(app, "P-1") is PatientStatus.ERASED
        assert await _events(app) == ["patient.erased"]


async def test_an_unresolved_case_refuses_and_a_patient_never_joined_has_nobody_to_tell(
    sandbox: BotApiSandbox, test_db: IsolatedDatabase
) -> None:
    async with console_bot(sandbox, test_db) as app:
        await join(app, ADMIN, "Admin Ada")
        await patient_with_case(app, "P-2")
        async with app.bot.ctx.db.transaction() as session:
            await enroll_patient(
                session,
                clinic=app.bot.ctx.clinic("north"),
                ref="P-3",
                timezone="Europe/Berlin",
                baseline_mood=None,
                emergency_contact=None,
                now=app.bot.ctx.clock.now(),
                actor=CLI,
            )
        client = await sign_in(app, ADMIN)
        try:
            csrf = await _erase_form(client, app, "P-2")
            # An unresolved case: the service's reason in the form's summary, nothing erased.
            refused = await client.post(
                f"{app.base}/patients/P-2/erase",
                data={"csrf": csrf, "basis": "retention", "confirm": "P-2"},
            )
            assert refused.status_code == 409 and 'id="error-summary"' in refused.text
            assert "has a case that is not resolved" in refused.text
            assert await _status(app, "P-2") is not PatientStatus.ERASED
            assert await _events(app) == []
            done = await client.post(
                f"{app.base}/patients/P-3/erase",
                data={"csrf": csrf, "basis": "no_longer_treated", "confirm": "P-3"},
            )
            assert done.status_code == 200 and "P-3 was erased on" in done.text
            assert "never linked a Telegram chat" in done.text
            assert "The clinic no longer treats the patient" in done.text
        finally:
            await client.aclose()
        assert await _status(app, "P-3") is PatientStatus.ERASED
        assert await _events(app) == ["patient.erased"]


async def test_refusals_change_nothing_and_the_hold_is_audited(
    sandbox: BotApiSandbox, test_db: IsolatedDatabase
) -> None:
    async with console_bot(sandbox, test_db) as app:
        await join(app, ADMIN, "Admin Ada")
        await join(app, BEN, "Dr Ben")
        await join(app, SOL, "Admin Sol", clinic="south")
        await _joined_patient(app, "P-1")
        await patient_with_case(app, "SOUTH-1", clinic="south")
        erase = f"{app.base}/patients/P-1/erase"
        hold = f"{app.base}/patients/P-1/hold"
        good = {"basis": "patient_request", "confirm": "P-1"}

        ben = await sign_in(app, BEN)  # not an admin: 403 with the refusal page, on each
        try:
            page = await ben.get(f"{app.base}/patients/P-1")
            assert 'id="privacy"' not in page.text
            csrf = csrf_of(page.text)
            seen = await ben.get(erase)
            assert seen.status_code == 403 and "Only an admin of this clinic" in seen.text
            posted = await ben.post(erase, data={"csrf": csrf, **good})
            assert posted.status_code == 403 and "Only an admin of this clinic" in posted.text
            held = await ben.post(hold, data={"csrf": csrf, "hold": "place"})
            assert held.status_code == 403
        finally:
            await ben.aclose()

        client = await sign_in(app, ADMIN)
        try:
            csrf = await _erase_form(client, app, "P-1")
            # Without the CSRF token: refused.
            bare = await client.post(erase, data=good)
            assert bare.status_code == 403 and "did not come from this console" in bare.text
            bare = await client.post(hold, data={"hold": "place"})
            assert bare.status_code == 403
            # A mistyped reference: the form again, the problem beside the field.
            typo = await client.post(erase, data={"csrf": csrf, **good, "confirm": "P-I"})
            assert typo.status_code == 400 and 'id="err-confirm"' in typo.text
            assert 'id="error-summary"' in typo.text and "exactly as shown" in typo.text
            assert 'value="patient_request" id="f-basis" checked' in typo.text
            nobasis = await client.post(erase, data={"csrf": csrf, "confirm": "P-1"})
            assert nobasis.status_code == 400 and 'id="err-basis"' in nobasis.text
            # The hold, placed from the patient's page: erasing is refused with the reason.
            placed = await client.post(
                hold, data={"csrf": csrf, "hold": "place"}, follow_redirects=True
            )
            assert placed.status_code == 200 and "Legal hold placed." in placed.text
            assert "A legal hold stands" in placed.text and "Lift the legal hold" in placed.text
            held = await client.post(erase, data={"csrf": csrf, **good})
            assert held.status_code == 409 and "is under a legal hold" in held.text
            assert 'id="error-summary"' in held.text
            lifted = await client.post(
                hold, data={"csrf": csrf, "hold": "lift"}, follow_redirects=True
            )
            assert lifted.status_code == 200 and "Legal hold lifted." in lifted.text
            assert "No legal hold stands." in lifted.text
            bad = await client.post(hold, data={"csrf": csrf, "hold": "maybe"})
            assert bad.status_code == 400
            # Another clinic's patient: not found, on every route.
            south = f"{app.base}/patients/SOUTH-1"
            assert (await client.get(f"{south}/erase")).status_code == 404
            other = await client.post(
                f"{south}/erase", data={"csrf": csrf, "basis": "retention", "confirm": "SOUTH-1"}
            )
            assert other.status_code == 404
            other = await client.post(f"{south}/hold", data={"csrf": csrf, "hold": "place"})
            assert other.status_code == 404
        finally:
            await client.aclose()
        assert await _status(app, "P-1") is not PatientStatus.ERASED
        assert await _status(app, "SOUTH-1") is not PatientStatus.ERASED
        assert await _events(app) == ["patient.legal_hold", "patient.legal_hold_lifted"]
        last = sandbox.last_message(PAT)
        assert last is None or "has erased" not in last["text"]  # the patient was told nothing

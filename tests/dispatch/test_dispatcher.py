"""The dispatcher's units: batch sizes, one check-in per patient, and one tick's send phase.

The tick tests call `Dispatcher.tick` directly (no Application, no polling) against a real
database and the sandbox Bot API over HTTP; each asserts what the patient's chat and the rows
say afterwards.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import select

from bot.dispatch.dispatcher import WAIT_FOR_INBOX, Dispatcher
from bot.dispatch.sending import Prompt, TickReport, claim_batch, one_per_patient
from sandbox import BotApiSandbox
from storage import audit, inbox
from storage.checkins import get_for_update
from storage.engine import Database
from storage.inbox import Arrival
from storage.models import Case, Checkin, Patient
from storage.states import CaseTrigger, CheckinKind, CheckinStatus, PatientStatus
from tests.auxil.outage import until_someone_waits
from tests.auxil.units import PATIENT_CHAT, seed_checkin, seed_patient, unit, utc


def test_claim_batch_without_a_limiter_is_the_whole_batch() -> None:
    assert claim_batch(0, batch=200) == 200


def test_claim_batch_under_the_limiter_is_about_two_seconds_of_sends() -> None:
    assert claim_batch(30, batch=200, workers=2, concurrency=16) == 30  # 30/s x 2 s / 2 workers
    assert claim_batch(1, batch=200, workers=2, concurrency=16) == 16  # never below concurrency
    assert claim_batch(1000, batch=200, workers=2, concurrency=16) == 200  # never above batch


def _prompt(checkin_id: int, patient_id: int, *, due_minute: int, red_flags: bool) -> Prompt:
    due = utc(2026, 6, 1, 12, due_minute)
    checkin = Checkin(
        id=checkin_id,
        patient_id=patient_id,
        kind=CheckinKind.OFFSET,
        nominal_at=due,
        due_at=due,
        asks_red_flags=red_flags,
        created_at=due,
        lease_owner="unit",
        lease_until=due,
    )
    patient = Patient(
        id=patient_id, clinic_id="north", ref=f"P-{patient_id}", timezone="UTC", created_at=due
    )
    return Prompt(checkin, patient, title="t")


def test_two_checkins_due_together_for_one_patient_become_the_red_flag_one() -> None:
    now = utc(2026, 6, 1, 13, 0)
    later = _prompt(1, 7, due_minute=30, red_flags=False)
    red = _prompt(2, 7, due_minute=0, red_flags=True)
    other = _prompt(3, 8, due_minute=0, red_flags=False)
    kept = one_per_patient([later, red, other], now=now)
    assert [p.checkin.id for p in kept] == [2, 3]
    assert later.checkin.status == CheckinStatus.SUPERSEDED
    assert later.checkin.closed_at == now and later.checkin.lease_owner is None
    assert later.checkin.last_error == "due with check-in #2; sent as one"
    assert red.checkin.status == CheckinStatus.SCHEDULED


def test_without_red_flags_the_latest_checkin_is_kept() -> None:
    early = _prompt(1, 7, due_minute=0, red_flags=False)
    late = _prompt(2, 7, due_minute=30, red_flags=False)
    assert [p.checkin.id for p in one_per_patient([early, late], now=utc(2026, 6, 1, 13))] == [2]
    assert early.checkin.status == CheckinStatus.SUPERSEDED


async def _row(db: Database, checkin_id: int | None) -> Checkin:
    async with db.transaction() as session:
        row = await session.get(Checkin, checkin_id)
    assert row is not None
    return row


async def test_a_tick_sends_a_due_checkin_and_records_it_sent(
    sandbox: BotApiSandbox, db: Database
) -> None:
    async with unit(sandbox, db) as u:
        patient = await seed_patient(u)
        due = await seed_checkin(u, patient, due_in=timedelta(seconds=-1))
        future = await seed_checkin(u, patient, due_in=timedelta(hours=1))
        report = await Dispatcher(u.ctx, u.bot).tick()
        assert report.sent == 1 and report.failed_phases == []
        question = sandbox.last_message(PATIENT_CHAT)
        assert question is not None and "How is your mood" in question["text"]
        buttons = question["reply_markup"]["inline_keyboard"]
        assert buttons[0][0]["callback_data"] == f"c:{due.id}:mood:0"
        row = await _row(db, due.id)
        assert row.status == CheckinStatus.SENT and row.message_id == question["message_id"]
        assert row.lease_owner is None and row.closes_at is not None
        assert (await _row(db, future.id)).status == CheckinStatus.SCHEDULED


async def test_a_checkin_whose_window_passed_unsent_is_missed_not_sent(
    sandbox: BotApiSandbox, db: Database
) -> None:
    async with unit(sandbox, db) as u:
        patient = await seed_patient(u)
        window = u.ctx.clinics.clinics[0].checkins.missed_after
        stale = await seed_checkin(u, patient, due_in=-window - timedelta(seconds=1))
        report = await Dispatcher(u.ctx, u.bot).tick()
        assert report.missed_unsent == 1 and report.sent == 0
        assert sandbox.chat(PATIENT_CHAT) == []
        row = await _row(db, stale.id)
        assert row.status == CheckinStatus.MISSED
        assert row.last_error == "answer window closed before sending"


async def test_an_unsent_checkin_is_closed_after_the_chain_and_a_stop_in_between_wins(
    sandbox: BotApiSandbox, db: Database
) -> None:
    """A claimed check-in whose window passed unsent is closed as missed, and closing audits.
    A /stop at that moment holds the audit chain, then locks the patient's check-ins to cancel
    them. The close takes the chain before it locks the row again (in the claim's transaction
    the row was locked first, and the two deadlocked on PostgreSQL), and leaves a check-in the
    /stop cancelled in between as it is."""
    if db.dialect != "postgresql":
        pytest.skip("PostgreSQL only (SQLite serialises writers)")
    async with unit(sandbox, db) as u:
        patient = await seed_patient(u)
        window = u.ctx.clinics.clinics[0].checkins.missed_after
        stale = await seed_checkin(u, patient, due_in=-window - timedelta(seconds=1))
        assert stale.id is not None
        dispatcher = Dispatcher(u.ctx, u.bot)
        holding = asyncio.Event()

        async def stop() -> None:
            async with db.transaction() as session:
                await audit.hold_chain(session)
                holding.set()
                await until_someone_waits(db)  # the close waits for the chain now
                row = await get_for_update(session, checkin_id=stale.id)
                assert row is not None and row.status == CheckinStatus.SCHEDULED
                row.status = CheckinStatus.CANCELLED
                await audit.append(session, at=u.clock.now(), actor="patient:1", event="stop")

        report = TickReport()

        async def send() -> None:
            await holding.wait()
            await dispatcher.sender.send_due(u.clock.now(), report)

        await asyncio.wait_for(asyncio.gather(stop(), send()), timeout=20)
        assert report.missed_unsent == 0 and report.sent == 0
        row = await _row(db, stale.id)
        assert row.status == CheckinStatus.CANCELLED and row.closed_at is None


async def test_a_checkin_of_a_patient_who_stopped_is_cancelled_not_sent(
    sandbox: BotApiSandbox, db: Database
) -> None:
    async with unit(sandbox, db) as u:
        patient = await seed_patient(u)
        async with db.transaction() as session:
            row = await session.get(Patient, patient.id)
            assert row is not None
            row.status = PatientStatus.OPTED_OUT
        checkin = await seed_checkin(u, patient, due_in=timedelta(seconds=-1))
        report = await Dispatcher(u.ctx, u.bot).tick()
        assert report.sent == 0 and report.notes == [f"checkin {checkin.id}: patient opted_out"]
        assert (await _row(db, checkin.id)).status == CheckinStatus.CANCELLED
        assert sandbox.chat(PATIENT_CHAT) == []


async def test_a_patient_who_blocked_the_bot_becomes_unreachable_and_a_case_opens(
    sandbox: BotApiSandbox, db: Database
) -> None:
    async with unit(sandbox, db) as u:
        patient = await seed_patient(u)
        sandbox.block(PATIENT_CHAT)
        checkin = await seed_checkin(u, patient, due_in=timedelta(seconds=-1))
        later = await seed_checkin(u, patient, due_in=timedelta(hours=20))
        report = await Dispatcher(u.ctx, u.bot).tick()
        assert report.failed == 1 and report.sent == 0
        assert (await _row(db, checkin.id)).status == CheckinStatus.FAILED
        assert (await _row(db, later.id)).status == CheckinStatus.CANCELLED
        async with db.transaction() as session:
            stored = await session.get(Patient, patient.id)
            cases = (await session.scalars(select(Case))).all()
        assert stored is not None and stored.status == PatientStatus.UNREACHABLE
        assert [(c.trigger, c.level) for c in cases] == [
            (CaseTrigger.NON_RESPONSE, u.ctx.clinics.clinics[0].non_response.unreachable)
        ]
        assert "unreachable on Telegram" in cases[0].reason


async def test_a_rate_limited_send_is_retried_later_not_lost(
    sandbox: BotApiSandbox, db: Database
) -> None:
    async with unit(sandbox, db) as u:
        patient = await seed_patient(u)
        checkin = await seed_checkin(u, patient, due_in=timedelta(seconds=-1))
        sandbox.fail_next("sendMessage", status=429, retry_after=7, chat_id=PATIENT_CHAT)
        report = await Dispatcher(u.ctx, u.bot).tick()
        assert report.retried == 1 and report.sent == 0
        row = await _row(db, checkin.id)
        assert row.status == CheckinStatus.SCHEDULED and row.attempts == 1
        assert row.lease_until is not None  # kept off the row until Telegram's wait is over
        assert row.lease_until >= u.clock.now() + timedelta(seconds=5)
        assert (await Dispatcher(u.ctx, u.bot).tick()).sent == 0
        u.clock.advance(timedelta(seconds=10))
        assert (await Dispatcher(u.ctx, u.bot).tick()).sent == 1
        assert (await _row(db, checkin.id)).status == CheckinStatus.SENT


async def test_shutting_down_hands_back_what_has_not_been_sent(
    sandbox: BotApiSandbox, db: Database
) -> None:
    async with unit(sandbox, db) as u:
        patient = await seed_patient(u)
        checkin = await seed_checkin(u, patient, due_in=timedelta(seconds=-1))
        dispatcher = Dispatcher(u.ctx, u.bot)
        dispatcher.stop()
        report = await dispatcher.tick()
        assert report.sent == 0 and report.rounds == 1
        row = await _row(db, checkin.id)
        assert row.status == CheckinStatus.SCHEDULED and row.lease_owner is None
        assert sandbox.chat(PATIENT_CHAT) == []


async def test_a_checkin_is_not_closed_as_missed_while_its_patients_updates_wait(
    sandbox: BotApiSandbox, db: Database
) -> None:
    async with unit(sandbox, db) as u:
        patient = await seed_patient(u)
        checkin = await seed_checkin(u, patient, due_in=timedelta(seconds=-1))
        dispatcher = Dispatcher(u.ctx, u.bot)
        await dispatcher.tick()
        assert (await _row(db, checkin.id)).status == CheckinStatus.SENT
        u.clock.advance(timedelta(hours=30))  # long past its answer window
        u.ctx.intake.held = 1  # this instance holds an update Telegram has not let go of
        await dispatcher.tick()
        assert (await _row(db, checkin.id)).status == CheckinStatus.SENT
        u.ctx.intake.held = 0
        async with db.transaction() as session:  # an answer stored during an outage, unprocessed
            arrival = Arrival(77, PATIENT_CHAT, "{}", u.clock.now())
            await inbox.store(session, [arrival], now=u.clock.now())
        report = await dispatcher.tick()
        assert report.closed == 0 and (await _row(db, checkin.id)).status == CheckinStatus.SENT
        async with db.transaction() as session:
            assert await inbox.mark_done(session, update_id=77, now=u.clock.now())
        u.clock.advance(WAIT_FOR_INBOX + timedelta(seconds=1))
        report = await dispatcher.tick()
        assert report.closed == 1
        assert (await _row(db, checkin.id)).status == CheckinStatus.MISSED


async def test_closing_a_checkin_takes_the_chain_before_its_row(
    sandbox: BotApiSandbox, db: Database
) -> None:
    """A tap right at the answer deadline holds the audit chain, then locks its check-in
    (`get_for_update`); the dispatcher closing that check-in claims it (a row lock) and then
    audits. It takes the chain before the claim, so the two wait for each other in turn
    instead of deadlocking on PostgreSQL (where one of them would be killed)."""
    if db.dialect != "postgresql":
        pytest.skip("PostgreSQL only (SQLite serialises writers)")
    async with unit(sandbox, db) as u:
        patient = await seed_patient(u)
        checkin = await seed_checkin(u, patient, due_in=timedelta(seconds=-1))
        dispatcher = Dispatcher(u.ctx, u.bot)
        await dispatcher.tick()
        assert checkin.id is not None and (await _row(db, checkin.id)).status == CheckinStatus.SENT
        u.clock.advance(timedelta(hours=30))  # long past its answer window
        holding = asyncio.Event()

        async def tap() -> None:
            async with db.transaction() as session:
                await audit.hold_chain(session)
                holding.set()
                await until_someone_waits(db)  # the closing round is blocked now
                assert await get_for_update(session, checkin_id=checkin.id) is not None
                await audit.append(session, at=u.clock.now(), actor="patient:1", event="tap")

        async def close() -> None:
            await holding.wait()
            await dispatcher._close_expired(u.clock.now(), TickReport())

        await asyncio.wait_for(asyncio.gather(tap(), close()), timeout=20)
        assert (await _row(db, checkin.id)).status == CheckinStatus.MISSED

"""The dispatcher: the database says what is due; each tick claims it under a lease and acts.

Every round pages first, then closes expired check-ins, pages again for what closing raised,
sends reminders and sends due check-ins (`bot.dispatch.sending`). Several instances share the
work through leases; see ARCHITECTURE.md.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta
from time import monotonic
from typing import Any

from telegram.ext import ExtBot

from bot.channels.email.channel import mailer_for
from bot.channels.outbox import PageEvents
from bot.channels.registry import build_channels
from bot.context import AppContext
from bot.dispatch.caring import CaringSender
from bot.dispatch.digest import Digests
from bot.dispatch.pager import Pager
from bot.dispatch.retention import NightlyRetention
from bot.dispatch.sending import Sender, TickReport, claim_batch
from bot.domain import checkin_flow
from bot.i18n import use_language
from bot.i18n.resolve import CLINICIANS
from bot.messaging import questions
from bot.messaging.conversation import retire_buttons
from bot.messaging.delivery import Outcome, deliver, send_question
from bot.services import checkin_states, deliveries
from bot.services.reaching.outreach import reescalate_overdue
from storage import audit
from storage.cases import end_fast_path_reservation
from storage.checkins import claim_closing, claim_reminders, release
from storage.inbox import chats_waiting
from storage.models import Checkin, Patient
from storage.patients import patients_by_ids
from storage.states import DISPATCHER, CheckinStatus

log = logging.getLogger(__name__)

WAIT_FOR_INBOX = timedelta(seconds=5)  # a check-in due to close waits while its chat's updates do


class Dispatcher:
    """Sends what is due. One per instance; several instances share the work via leases."""

    def __init__(
        self,
        ctx: AppContext,
        bot: ExtBot[Any],
        *,
        batch: int = 200,
        workers: int = 2,
        concurrency: int = 16,
    ) -> None:
        self.ctx = ctx
        self.bot = bot
        limited = bot.rate_limiter is not None
        rate = ctx.settings.send_rate_per_second if limited else 0.0
        self.batch = claim_batch(rate, batch=batch, workers=workers, concurrency=concurrency)
        self.workers = workers
        self.sender = Sender(ctx, bot, batch=self.batch, concurrency=concurrency)
        self.last_tick_at: datetime | None = None
        self.page_events = PageEvents(ctx, lease=self.lease)
        channels = build_channels(ctx, bot, outbox=self.page_events)
        self.pager = Pager(ctx, bot, lease=self.lease, channels=channels)
        self.digests = Digests(ctx, mailer_for(ctx.settings))
        self.retention = NightlyRetention(ctx)
        self.caring = CaringSender(ctx, bot, batch=self.batch, lease=self.lease)

    def stop(self) -> None:
        """Shutting down: a running tick ends after its current round."""
        self.sender.stopping = True
        self.retention.stop()

    @property
    def stopping(self) -> bool:
        return self.sender.stopping

    @property
    def lease(self) -> timedelta:
        return timedelta(seconds=self.ctx.settings.lease_seconds)

    async def tick(self, *, budget: timedelta = timedelta(seconds=5)) -> TickReport:
        """Rounds of: page, close what has expired, page, send reminders, send check-ins.

        A round in which a phase claimed a full batch is followed at once by another (within
        `budget`), rather than waiting for the next tick: a backlog drains at the rate the
        sends allow. Every round pages first, so a backlog never holds a page back for long;
        under the rate limiter a batch is what the limiter lets out in about ROUND_SECONDS.
        """
        report = TickReport()
        started = monotonic()
        while True:
            now = self.ctx.clock.now()
            report.more = False
            failed = len(report.failed_phases)
            await self._round(now, report)
            report.rounds += 1
            if len(report.failed_phases) == failed:
                self.last_tick_at = now  # liveness means every phase ran
            backlog = report.more and len(report.failed_phases) == failed
            if not backlog or self.stopping or monotonic() - started >= budget.total_seconds():
                return report

    async def _round(self, now: datetime, report: TickReport) -> None:
        # Each phase on its own: one poisoned row must not stop the pages of every clinic.
        for name, phase in (
            ("outreach", self._outreach),  # overdue outreach re-opens: paged in this round
            ("page", self._page),
            ("close", self._close_expired),
            ("page", self._page),  # again, for what closing just raised
            ("events", self._events),
            ("digest", self._digest),
            ("remind", self._remind),
            ("send", self._send),
            ("caring", self._caring),
            ("retention", self._retention),
        ):
            try:
                await phase(now, report)
            except Exception:
                report.failed_phases.append(name)
                log.exception(
                    "dispatcher.phase_failed phase=%s instance=%s", name, self.ctx.instance_id
                )

    async def _outreach(self, now: datetime, report: TickReport) -> None:
        """Acknowledged cases past their outreach target go back up the ladder (CLINICAL.md
        §10); the page phase that follows pages them."""
        async with self.ctx.db.transaction() as session:
            cases = await reescalate_overdue(
                session,
                clinic_of=self.ctx.clinic,
                owner=self.ctx.instance_id,
                lease_until=now + self.lease,
                limit=self.batch,
                now=now,
            )
        report.more |= len(cases) >= self.batch

    async def _caring(self, now: datetime, report: TickReport) -> None:
        """Caring contacts due (CLINICAL.md §12), at routine priority, after the check-ins."""
        sent, more = await self.caring.run_due(now)
        report.caring_sent += sent
        report.more |= more

    async def _page(self, now: datetime, report: TickReport) -> None:
        report.paged += await self.pager.run_due()

    async def _digest(self, now: datetime, report: TickReport) -> None:
        await self.digests.run_due(now)

    async def _retention(self, now: datetime, report: TickReport) -> None:
        self.retention.start_due(now)  # in a task of its own: pages never wait for it

    async def _events(self, now: datetime, report: TickReport) -> None:
        report.more |= await self.page_events.run_due() >= self.page_events.batch

    async def _close_expired(self, now: datetime, report: TickReport) -> None:
        if self.ctx.intake.failing_since is not None or self.ctx.intake.held:
            return  # answers may be waiting with Telegram: nobody is judged silent meanwhile
        async with self.ctx.db.transaction() as session:
            # The chain before the claim's row locks (closing audits): a tap at the deadline
            # holds the chain, then locks its check-in; the other order deadlocks (PostgreSQL).
            await audit.hold_chain(session)
            rows = await claim_closing(
                session,
                now=now,
                owner=self.ctx.instance_id,
                lease_until=now + self.lease,
                limit=self.batch,
            )
            report.more |= len(rows) >= self.batch
            closed: list[tuple[Checkin, Patient]] = []
            patients = await patients_by_ids(session, ids=[c.patient_id for c in rows])
            chats = [p.chat_id for p in patients.values() if p.chat_id is not None]
            writing = await chats_waiting(session, chat_ids=chats)
            for checkin in rows:
                patient = patients[checkin.patient_id]
                if patient.chat_id in writing:  # their answers are in the inbox: read them first
                    await release(session, checkin=checkin, retry_at=now + WAIT_FOR_INBOX)
                    continue
                await checkin_states.close_checkin(
                    session,
                    checkin=checkin,
                    patient=patient,
                    clinic=self.ctx.clinic(patient.clinic_id),
                    now=now,
                    actor=DISPATCHER,
                )
                closed.append((checkin, patient))
        report.closed += len(closed)
        self.ctx.metrics.checkins_missed.inc(
            sum(c.status == CheckinStatus.MISSED for c, _ in closed)
        )
        for index, (checkin, patient) in enumerate(closed):
            if self.stopping:  # cosmetic: a tap on a closed check-in's button is refused anyway
                log.info("dispatcher.retire_skipped count=%d (shutting down)", len(closed) - index)
                break
            await retire_buttons(self.bot, patient, checkin.message_id)

    async def _remind(self, now: datetime, report: TickReport) -> None:
        async with self.ctx.db.transaction() as session:
            rows = await claim_reminders(
                session,
                now=now,
                owner=self.ctx.instance_id,
                lease_until=now + self.lease,
                limit=self.batch,
            )
            report.more |= len(rows) >= self.batch
            patients = await patients_by_ids(session, ids=[c.patient_id for c in rows])
            work = [(checkin, patients[checkin.patient_id]) for checkin in rows]
        results = await asyncio.gather(*(self._send_reminder(c, p, now) for c, p in work))
        report.reminded += sum(results)

    async def _send_reminder(self, checkin: Checkin, patient: Patient, now: datetime) -> bool:
        item = checkin.current_item or checkin_flow.MOOD
        assert patient.chat_id is not None and checkin.id is not None
        async with self.sender.slots:
            if self.stopping:  # shutting down: leave it to the next claim, here or elsewhere
                async with self.ctx.db.transaction() as session:
                    await deliveries.hand_back(session, checkin_id=checkin.id)
                return False
            with use_language(self.sender.language(patient)):  # the text and its buttons
                delivery = await deliver(
                    send_question(
                        self.bot,
                        patient.chat_id,
                        questions.reminder_text(item),
                        checkin_id=checkin.id,
                        item_id=item,
                        rate_limit_args=self.sender.routine(True),
                    ),
                    what=f"reminder checkin={checkin.id}",
                )
        async with self.ctx.db.transaction() as session:
            await deliveries.record_reminder(
                session,
                checkin_id=checkin.id,
                patient=patient,
                clinic=self.ctx.clinic(patient.clinic_id),
                delivery=delivery,
                now=now,
            )
        return delivery.outcome is Outcome.SENT

    async def _send(self, now: datetime, report: TickReport) -> None:
        """Several batches at once, each claimed, sent and recorded on its own.

        While one batch's outcomes are being written, another's sends are on the wire, so
        neither the database nor the network waits for the other (bench/README.md).
        """
        results = await asyncio.gather(
            *(self.sender.send_due(now, report) for _ in range(self.workers)),
            return_exceptions=True,
        )
        failures = [r for r in results if isinstance(r, BaseException)]
        for failure in failures[1:]:
            log.error("dispatcher.batch_failed instance=%s", self.ctx.instance_id, exc_info=failure)
        if failures:
            raise failures[0]

    async def send_checkin(
        self, checkin: Checkin, patient: Patient, *, routine: bool = True
    ) -> Outcome:
        """Send one claimed check-in's first question and record what happened."""
        return await self.sender.send_checkin(checkin, patient, routine=routine)

    async def page_now(
        self, case_id: int, *, patient_told_after: asyncio.Event | None = None
    ) -> None:
        """The fast path: page for a just-committed case without waiting for a tick."""
        try:
            with use_language(CLINICIANS):  # not the patient's, whose update may have paged
                await self.pager.run_due(only_id=case_id, patient_told_after=patient_told_after)
        except Exception:
            log.exception("pager.fast_path_failed case=%s (the next tick retries)", case_id)
            try:  # hand the case to the ticks now rather than when its reservation runs out
                async with self.ctx.db.transaction() as session:
                    await end_fast_path_reservation(session, case_id=case_id)
            except Exception:
                log.exception("pager.fast_path_release_failed case=%s", case_id)

"""The dispatcher: the database says what is due; each tick claims it under a lease and sends.

A claim is a lease, not a lock held across the network: an instance that dies after
claiming leaves rows whose lease expires, and the next tick (here or elsewhere) sends them.
So a crash can cause a resend, never a loss.
"""

from __future__ import annotations

import asyncio
import logging
import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from time import monotonic
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession
from telegram.ext import ExtBot

from bot.clinic_config import ClinicConfig
from bot.context import AppContext
from bot.dispatch.pager import Pager
from bot.domain import checkin_flow
from bot.domain.levels import Level
from bot.domain.triage import Finding
from bot.messaging import questions, texts
from bot.messaging.conversation import retire_buttons
from bot.messaging.delivery import Delivery, Outcome, deliver, send_question
from bot.messaging.ratelimit import ROUTINE
from bot.services.cases import raise_case
from bot.services.checkins import close_checkin, mark_sent
from storage import audit
from storage.cases import end_fast_path_reservation
from storage.checkins import (
    cancel_scheduled,
    checkins_by_ids,
    claim_closing,
    claim_due,
    claim_reminders,
    get_checkin,
    open_checkins_of,
    release,
)
from storage.infusions import infusions_by_ids
from storage.models import Checkin, Infusion, Patient
from storage.patients import get_patient, patients_by_ids
from storage.states import DISPATCHER, CaseTrigger, CheckinStatus, PatientStatus

log = logging.getLogger(__name__)

ROUND_SECONDS = 2.0  # under the rate limiter, a round's sends take about this long


def claim_batch(rate: float, *, batch: int = 200, workers: int = 2, concurrency: int = 16) -> int:
    """Rows one claim takes. Under a limiter of `rate` sends a second, only what can go out
    within about ROUND_SECONDS, so timers come round again soon and a shutdown has little to
    hand back; without one (rate 0), `batch`."""
    if rate <= 0:
        return batch
    return min(batch, max(concurrency, math.ceil(rate * ROUND_SECONDS / workers)))


@dataclass(frozen=True)
class Prompt:
    """A claimed check-in ready to send: the row, its patient and its title."""

    checkin: Checkin
    patient: Patient
    title: str


def _one_per_patient(batch: list[Prompt], *, now: datetime) -> list[Prompt]:
    """Two check-ins due together for one patient (e.g. both held by quiet hours) become one.

    The one that asks the red flags is kept, else the latest; the other is marked superseded.
    """
    kept: dict[int, Prompt] = {}
    for prompt in batch:
        other = kept.get(prompt.patient.id or 0)
        if other is None:
            kept[prompt.patient.id or 0] = prompt
            continue
        winner, loser = sorted(
            (other, prompt),
            key=lambda p: (p.checkin.asks_red_flags, p.checkin.due_at),
            reverse=True,
        )
        loser.checkin.status, loser.checkin.closed_at = CheckinStatus.SUPERSEDED, now
        loser.checkin.lease_owner = loser.checkin.lease_until = None
        loser.checkin.last_error = f"due with check-in #{winner.checkin.id}; sent as one"
        kept[prompt.patient.id or 0] = winner
    return list(kept.values())


def _title(checkin: Checkin, patient: Patient, infusions: dict[int, Infusion]) -> str:
    """'4-hour check-in after your infusion on Tue 25 Nov' in the patient's time zone."""
    infusion = infusions.get(checkin.infusion_id) if checkin.infusion_id is not None else None
    ended = questions.local_day(infusion.ended_at, ZoneInfo(patient.timezone)) if infusion else None
    return questions.checkin_title(checkin, infusion_ended_at_local=ended)


@dataclass
class TickReport:
    sent: int = 0
    reminded: int = 0
    closed: int = 0
    missed_unsent: int = 0
    retried: int = 0
    failed: int = 0
    paged: int = 0
    rounds: int = 0
    more: bool = False  # a phase of the last round claimed a full batch: more may be waiting
    failed_phases: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


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
        self._sending = asyncio.Semaphore(concurrency)
        self.last_tick_at: datetime | None = None
        self.pager = Pager(ctx, bot, lease=self.lease)
        self._stopping = False

    def stop(self) -> None:
        """Shutting down: a running tick ends after its current round."""
        self._stopping = True

    def _count(self, delivery: Delivery) -> None:
        if delivery.outcome is Outcome.SENT:
            self.ctx.metrics.checkins_sent.inc()
        elif delivery.outcome is not Outcome.NOT_SENT:
            self.ctx.metrics.send_errors.labels(kind=delivery.outcome.value).inc()

    def _routine(self, routine: bool) -> dict[str, Any] | None:
        """Limiter arguments for a send: routine check-ins yield to safety messages."""
        return ROUTINE if routine and self.bot.rate_limiter is not None else None

    @property
    def lease(self) -> timedelta:
        return timedelta(seconds=self.ctx.settings.lease_seconds)

    async def tick(self, *, budget: timedelta = timedelta(seconds=5)) -> TickReport:
        """Rounds of: close what has expired, page, send reminders, send routine check-ins.

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
            if not backlog or self._stopping or monotonic() - started >= budget.total_seconds():
                return report

    async def _round(self, now: datetime, report: TickReport) -> None:
        # Each phase on its own: one poisoned row must not stop the pages of every clinic.
        for name, phase in (
            ("page", self._page),
            ("close", self._close_expired),
            ("page", self._page),  # again, for what closing just raised
            ("remind", self._remind),
            ("send", self._send),
        ):
            try:
                await phase(now, report)
            except Exception:
                report.failed_phases.append(name)
                log.exception(
                    "dispatcher.phase_failed phase=%s instance=%s", name, self.ctx.instance_id
                )

    async def _page(self, now: datetime, report: TickReport) -> None:
        report.paged += await self.pager.run_due()

    async def _close_expired(self, now: datetime, report: TickReport) -> None:
        async with self.ctx.db.transaction() as session:
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
            for checkin in rows:
                patient = patients[checkin.patient_id]
                await close_checkin(
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
            if self._stopping:  # cosmetic: a tap on a closed check-in's button is refused anyway
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
            work = []
            patients = await patients_by_ids(session, ids=[c.patient_id for c in rows])
            for checkin in rows:
                patient = patients[checkin.patient_id]
                work.append((checkin, patient))
        results = await asyncio.gather(*(self._send_reminder(c, p, now) for c, p in work))
        report.reminded += sum(results)

    async def _send_reminder(self, checkin: Checkin, patient: Patient, now: datetime) -> bool:
        item = checkin.current_item or checkin_flow.MOOD
        assert patient.chat_id is not None and checkin.id is not None
        async with self._sending:
            if self._stopping:  # shutting down: leave it to the next claim, here or elsewhere
                async with self.ctx.db.transaction() as session:
                    row = await get_checkin(session, checkin_id=checkin.id)
                    if row is not None:
                        await release(session, checkin=row)
                return False
            delivery = await deliver(
                send_question(
                    self.bot,
                    patient.chat_id,
                    f"{texts.REMINDER}\n\n{questions.question_text(item)}",
                    checkin_id=checkin.id,
                    item_id=item,
                    rate_limit_args=self._routine(True),
                ),
                what=f"reminder checkin={checkin.id}",
            )
        async with self.ctx.db.transaction() as session:
            row = await get_checkin(session, checkin_id=checkin.id)
            assert row is not None
            row.lease_owner = None
            if delivery.outcome is Outcome.RETRY:
                row.lease_until = now + (delivery.retry_after or timedelta(seconds=5))
                return False
            row.lease_until = None
            row.reminded_at = now  # sent, or refused for good: one reminder only either way
            if delivery.message_id is not None:
                row.message_id = delivery.message_id
            await audit.append(
                session,
                at=now,
                actor=DISPATCHER,
                event=f"reminder.{delivery.outcome}",
                clinic_id=patient.clinic_id,
                patient_id=patient.id,
                checkin_id=checkin.id,
                detail={"error": delivery.error} if delivery.error else {},
            )
            if delivery.outcome is Outcome.UNREACHABLE:
                await self._mark_unreachable(session, patient.id, now, delivery)
        return delivery.outcome is Outcome.SENT

    async def _send(self, now: datetime, report: TickReport) -> None:
        """Several batches at once, each claimed, sent and recorded on its own.

        While one batch's outcomes are being written, another's sends are on the wire, so
        neither the database nor the network waits for the other (bench/README.md).
        """
        results = await asyncio.gather(
            *(self._send_due(now, report) for _ in range(self.workers)), return_exceptions=True
        )
        failures = [r for r in results if isinstance(r, BaseException)]
        for failure in failures[1:]:
            log.error("dispatcher.batch_failed instance=%s", self.ctx.instance_id, exc_info=failure)
        if failures:
            raise failures[0]

    async def _send_due(self, now: datetime, report: TickReport) -> None:
        async with self.ctx.db.transaction() as session:
            rows = await claim_due(
                session,
                now=now,
                owner=self.ctx.instance_id,
                lease_until=now + self.lease,
                limit=self.batch,
            )
            report.more |= len(rows) >= self.batch
            patients = await patients_by_ids(session, ids=[c.patient_id for c in rows])
            infusions = await infusions_by_ids(
                session, ids=[c.infusion_id for c in rows if c.infusion_id is not None]
            )
            to_send: list[Prompt] = []
            for checkin in rows:
                patient = patients[checkin.patient_id]
                clinic = self.ctx.clinic(patient.clinic_id)
                if patient.status != PatientStatus.ACTIVE or patient.chat_id is None:
                    checkin.status, checkin.closed_at = CheckinStatus.CANCELLED, now
                    checkin.lease_owner = checkin.lease_until = None
                    report.notes.append(f"checkin {checkin.id}: patient {patient.status}")
                elif now >= checkin.due_at + clinic.checkins.missed_after:
                    # Never delivered in its window: for the patient's safety it counts as missed.
                    checkin.last_error = checkin.last_error or "answer window closed before sending"
                    await close_checkin(
                        session,
                        checkin=checkin,
                        patient=patient,
                        clinic=clinic,
                        now=now,
                        actor=DISPATCHER,
                        status=CheckinStatus.MISSED,
                    )
                    await audit.append(
                        session,
                        at=now,
                        actor=DISPATCHER,
                        event="checkin.missed_unsent",
                        clinic_id=patient.clinic_id,
                        patient_id=patient.id,
                        checkin_id=checkin.id,
                        detail={"due_at": checkin.due_at},
                    )
                    report.missed_unsent += 1
                else:
                    to_send.append(Prompt(checkin, patient, _title(checkin, patient, infusions)))
            to_send = _one_per_patient(to_send, now=now)
        for outcome in await self._deliver(to_send, routine=True):
            report.sent += outcome is Outcome.SENT
            report.retried += outcome is Outcome.RETRY
            report.failed += outcome in (Outcome.FAILED, Outcome.UNREACHABLE)

    async def send_checkin(
        self, checkin: Checkin, patient: Patient, *, routine: bool = True
    ) -> Outcome:
        """Send one claimed check-in's first question and record what happened."""
        async with self.ctx.db.transaction() as session:
            infusions = await infusions_by_ids(
                session, ids=[checkin.infusion_id] if checkin.infusion_id is not None else []
            )
        (outcome,) = await self._deliver(
            [Prompt(checkin, patient, _title(checkin, patient, infusions))], routine=routine
        )
        return outcome

    async def _deliver(self, batch: list[Prompt], *, routine: bool) -> list[Outcome]:
        """Send first questions (bounded concurrency), then record every outcome at once."""
        if not batch:
            return []

        async def send(prompt: Prompt) -> Delivery:
            checkin, patient = prompt.checkin, prompt.patient
            assert checkin.id is not None and patient.chat_id is not None
            async with self._sending:
                if self._stopping:  # shutting down: what has not started is handed back
                    return Delivery(Outcome.NOT_SENT)
                return await deliver(
                    send_question(
                        self.bot,
                        patient.chat_id,
                        questions.question_text(checkin_flow.MOOD, title=prompt.title),
                        checkin_id=checkin.id,
                        item_id=checkin_flow.MOOD,
                        rate_limit_args=self._routine(routine),
                    ),
                    what=f"checkin={checkin.id}",
                    attempt=checkin.attempts,
                )

        deliveries = await asyncio.gather(*(send(prompt) for prompt in batch))
        for delivery in deliveries:
            self._count(delivery)
        now = self.ctx.clock.now()
        async with self.ctx.db.transaction() as session:
            rows = await checkins_by_ids(session, ids=[p.checkin.id or 0 for p in batch])
            sent_patients = [
                p.patient.id or 0
                for p, d in zip(batch, deliveries, strict=True)
                if d.outcome is Outcome.SENT
            ]
            older = await open_checkins_of(session, patient_ids=sent_patients)
            entries: list[audit.Entry] = []
            for prompt, delivery in zip(batch, deliveries, strict=True):
                row = rows[prompt.checkin.id or 0]
                await self._record(session, row, prompt.patient, delivery, now, older)
                if delivery.outcome is Outcome.NOT_SENT:
                    continue
                entries.append(
                    audit.Entry(
                        at=now,
                        actor=DISPATCHER,
                        event=f"prompt.{delivery.outcome}",
                        clinic_id=prompt.patient.clinic_id,
                        patient_id=prompt.patient.id,
                        checkin_id=row.id,
                        detail={"item": checkin_flow.MOOD, "error": delivery.error}
                        if delivery.error
                        else {"item": checkin_flow.MOOD},
                    )
                )
            await audit.append_many(session, entries)
        return [delivery.outcome for delivery in deliveries]

    async def _record(
        self,
        session: AsyncSession,
        row: Checkin,
        patient: Patient,
        delivery: Delivery,
        now: datetime,
        older: list[Checkin],
    ) -> None:
        """One check-in's send outcome, in the batch's recording transaction."""
        if delivery.outcome is Outcome.NOT_SENT:
            await release(session, checkin=row)
            return
        clinic = self.ctx.clinic(patient.clinic_id)
        row.attempts += 1
        if row.status != CheckinStatus.SCHEDULED:
            # Moved on while the batch was out: the patient answered first (the tap proved the
            # question arrived, whatever this call said) or the check-in was cancelled.
            if row.message_id is None and delivery.message_id is not None:
                row.message_id = delivery.message_id
            if delivery.outcome is Outcome.SENT and CheckinStatus(row.status).is_open:
                await self._close_older(session, row, patient, clinic, now, older)
            await release(session, checkin=row)
            return
        if delivery.outcome is Outcome.SENT:
            await self._close_older(session, row, patient, clinic, now, older)
            mark_sent(row, patient=patient, clinic=clinic, now=now, message_id=delivery.message_id)
            await release(session, checkin=row)
        elif delivery.outcome is Outcome.RETRY:
            row.last_error = delivery.error
            await release(
                session,
                checkin=row,
                retry_at=now + (delivery.retry_after or timedelta(seconds=5)),
            )
        else:
            row.status, row.closed_at, row.last_error = CheckinStatus.FAILED, now, delivery.error
            await release(session, checkin=row)
            if delivery.outcome is Outcome.UNREACHABLE:
                await self._mark_unreachable(session, patient.id, now, delivery)
            else:  # refused for good: the patient was not contacted, so a human looks
                reason = f"check-in #{row.id} could not be delivered: {delivery.error}"
                await raise_case(
                    session,
                    patient=patient,
                    level=Level.LOW,
                    trigger=CaseTrigger.NON_RESPONSE,
                    now=now,
                    checkin_id=row.id,
                    findings=[Finding(Level.LOW, reason)],
                )

    async def _close_older(
        self,
        session: AsyncSession,
        row: Checkin,
        patient: Patient,
        clinic: ClinicConfig,
        now: datetime,
        older: list[Checkin],
    ) -> None:
        """One conversation at a time: a check-in that reached the patient closes older ones."""
        for previous in older:
            same_patient = previous.patient_id == patient.id and previous.id != row.id
            if same_patient and CheckinStatus(previous.status).is_open:
                await close_checkin(
                    session,
                    checkin=previous,
                    patient=patient,
                    clinic=clinic,
                    now=now,
                    actor=DISPATCHER,
                )

    async def _mark_unreachable(
        self, session: AsyncSession, patient_id: int | None, now: datetime, delivery: Delivery
    ) -> None:
        """Telegram says blocked or gone: stop sending to this patient (CLINICAL.md §6)."""
        assert patient_id is not None
        patient = await get_patient(session, patient_id=patient_id)
        assert patient is not None
        if patient.status == PatientStatus.UNREACHABLE:
            return
        patient.status = PatientStatus.UNREACHABLE
        cancelled = await cancel_scheduled(
            session, patient_id=patient_id, now=now, status=CheckinStatus.CANCELLED
        )
        await audit.append(
            session,
            at=now,
            actor=DISPATCHER,
            event="patient.unreachable",
            clinic_id=patient.clinic_id,
            patient_id=patient_id,
            detail={"error": delivery.error, "cancelled_checkins": cancelled},
        )
        level = self.ctx.clinic(patient.clinic_id).non_response.unreachable
        reason = f"patient unreachable on Telegram ({delivery.error}); no more check-ins sent"
        await raise_case(
            session,
            patient=patient,
            level=level,
            trigger=CaseTrigger.NON_RESPONSE,
            now=now,
            findings=[Finding(level, reason)],
        )

    async def page_now(
        self, case_id: int, *, patient_told_after: asyncio.Event | None = None
    ) -> None:
        """The fast path: page for a just-committed escalation without waiting for a tick."""
        try:
            await self.pager.run_due(only_id=case_id, patient_told_after=patient_told_after)
        except Exception:
            log.exception("pager.fast_path_failed case=%s (the next tick retries)", case_id)
            try:  # hand the case to the ticks now rather than when its reservation runs out
                async with self.ctx.db.transaction() as session:
                    await end_fast_path_reservation(session, case_id=case_id)
            except Exception:
                log.exception("pager.fast_path_release_failed case=%s", case_id)

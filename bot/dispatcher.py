"""The dispatcher: the database says what is due; each tick claims it under a lease and sends.

A claim is a lease, not a lock held across the network: an instance that dies after
claiming leaves rows whose lease expires, and the next tick (here or elsewhere) sends them.
So a crash can cause a resend, never a loss.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession
from telegram.ext import ExtBot

from bot import prompts, texts
from bot.checkins import close_checkin
from bot.context import AppContext
from bot.conversation import retire_buttons
from bot.delivery import Delivery, Outcome, deliver
from bot.domain import checkin_flow
from bot.domain.levels import Level
from bot.domain.schedule import defer_past_quiet_hours
from bot.domain.triage import Finding
from bot.escalations import raise_concern
from bot.paging import Pager
from bot.ratelimit import ROUTINE
from storage import audit
from storage.checkins import (
    cancel_scheduled,
    claim_closing,
    claim_due,
    claim_reminders,
    get_checkin,
    open_checkins,
    release,
)
from storage.infusions import get_infusion
from storage.models import Checkin, CheckinStatus, Patient, PatientStatus
from storage.patients import get_patient

log = logging.getLogger(__name__)


@dataclass
class TickReport:
    sent: int = 0
    reminded: int = 0
    closed: int = 0
    missed_unsent: int = 0
    retried: int = 0
    failed: int = 0
    paged: int = 0
    failed_phases: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


class Dispatcher:
    """Sends what is due. One per instance; several instances share the work via leases."""

    def __init__(
        self, ctx: AppContext, bot: ExtBot[Any], *, batch: int = 200, concurrency: int = 16
    ) -> None:
        self.ctx = ctx
        self.bot = bot
        self.batch = batch
        self._sending = asyncio.Semaphore(concurrency)
        self.last_tick_at: datetime | None = None
        self.pager = Pager(ctx, bot, lease=self.lease)

    def _count(self, delivery: Delivery) -> None:
        if delivery.outcome is Outcome.SENT:
            self.ctx.metrics.checkins_sent.inc()
        else:
            self.ctx.metrics.send_errors.labels(kind=delivery.outcome.value).inc()

    def _routine(self, routine: bool) -> dict[str, Any] | None:
        """Limiter arguments for a send: routine check-ins yield to safety messages."""
        return ROUTINE if routine and self.bot.rate_limiter is not None else None

    @property
    def lease(self) -> timedelta:
        return timedelta(seconds=self.ctx.settings.lease_seconds)

    async def tick(self) -> TickReport:
        """Close what has expired, page, send reminders, then send routine check-ins."""
        report = TickReport()
        now = self.ctx.clock.now()
        # Each phase on its own: one poisoned row must not stop the pages of every clinic.
        for name, phase in (
            ("page", self._page),
            ("close", self._close_expired),
            ("page", self._page),  # again, for what closing just raised
            ("remind", self._remind),
            ("send", self._send_due),
        ):
            try:
                await phase(now, report)
            except Exception:
                report.failed_phases.append(name)
                log.exception(
                    "dispatcher.phase_failed phase=%s instance=%s", name, self.ctx.instance_id
                )
        if not report.failed_phases:
            self.last_tick_at = now  # liveness means every phase ran
        return report

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
            closed: list[tuple[Checkin, Patient]] = []
            for checkin in rows:
                patient = await get_patient(session, patient_id=checkin.patient_id)
                assert patient is not None
                await close_checkin(
                    session,
                    checkin=checkin,
                    patient=patient,
                    clinic=self.ctx.clinic(patient.clinic_id),
                    now=now,
                    actor="dispatcher",
                )
                closed.append((checkin, patient))
        report.closed += len(closed)
        self.ctx.metrics.checkins_missed.inc(
            sum(c.status == CheckinStatus.MISSED for c, _ in closed)
        )
        for checkin, patient in closed:
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
            work = []
            for checkin in rows:
                patient = await get_patient(session, patient_id=checkin.patient_id)
                assert patient is not None
                work.append((checkin, patient))
        results = await asyncio.gather(*(self._send_reminder(c, p, now) for c, p in work))
        report.reminded += sum(results)

    async def _send_reminder(self, checkin: Checkin, patient: Patient, now: datetime) -> bool:
        item = checkin.current_item or checkin_flow.MOOD
        assert patient.chat_id is not None and checkin.id is not None
        async with self._sending:
            delivery = await deliver(
                self.bot.send_message(
                    patient.chat_id,
                    f"{texts.REMINDER}\n\n{prompts.question_text(item)}",
                    reply_markup=prompts.keyboard(checkin.id, item),
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
            if delivery.message is not None:
                row.message_id = delivery.message.message_id
            await audit.append(
                session,
                at=now,
                actor="dispatcher",
                event=f"reminder.{delivery.outcome}",
                clinic_id=patient.clinic_id,
                patient_id=patient.id,
                checkin_id=checkin.id,
                detail={"error": delivery.error} if delivery.error else {},
            )
            if delivery.outcome is Outcome.UNREACHABLE:
                await self._mark_unreachable(session, patient.id, now, delivery)
        return delivery.outcome is Outcome.SENT

    async def _send_due(self, now: datetime, report: TickReport) -> None:
        async with self.ctx.db.transaction() as session:
            rows = await claim_due(
                session,
                now=now,
                owner=self.ctx.instance_id,
                lease_until=now + self.lease,
                limit=self.batch,
            )
            to_send: list[tuple[Checkin, Patient]] = []
            for checkin in rows:
                patient = await get_patient(session, patient_id=checkin.patient_id)
                assert patient is not None
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
                        actor="dispatcher",
                        status=CheckinStatus.MISSED,
                    )
                    await audit.append(
                        session,
                        at=now,
                        actor="dispatcher",
                        event="checkin.missed_unsent",
                        clinic_id=patient.clinic_id,
                        patient_id=patient.id,
                        checkin_id=checkin.id,
                        detail={"due_at": checkin.due_at},
                    )
                    report.missed_unsent += 1
                else:
                    to_send.append((checkin, patient))
        outcomes = await asyncio.gather(*(self.send_checkin(c, p) for c, p in to_send))
        for outcome in outcomes:
            report.sent += outcome is Outcome.SENT
            report.retried += outcome is Outcome.RETRY
            report.failed += outcome in (Outcome.FAILED, Outcome.UNREACHABLE)

    async def send_checkin(
        self, checkin: Checkin, patient: Patient, *, routine: bool = True
    ) -> Outcome:
        """Send a claimed check-in's first question and record what happened."""
        assert checkin.id is not None and patient.chat_id is not None and patient.id is not None
        zone = ZoneInfo(patient.timezone)
        title = await self._title(checkin, zone)
        async with self._sending:
            delivery = await deliver(
                self.bot.send_message(
                    patient.chat_id,
                    prompts.question_text(checkin_flow.MOOD, title=title),
                    reply_markup=prompts.keyboard(checkin.id, checkin_flow.MOOD),
                    rate_limit_args=self._routine(routine),
                ),
                what=f"checkin={checkin.id}",
                attempt=checkin.attempts,
            )
        self._count(delivery)
        now = self.ctx.clock.now()
        clinic = self.ctx.clinic(patient.clinic_id)
        async with self.ctx.db.transaction() as session:
            row = await get_checkin(session, checkin_id=checkin.id)
            assert row is not None
            row.attempts += 1
            if delivery.outcome is Outcome.SENT:
                assert delivery.message is not None
                await self._close_older(session, patient, row, now)
                row.status, row.sent_at = CheckinStatus.SENT, now
                row.message_id = delivery.message.message_id
                row.current_item = checkin_flow.MOOD
                row.reminder_due_at = defer_past_quiet_hours(
                    now + clinic.checkins.reminder_after, zone, clinic.quiet()
                )
                row.closes_at = now + clinic.checkins.missed_after
                await release(session, checkin=row)
            elif delivery.outcome is Outcome.RETRY:
                row.last_error = delivery.error
                await release(
                    session,
                    checkin=row,
                    retry_at=now + (delivery.retry_after or timedelta(seconds=5)),
                )
            else:
                row.status, row.closed_at, row.last_error = (
                    CheckinStatus.FAILED,
                    now,
                    delivery.error,
                )
                await release(session, checkin=row)
                if delivery.outcome is Outcome.UNREACHABLE:
                    await self._mark_unreachable(session, patient.id, now, delivery)
                else:  # refused for good: the patient was not contacted, so a human looks
                    await raise_concern(
                        session,
                        patient=patient,
                        level=Level.LOW,
                        trigger="non_response",
                        now=now,
                        checkin_id=row.id,
                        findings=[
                            Finding(
                                Level.LOW,
                                f"check-in #{row.id} could not be delivered: {delivery.error}",
                            )
                        ],
                    )
            await audit.append(
                session,
                at=now,
                actor="dispatcher",
                event=f"prompt.{delivery.outcome}",
                clinic_id=patient.clinic_id,
                patient_id=patient.id,
                checkin_id=checkin.id,
                detail={"item": checkin_flow.MOOD, "error": delivery.error}
                if delivery.error
                else {"item": checkin_flow.MOOD},
            )
        return delivery.outcome

    async def _title(self, checkin: Checkin, zone: ZoneInfo) -> str:
        if checkin.infusion_id is None:
            return prompts.checkin_title(checkin, infusion_ended_at_local=None)
        async with self.ctx.db.transaction() as session:
            infusion = await get_infusion(session, infusion_id=checkin.infusion_id)
        assert infusion is not None
        return prompts.checkin_title(
            checkin, infusion_ended_at_local=prompts.local_day(infusion.ended_at, zone)
        )

    async def _close_older(
        self, session: AsyncSession, patient: Patient, newer: Checkin, now: datetime
    ) -> None:
        """A new check-in closes any older one still open: one conversation at a time."""
        assert patient.id is not None
        for older in await open_checkins(session, patient_id=patient.id):
            if older.id != newer.id:
                await close_checkin(
                    session,
                    checkin=older,
                    patient=patient,
                    clinic=self.ctx.clinic(patient.clinic_id),
                    now=now,
                    actor="dispatcher",
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
            actor="dispatcher",
            event="patient.unreachable",
            clinic_id=patient.clinic_id,
            patient_id=patient_id,
            detail={"error": delivery.error, "cancelled_checkins": cancelled},
        )
        level = self.ctx.clinic(patient.clinic_id).non_response.unreachable
        reason = f"patient unreachable on Telegram ({delivery.error}); no more check-ins sent"
        await raise_concern(
            session,
            patient=patient,
            level=level,
            trigger="non_response",
            now=now,
            findings=[Finding(level, reason)],
        )

    async def page_now(self, escalation_id: int) -> None:
        """The fast path: page for a just-committed escalation without waiting for a tick."""
        try:
            await self.pager.run_due(only_id=escalation_id)
        except Exception:
            log.exception("pager.fast_path_failed case=%s (the next tick retries)", escalation_id)

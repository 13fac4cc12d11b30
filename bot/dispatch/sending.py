"""Sending due check-ins: claim a batch, send the first questions, record every outcome.

A claim is a lease, not a lock held across the network: an instance that dies after
claiming leaves rows whose lease expires, and the next claim (here or elsewhere) sends them.
So a crash can cause a resend, never a loss.
"""

from __future__ import annotations

import asyncio
import logging
import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from telegram.ext import ExtBot

from bot.context import AppContext
from bot.domain import checkin_flow
from bot.i18n import use_language
from bot.i18n.dates import local_day
from bot.i18n.resolve import patient_language
from bot.messaging import questions
from bot.messaging.delivery import Delivery, Outcome, deliver, send_question
from bot.messaging.ratelimit import ROUTINE
from bot.services import checkin_states, deliveries
from storage.checkins import checkins_by_ids, claim_due
from storage.infusions import infusions_by_ids
from storage.models import Checkin, Infusion, Patient
from storage.patients import patients_by_ids
from storage.states import CheckinStatus, PatientStatus

log = logging.getLogger(__name__)

ROUND_SECONDS = 2.0  # under the rate limiter, a round's sends take about this long


def claim_batch(rate: float, *, batch: int = 200, workers: int = 2, concurrency: int = 16) -> int:
    """Rows one claim takes. Under a limiter of `rate` sends a second, only what can go out
    within about ROUND_SECONDS, so timers come round again soon and a shutdown has little to
    hand back; without one (rate 0), `batch`."""
    if rate <= 0:
        return batch
    return min(batch, max(concurrency, math.ceil(rate * ROUND_SECONDS / workers)))


@dataclass
class TickReport:
    """What one dispatcher tick did, phase by phase."""

    sent: int = 0
    reminded: int = 0
    closed: int = 0
    missed_unsent: int = 0
    retried: int = 0
    failed: int = 0
    paged: int = 0
    caring_sent: int = 0
    rounds: int = 0
    more: bool = False  # a phase of the last round claimed a full batch: more may be waiting
    failed_phases: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Prompt:
    """A claimed check-in ready to send: the row, its patient and its title."""

    checkin: Checkin
    patient: Patient
    title: str


def one_per_patient(batch: list[Prompt], *, now: datetime) -> list[Prompt]:
    """Two check-ins due together for one patient (e.g. both held by quiet hours) become one.

    The one that asks the red flags is kept, else the latest; the other is superseded.
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
        checkin_states.supersede(
            loser.checkin, now=now, reason=f"due with check-in #{winner.checkin.id}; sent as one"
        )
        kept[prompt.patient.id or 0] = winner
    return list(kept.values())


def title_of(checkin: Checkin, patient: Patient, infusions: dict[int, Infusion]) -> str:
    """'4-hour check-in after your infusion on Tue 25 Nov' in the patient's time zone."""
    infusion = infusions.get(checkin.infusion_id) if checkin.infusion_id is not None else None
    ended = local_day(infusion.ended_at, ZoneInfo(patient.timezone)) if infusion else None
    return questions.checkin_title(checkin, infusion_ended_at_local=ended)


class Sender:
    """Sends check-ins' first questions (bounded concurrency) and records the outcomes."""

    def __init__(self, ctx: AppContext, bot: ExtBot[Any], *, batch: int, concurrency: int) -> None:
        self.ctx, self.bot, self.batch = ctx, bot, batch
        self.slots = asyncio.Semaphore(concurrency)  # sends on the wire at once, reminders too
        self.stopping = False  # shutting down: sends not yet started are handed back

    @property
    def lease(self) -> timedelta:
        return timedelta(seconds=self.ctx.settings.lease_seconds)

    def routine(self, routine: bool) -> dict[str, Any] | None:
        """Limiter arguments for a send: routine check-ins yield to safety messages."""
        return ROUTINE if routine and self.bot.rate_limiter is not None else None

    def language(self, patient: Patient) -> str:
        """The language a send to `patient` is in (issue 29)."""
        return patient_language(patient, self.ctx.clinic(patient.clinic_id).language)

    def count(self, delivery: Delivery) -> None:
        if delivery.outcome is Outcome.SENT:
            self.ctx.metrics.checkins_sent.inc()
        elif delivery.outcome is not Outcome.NOT_SENT:
            self.ctx.metrics.send_errors.labels(kind=delivery.outcome.value).inc()

    async def send_due(self, now: datetime, report: TickReport) -> None:
        """Claim one batch of due check-ins, send them and record what happened."""
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
            missed: list[int] = []
            for checkin in rows:
                patient = patients[checkin.patient_id]
                clinic = self.ctx.clinic(patient.clinic_id)
                if patient.status != PatientStatus.ACTIVE or patient.chat_id is None:
                    checkin_states.cancel(checkin, now=now)
                    report.notes.append(f"checkin {checkin.id}: patient {patient.status}")
                elif now >= checkin.due_at + clinic.checkins.missed_after:
                    missed.append(checkin.id or 0)  # closed below, after the chain
                else:
                    with use_language(self.language(patient)):
                        title = title_of(checkin, patient, infusions)
                    to_send.append(Prompt(checkin, patient, title))
            to_send = one_per_patient(to_send, now=now)
        for outcome in await self.deliver(to_send, routine=True):
            report.sent += outcome is Outcome.SENT
            report.retried += outcome is Outcome.RETRY
            report.failed += outcome in (Outcome.FAILED, Outcome.UNREACHABLE)
        if missed:
            await self.close_missed_unsent(missed, now, report)

    async def close_missed_unsent(self, ids: list[int], now: datetime, report: TickReport) -> None:
        """Close claimed check-ins whose window passed unsent, in a transaction of their own:
        closing audits, so it takes the audit chain before their rows (one lock order: a /stop
        or an erasure holds the chain, then locks the patient's check-ins). One that changed
        since the claim (cancelled, taken over) is left as it is."""
        async with self.ctx.db.transaction() as session:
            fresh = await checkins_by_ids(session, ids=ids)  # the chain, then the rows
            patients = await patients_by_ids(session, ids=[c.patient_id for c in fresh.values()])
            for checkin in fresh.values():
                if (
                    checkin.status != CheckinStatus.SCHEDULED
                    or checkin.lease_owner != self.ctx.instance_id
                ):
                    continue
                patient = patients[checkin.patient_id]
                await deliveries.record_missed_unsent(
                    session,
                    checkin=checkin,
                    patient=patient,
                    clinic=self.ctx.clinic(patient.clinic_id),
                    now=now,
                )
                report.missed_unsent += 1

    async def send_checkin(
        self, checkin: Checkin, patient: Patient, *, routine: bool = True
    ) -> Outcome:
        """Send one claimed check-in's first question and record what happened."""
        async with self.ctx.db.transaction() as session:
            infusions = await infusions_by_ids(
                session, ids=[checkin.infusion_id] if checkin.infusion_id is not None else []
            )
        with use_language(self.language(patient)):
            title = title_of(checkin, patient, infusions)
        (outcome,) = await self.deliver([Prompt(checkin, patient, title)], routine=routine)
        return outcome

    async def deliver(self, batch: list[Prompt], *, routine: bool) -> list[Outcome]:
        """Send first questions (bounded concurrency), then record every outcome at once."""
        if not batch:
            return []

        async def send(prompt: Prompt) -> Delivery:
            checkin, patient = prompt.checkin, prompt.patient
            assert checkin.id is not None and patient.chat_id is not None
            async with self.slots:
                if self.stopping:  # shutting down: what has not started is handed back
                    return Delivery(Outcome.NOT_SENT)
                with use_language(self.language(patient)):
                    text = questions.question_text(checkin_flow.MOOD, title=prompt.title)
                return await deliver(
                    send_question(
                        self.bot,
                        patient.chat_id,
                        text,
                        checkin_id=checkin.id,
                        item_id=checkin_flow.MOOD,
                        rate_limit_args=self.routine(routine),
                    ),
                    what=f"checkin={checkin.id}",
                    attempt=checkin.attempts,
                )

        results = await asyncio.gather(*(send(prompt) for prompt in batch))
        for delivery in results:
            self.count(delivery)
        sent = [
            deliveries.FirstQuestion(
                checkin_id=prompt.checkin.id or 0, patient=prompt.patient, delivery=delivery
            )
            for prompt, delivery in zip(batch, results, strict=True)
        ]
        now = self.ctx.clock.now()
        async with self.ctx.db.transaction() as session:
            await deliveries.record_first_questions(
                session, sent=sent, clinic_of=self.ctx.clinic, now=now
            )
        return [delivery.outcome for delivery in results]

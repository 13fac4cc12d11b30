"""Paging: walk each due case one rung up its ladder and tell the patient the truth."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from telegram import Bot

from bot.context import AppContext
from bot.dispatch.page_events import send_now
from bot.domain.escalation import step_at, targets
from bot.domain.levels import Level
from bot.messaging import pages, texts
from bot.messaging.case_news import show_case_state
from bot.messaging.delivery import Delivery, Outcome, deliver, deliver_markup
from bot.paging.email_page import page_email, page_subject
from bot.paging.smtp import Mailer
from bot.services.case_facts import checkin_facts
from bot.services.cases import (
    LadderPosition,
    advance_ladder,
    business_hours,
    ladder,
)
from bot.services.oncall import who_is_on_call
from bot.services.paging.ack_links import issue_ack_link
from bot.services.paging.events import enqueue_rung_triggers
from storage import audit
from storage.cases import any_page_sent, claim_due_cases, get_case
from storage.invites import clinicians_of_clinic
from storage.models import Case, Clinician, Page, Patient
from storage.patients import get_patient
from storage.states import PAGER, CaseTrigger, PageStatus, PatientStatus

log = logging.getLogger(__name__)

CHANNEL_SECONDS = 20.0  # the longest a rung waits for one channel's sends (a third of the
MIN_CHANNEL_SECONDS = 5.0  # case's lease, within these bounds)


@dataclass(frozen=True)
class StepPlan:
    """One rung of one case, planned under its claim: who gets which text."""

    case: Case
    patient: Patient
    recipients: tuple[Clinician, ...]
    nobody_on_call: bool
    queue_only: bool
    text: str
    position: LadderPosition  # the rung this plan fires; still the case's when recorded?
    last_resort: bool  # everyone, because nothing earlier could be delivered
    telegram: bool = True  # the rung pages in Telegram
    emails: tuple[tuple[Clinician, str], ...] = ()  # recipients with an address, ack token
    triggers: tuple[int, ...] = ()  # paging-service / webhook events queued for this rung


class Pager:
    """Runs due ladder steps; shared by the dispatcher tick and the answer fast path."""

    def __init__(self, ctx: AppContext, bot: Bot, *, lease: timedelta) -> None:
        self.ctx, self.bot, self.lease = ctx, bot, lease
        smtp = ctx.settings.smtp_url
        self.mailer = (
            Mailer(smtp.get_secret_value(), sender=ctx.settings.smtp_from)
            if smtp is not None
            else None
        )

    async def run_due(
        self,
        *,
        only_id: int | None = None,
        limit: int = 50,
        patient_told_after: asyncio.Event | None = None,
    ) -> int:
        """Claim and run due steps; returns how many cases moved.

        `patient_told_after`: the patient's 'you have been paged' notice waits for this (the
        crisis card going out alongside the page reaches the patient first).
        """
        now = self.ctx.clock.now()
        async with self.ctx.db.transaction() as session:
            claimed = await claim_due_cases(
                session,
                now=now,
                owner=self.ctx.instance_id,
                lease_until=now + self.lease,
                limit=limit,
                only_id=only_id,
            )
            plans = [await self.plan(session, case, now) for case in claimed]
        await asyncio.gather(*(self._run(plan, patient_told_after) for plan in plans))
        return len(plans)

    async def plan(self, session: AsyncSession, case: Case, now: datetime) -> StepPlan:
        """Who the case's current rung pages, and with what text."""
        patient = await get_patient(session, patient_id=case.patient_id)
        assert patient is not None and case.id is not None
        clinic = self.ctx.clinic(case.clinic_id)
        steps = ladder(clinic, Level(case.level))
        rung = steps[min(case.step, len(steps) - 1)]
        notify = rung.notify
        # Past the last rung with nothing delivered before: a page that cannot be delivered
        # counts as unacknowledged (CLINICAL.md §8), so the ladder ends with everyone.
        last_resort = case.step >= len(steps) and not await any_page_sent(
            session, case_id=case.id, step=case.step - 1
        )
        if last_resort:
            notify = ("everyone",)
        on_call = await who_is_on_call(session, clinic=clinic, at=now)
        staff = await clinicians_of_clinic(session, clinic_id=case.clinic_id)
        by_id = {c.id: c for c in staff}
        chosen = targets(  # a rostered clinician no longer active counts as nobody
            notify,
            primary=on_call.primary if on_call.primary in by_id else None,
            backup=on_call.backup if on_call.backup in by_id else None,
            everyone=[c.id for c in staff if c.id is not None],
        )
        following = case.step + 1
        next_rung = None
        if following < len(steps):
            at = step_at(
                case.ladder_started_at,
                steps[following],
                zone=clinic.zone,
                hours=business_hours(clinic),
            )
            next_rung = pages.NextRung(at, steps[following].notify)
        text = pages.page_text(
            case=case,
            patient=patient,
            clinic=clinic,
            steps=steps,
            checkin=await checkin_facts(session, checkin_id=case.checkin_id),
            now=now,
            next_rung=next_rung,
        )
        recipients = tuple(by_id[i] for i in chosen.clinician_ids if i in by_id)
        # Telegram always on the last resort; e-mail where the rung says and an address exists
        telegram = "telegram" in rung.channels or last_resort
        emails = []
        if "email" in rung.channels and self.mailer is None:
            log.warning(
                "page.channel_unavailable case=%s channel=email: no AFTERCARE_SMTP_URL", case.id
            )
        if "email" in rung.channels and self.mailer is not None:
            for clinician in recipients:
                if clinician.email and clinician.id is not None:
                    token = await issue_ack_link(
                        session, case_id=case.id, clinician_id=clinician.id, now=now
                    )
                    emails.append((clinician, token))
        triggers = await enqueue_rung_triggers(
            session,
            case=case,
            clinic=clinic,
            channels=rung.channels,
            recipients=recipients,
            now=now,
        )
        return StepPlan(
            case,
            patient,
            recipients=recipients,
            nobody_on_call=chosen.nobody_on_call,
            queue_only=chosen.queue_only,
            text=text,
            position=LadderPosition.of(case),
            last_resort=last_resort,
            telegram=telegram,
            emails=tuple(emails),
            triggers=triggers,
        )

    async def _run(self, plan: StepPlan, patient_told_after: asyncio.Event | None = None) -> None:
        case = plan.case
        assert case.id is not None
        # Each channel on its own, within a bound well under the case's lease: a channel that
        # fails or hangs costs its own pages only, never the rung's record.
        telegram, emails, _ = await asyncio.gather(
            self._bounded(self._telegram(plan), plan, "telegram"),
            self._bounded(self._emails(plan), plan, "email"),
            self._bounded(self._events(plan), plan, "events"),
        )
        deliveries = telegram + emails
        for _, channel, result in deliveries:
            self.ctx.metrics.pages.labels(channel=channel, outcome=result.outcome.value).inc()
        # Someone was reached only by a page to a person (Telegram, e-mail): a paging service's
        # or webhook's 2xx alone says nothing about who heard it, so it never tells the patient
        # "paged", and an outbox event alone does not hold the ladder back.
        sent = any(d.outcome is Outcome.SENT for _, _, d in deliveries)
        delivered = plan.queue_only or sent
        now = self.ctx.clock.now()
        async with self.ctx.db.transaction() as session:
            row = await get_case(session, case_id=case.id, lock=True)
            assert row is not None
            await _record_pages(session, row, plan, deliveries, now)
            reached_nobody = not delivered and (plan.last_resort or not plan.recipients)
            await advance_ladder(
                session,
                case=row,
                planned=plan.position,
                owner=self.ctx.instance_id,
                clinic=self.ctx.clinic(row.clinic_id),
                delivered=delivered,
                reached_nobody=reached_nobody,
                recipients=len(plan.recipients),
                now=now,
            )
        if plan.position.step == 0 and case.trigger.is_patients_own:
            if patient_told_after is not None:
                await patient_told_after.wait()
            await self._tell_patient(plan, delivered=sent)
        if plan.position.step == 0 and case.ladder_started_at > case.opened_at:
            # Raised or re-opened (a new case has no older pages): its older pages say so.
            await show_case_state(self.ctx, self.bot, case_id=case.id)

    async def _bounded(
        self, work: Awaitable[list[tuple[Clinician, str, Delivery]]], plan: StepPlan, channel: str
    ) -> list[tuple[Clinician, str, Delivery]]:
        """A channel's sends, at most CHANNEL_SECONDS; a crash or a hang is logged and counts as
        nothing delivered on that channel (the ladder then moves on)."""
        try:
            bound = min(CHANNEL_SECONDS, max(self.lease.total_seconds() / 3, MIN_CHANNEL_SECONDS))
            return await asyncio.wait_for(work, timeout=bound)
        except Exception:
            log.exception("page.channel_failed case=%s channel=%s", plan.case.id, channel)
            return []

    async def _telegram(self, plan: StepPlan) -> list[tuple[Clinician, str, Delivery]]:
        """The rung's Telegram pages, side by side."""
        case = plan.case
        assert case.id is not None
        if not plan.recipients or not plan.telegram:
            return []
        plain = pages.case_buttons(case.id, plan.position.level)
        linked = pages.case_buttons(
            case.id, plan.position.level, console_url=self.ctx.settings.console_url
        )

        def page_to(chat_id: int) -> Callable[[Any], Awaitable[Any]]:
            return lambda markup: self.bot.send_message(chat_id, plan.text, reply_markup=markup)

        results = await asyncio.gather(
            *(
                deliver_markup(
                    page_to(c.chat_id), linked, plain, what=f"page case={case.id} clinician={c.id}"
                )
                for c in plan.recipients
            )
        )
        return [(c, "telegram", r) for c, r in zip(plan.recipients, results, strict=True)]

    async def _events(self, plan: StepPlan) -> list[tuple[Clinician, str, Delivery]]:
        """Send the rung's queued events now; the outbox records and counts them, and retries
        what does not go through. Nothing here is a page to a person."""
        if plan.triggers:
            await send_now(self.ctx, list(plan.triggers))
        return []

    async def _emails(self, plan: StepPlan) -> list[tuple[Clinician, str, Delivery]]:
        """The rung's e-mailed pages (with acknowledge links), side by side."""
        if not plan.emails or self.mailer is None:
            return []
        case = plan.case
        assert case.id is not None
        console = self.ctx.settings.console_url
        subject = page_subject(level=case.level, case_id=case.id, reference=plan.patient.ref)
        mailer, case_id = self.mailer, case.id

        async def mail(clinician: Clinician, token: str) -> Delivery:
            try:
                message = page_email(
                    to=clinician.email or "",
                    sender=self.ctx.settings.smtp_from,
                    subject=subject,
                    text=plan.text,
                    ack_url=f"{console}/ack/{token}" if console else None,
                    console_url=pages.case_link(console, case_id) if console else None,
                )
            except (ValueError, TypeError, AttributeError) as exc:  # an address it cannot use
                return Delivery(Outcome.FAILED, error=f"not a usable address: {type(exc).__name__}")
            return await mailer.send(message)

        results = await asyncio.gather(*(mail(c, token) for c, token in plan.emails))
        return [(c, "email", r) for (c, _), r in zip(plan.emails, results, strict=True)]

    async def _tell_patient(self, plan: StepPlan, *, delivered: bool) -> None:
        """What happens next, truthfully: paged only if a page was delivered (CLINICAL.md §8)."""
        patient, level = plan.patient, Level(plan.case.level)
        if level.rank < Level.MODERATE.rank or patient.chat_id is None:
            return
        if patient.status != PatientStatus.ACTIVE:
            return
        clinic = self.ctx.clinic(patient.clinic_id)
        about = "message" if plan.case.trigger is CaseTrigger.MESSAGE else "answers"
        if delivered and not plan.nobody_on_call:
            text = texts.paged_notice(clinic, level, about=about)
        else:
            text = texts.nobody_notice(clinic, about=about)
        result = await deliver(self.bot.send_message(patient.chat_id, text), what="patient_notice")
        async with self.ctx.db.transaction() as session:
            await audit.append(
                session,
                at=self.ctx.clock.now(),
                actor=PAGER,
                event=f"patient_notice.{result.outcome}",
                clinic_id=patient.clinic_id,
                patient_id=patient.id,
                case_id=plan.case.id,
                detail={"paged": delivered and not plan.nobody_on_call},
            )


async def _record_pages(
    session: AsyncSession,
    row: Case,
    plan: StepPlan,
    deliveries: list[tuple[Clinician, str, Delivery]],
    now: datetime,
) -> None:
    """Each page as sent or failed, with the rung it belongs to; a queued rung as queued."""
    assert row.id is not None
    fired = plan.position.step
    for clinician, channel, delivery in deliveries:
        assert clinician.id is not None
        sent = delivery.outcome is Outcome.SENT
        session.add(
            Page(
                case_id=row.id,
                clinician_id=clinician.id,
                step=fired,
                status=PageStatus.SENT if sent else PageStatus.FAILED,
                message_id=delivery.message_id,
                error=delivery.error,
                sent_at=now,
                channel=channel,
            )
        )
        await audit.append(
            session,
            at=now,
            actor=PAGER,
            event="page.sent" if sent else "page.failed",
            clinic_id=row.clinic_id,
            patient_id=row.patient_id,
            case_id=row.id,
            detail={
                "clinician_id": clinician.id,
                "step": fired,
                "channel": channel,
                **({"error": delivery.error} if delivery.error else {}),
            },
        )
    if plan.queue_only:
        await audit.append(
            session,
            at=now,
            actor=PAGER,
            event="escalation.queued",
            clinic_id=row.clinic_id,
            patient_id=row.patient_id,
            case_id=row.id,
            detail={"step": fired},
        )

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
from bot.domain.escalation import step_at, targets
from bot.domain.levels import Level
from bot.messaging import pages, texts
from bot.messaging.case_news import show_case_state
from bot.messaging.delivery import Delivery, Outcome, deliver, deliver_markup
from bot.services.cases import (
    LadderPosition,
    advance_ladder,
    business_hours,
    checkin_facts,
    ladder,
)
from bot.services.oncall import who_is_on_call
from storage import audit
from storage.cases import any_page_sent, claim_due_cases, get_case
from storage.invites import clinicians_of_clinic
from storage.models import Case, Clinician, Page, Patient
from storage.patients import get_patient
from storage.states import PAGER, CaseTrigger, PageStatus, PatientStatus

log = logging.getLogger(__name__)


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


class Pager:
    """Runs due ladder steps; shared by the dispatcher tick and the answer fast path."""

    def __init__(self, ctx: AppContext, bot: Bot, *, lease: timedelta) -> None:
        self.ctx, self.bot, self.lease = ctx, bot, lease

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
        notify = steps[min(case.step, len(steps) - 1)].notify
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
        return StepPlan(
            case,
            patient,
            recipients=tuple(by_id[i] for i in chosen.clinician_ids if i in by_id),
            nobody_on_call=chosen.nobody_on_call,
            queue_only=chosen.queue_only,
            text=text,
            position=LadderPosition.of(case),
            last_resort=last_resort,
        )

    async def _run(self, plan: StepPlan, patient_told_after: asyncio.Event | None = None) -> None:
        case = plan.case
        assert case.id is not None
        deliveries: list[tuple[Clinician, Delivery]] = []
        if plan.recipients:
            plain = pages.case_buttons(case.id, plan.position.level)
            linked = pages.case_buttons(
                case.id, plan.position.level, console_url=self.ctx.settings.console_url
            )

            def page_to(chat_id: int) -> Callable[[Any], Awaitable[Any]]:
                return lambda markup: self.bot.send_message(chat_id, plan.text, reply_markup=markup)

            results = await asyncio.gather(
                *(
                    deliver_markup(
                        page_to(c.chat_id),
                        linked,
                        plain,
                        what=f"page case={case.id} clinician={c.id}",
                    )
                    for c in plan.recipients
                )
            )
            deliveries = list(zip(plan.recipients, results, strict=True))
            for result in results:
                self.ctx.metrics.pages.labels(outcome=result.outcome.value).inc()
        sent = any(d.outcome is Outcome.SENT for _, d in deliveries)
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
    deliveries: list[tuple[Clinician, Delivery]],
    now: datetime,
) -> None:
    """Each page as sent or failed, with the rung it belongs to; a queued rung as queued."""
    assert row.id is not None
    fired = plan.position.step
    for clinician, delivery in deliveries:
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

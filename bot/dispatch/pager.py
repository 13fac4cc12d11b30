"""Paging: walk each due escalation one rung up its ladder and tell the patient the truth."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup

from bot.context import AppContext
from bot.domain.escalation import Step, next_step_time, targets
from bot.domain.levels import Level
from bot.messaging import texts
from bot.messaging.delivery import Delivery, Outcome, deliver
from bot.services.cases import business_hours, ladder
from bot.services.oncall import who_is_on_call
from storage import audit
from storage.cases import any_page_sent, claim_due_cases, get_case
from storage.checkins import answers_of, get_checkin
from storage.infusions import get_infusion
from storage.invites import clinicians_of_clinic
from storage.models import Case, Clinician, Page, Patient
from storage.patients import get_patient
from storage.states import PAGER, CaseStatus, PageStatus, PatientStatus

log = logging.getLogger(__name__)

ICON = {Level.HIGH: "🔴", Level.MODERATE: "🟠", Level.LOW: "🟡", Level.NONE: "⚪"}


def case_buttons(case_id: int, level: str) -> InlineKeyboardMarkup:
    """The page's buttons carry the level they were sent for: a raised case needs a new look."""
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton("Acknowledge", callback_data=f"esc:ack:{case_id}:{level}"),
                InlineKeyboardButton("Resolve", callback_data=f"esc:res:{case_id}:{level}"),
            ]
        ]
    )


@dataclass(frozen=True)
class StepPlan:
    case: Case
    patient: Patient
    recipients: tuple[Clinician, ...]
    nobody_on_call: bool
    queue_only: bool
    text: str
    step: int  # the rung this plan fires; the row must still be there when it is recorded
    level: str
    ladder_started_at: datetime
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
        """Claim and run due steps; returns how many escalations moved.

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
            plans = [await self._plan(session, case, now) for case in claimed]
        await asyncio.gather(*(self._run(plan, patient_told_after) for plan in plans))
        return len(plans)

    async def _plan(self, session: AsyncSession, case: Case, now: datetime) -> StepPlan:
        patient = await get_patient(session, patient_id=case.patient_id)
        assert patient is not None
        clinic = self.ctx.clinic(case.clinic_id)
        steps = ladder(clinic, Level(case.level))
        notify = steps[min(case.step, len(steps) - 1)].notify
        # Past the last rung with nothing delivered before: a page that cannot be delivered
        # counts as unacknowledged (CLINICAL.md §8), so the ladder ends with everyone.
        last_resort = case.step >= len(steps) and not await any_page_sent(
            session, case_id=case.id or 0, step=case.step - 1
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
        recipients = tuple(by_id[i] for i in chosen.clinician_ids if i in by_id)
        text = await self._page_text(session, case, patient, clinic_ack=steps, now=now)
        return StepPlan(
            case,
            patient,
            recipients,
            chosen.nobody_on_call,
            chosen.queue_only,
            text,
            step=case.step,
            level=case.level,
            ladder_started_at=case.ladder_started_at,
            last_resort=last_resort,
        )

    async def _page_text(
        self,
        session: AsyncSession,
        case: Case,
        patient: Patient,
        *,
        clinic_ack: list[Step],
        now: datetime,
    ) -> str:
        assert case.id is not None
        clinic = self.ctx.clinic(case.clinic_id)
        level = Level(case.level)
        who = patient.ref
        if clinic.alerts_include_name and patient.display_name:
            who = f"{patient.display_name} ({patient.ref})"
        lines = [
            f"{ICON[level]} {level.value.upper()} priority — case #{case.id}",
            f"Patient: {who}",
            "Why:",
            case.reason,
        ]
        if case.quote:
            lines.append(f"Patient wrote: «{case.quote[:1500]}»")
        if case.checkin_id is not None:
            lines.extend(await self._checkin_lines(session, case.checkin_id, patient))
        if len(clinic_ack) > 1 and isinstance(clinic_ack[1].after, timedelta):
            lines.append(f"Acknowledge within {_duration(clinic_ack[1].after)}.")
        if level is Level.HIGH:
            lines.append(
                "A human should reach this patient within "
                f"{_duration(clinic.escalation.human_contact_within)} at most."
            )
        if case.step > 0:
            lines.append(f"Re-page (step {case.step + 1}): nobody has acknowledged yet.")
        return "\n".join(lines)[:4000]

    async def _checkin_lines(
        self, session: AsyncSession, checkin_id: int, patient: Patient
    ) -> list[str]:
        checkin = await get_checkin(session, checkin_id=checkin_id)
        if checkin is None:
            return []
        answers = await answers_of(session, checkin_id=checkin_id)
        zone = ZoneInfo(patient.timezone)
        lines = []
        if "mood" in answers:
            baseline = (
                f" (baseline {patient.baseline_mood})" if patient.baseline_mood is not None else ""
            )
            lines.append(f"Mood: {answers['mood']}/10{baseline}")
        shown = [f"{k.upper()}={v}" for k, v in answers.items() if k not in ("mood", "note")]
        if shown:
            lines.append("Answers: " + ", ".join(shown))
        due = checkin.due_at.astimezone(zone)
        where = f"Check-in #{checkin.id} ({checkin.kind}, due {due:%a %d %b %H:%M %Z})"
        if checkin.infusion_id is not None:
            infusion = await get_infusion(session, infusion_id=checkin.infusion_id)
            if infusion is not None:
                where += (
                    f", infusion #{infusion.id} ended "
                    f"{infusion.ended_at.astimezone(zone):%a %d %b %H:%M}"
                )
        lines.append(where)
        return lines

    async def _run(self, plan: StepPlan, patient_told_after: asyncio.Event | None = None) -> None:
        case = plan.case
        assert case.id is not None
        deliveries: list[tuple[Clinician, Delivery]] = []
        if plan.recipients:
            results = await asyncio.gather(
                *(
                    deliver(
                        self.bot.send_message(
                            c.chat_id, plan.text, reply_markup=case_buttons(case.id, plan.level)
                        ),
                        what=f"page case={case.id} clinician={c.id}",
                    )
                    for c in plan.recipients
                )
            )
            deliveries = list(zip(plan.recipients, results, strict=True))
            for result in results:
                self.ctx.metrics.pages.labels(outcome=result.outcome.value).inc()
        delivered = plan.queue_only or any(d.outcome is Outcome.SENT for _, d in deliveries)
        now = self.ctx.clock.now()
        clinic = self.ctx.clinic(case.clinic_id)
        async with self.ctx.db.transaction() as session:
            row = await get_case(session, case_id=case.id, lock=True)
            assert row is not None
            mine = row.lease_owner == self.ctx.instance_id
            if mine:
                row.lease_owner = row.lease_until = None
            fired = plan.step
            # Raised, acknowledged or taken over while the pages were out: record the pages,
            # but leave the ladder to its new state (a raised level fires its own first rung).
            unchanged = mine and (row.step, row.level, row.ladder_started_at) == (
                plan.step,
                plan.level,
                plan.ladder_started_at,
            )
            for clinician, delivery in deliveries:
                assert clinician.id is not None
                session.add(
                    Page(
                        case_id=case.id,
                        clinician_id=clinician.id,
                        step=fired,
                        status=PageStatus.SENT
                        if delivery.outcome is Outcome.SENT
                        else PageStatus.FAILED,
                        message_id=delivery.message_id,
                        error=delivery.error,
                        sent_at=now,
                    )
                )
                await audit.append(
                    session,
                    at=now,
                    actor=PAGER,
                    event="page.sent" if delivery.outcome is Outcome.SENT else "page.failed",
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
            if row.status == CaseStatus.OPEN and unchanged:
                steps = ladder(clinic, Level(row.level))
                row.step = fired + 1
                row.next_step_at = next_step_time(
                    steps,
                    fired,
                    opened_at=row.ladder_started_at,
                    now=now,
                    zone=clinic.zone,
                    hours=business_hours(clinic),
                    delivered=delivered,
                )
                if not delivered and (plan.last_resort or not plan.recipients):
                    # Even the last resort reached nobody: try again each minute, loudly.
                    log.critical("page.nobody_reached case=%s clinic=%s", row.id, row.clinic_id)
                    row.next_step_at = now + timedelta(minutes=1)
                    await audit.append(
                        session,
                        at=now,
                        actor=PAGER,
                        event="escalation.nobody_reached",
                        clinic_id=row.clinic_id,
                        patient_id=row.patient_id,
                        case_id=row.id,
                        detail={"step": fired, "recipients": len(plan.recipients)},
                    )
        if fired == 0 and case.trigger.is_patients_own:
            if patient_told_after is not None:
                await patient_told_after.wait()
            await self._tell_patient(
                plan, delivered=any(d.outcome is Outcome.SENT for _, d in deliveries)
            )

    async def _tell_patient(self, plan: StepPlan, *, delivered: bool) -> None:
        """What happens next, truthfully: paged only if a page was delivered (CLINICAL.md §8)."""
        patient, level = plan.patient, Level(plan.case.level)
        if level.rank < Level.MODERATE.rank or patient.chat_id is None:
            return
        if patient.status != PatientStatus.ACTIVE:
            return
        clinic = self.ctx.clinic(patient.clinic_id)
        if delivered and not plan.nobody_on_call:
            text = texts.paged_notice(clinic, level)
        else:
            text = texts.nobody_notice(clinic)
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


def _duration(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    if minutes < 1:
        return f"{int(delta.total_seconds())} s"
    if minutes < 120:
        return f"{minutes} min"
    return f"{minutes // 60} h"

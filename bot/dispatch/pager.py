"""Paging: walk each due case one rung up its ladder, on every channel the rung names, and tell
the patient the truth."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession
from telegram import Bot

from bot.channels.base import Channel, Outgoing, RungPage
from bot.channels.registry import build_channels
from bot.context import AppContext
from bot.domain.channels import ChannelKind
from bot.domain.escalation import step_at, targets
from bot.domain.levels import Level
from bot.i18n import use_language
from bot.i18n.resolve import patient_language
from bot.messaging import pages, texts
from bot.messaging.case_news import show_case_state
from bot.messaging.delivery import Delivery, Outcome, deliver
from bot.services.case_facts import checkin_facts
from bot.services.cases import LadderPosition, business_hours, ladder
from bot.services.deliveries import owes_paged_correction, record_patient_notice
from bot.services.oncall import who_is_on_call
from bot.services.paging.rungs import PageResult, record_rung
from storage.cases import any_page_sent, claim_due_cases, get_case, pages_of
from storage.invites import clinicians_of_clinic
from storage.models import Case, Clinician, Page, Patient
from storage.patients import get_patient
from storage.states import CaseTrigger, PageStatus, PatientStatus

log = logging.getLogger(__name__)

CHANNEL_SECONDS = 20.0  # the longest a rung waits for one channel's sends (a third of the
MIN_CHANNEL_SECONDS = 5.0  # case's lease, within these bounds)


@dataclass(frozen=True)
class StepPlan:
    """One rung of one case, planned under its claim: the page and what each channel sends."""

    case: Case
    patient: Patient
    page: RungPage
    queue_only: bool
    position: LadderPosition  # the rung this plan fires; still the case's when recorded?
    last_resort: bool  # everyone, because nothing earlier could be delivered
    outgoing: tuple[Outgoing, ...] = ()  # every channel's pages, in the rung's channel order
    again: bool = False  # this rung paged before and pages again (news on the case)

    @property
    def first_of_ladder(self) -> bool:
        """The ladder's first rung, paged for the first time."""
        return self.position.step == 0 and not self.again


class Pager:
    """Runs due ladder steps; shared by the dispatcher tick and the answer fast path."""

    def __init__(
        self,
        ctx: AppContext,
        bot: Bot,
        *,
        lease: timedelta,
        channels: Mapping[ChannelKind, Channel] | None = None,
    ) -> None:
        self.ctx, self.bot, self.lease = ctx, bot, lease
        self.channels = channels if channels is not None else build_channels(ctx, bot)

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
        """Who the case's current rung pages, with what text, on which channels."""
        patient = await get_patient(session, patient_id=case.patient_id)
        assert patient is not None
        assert case.id is not None
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
        recipients = tuple(by_id[i] for i in chosen.clinician_ids if i in by_id)
        so_far = await self._so_far(session, case, staff, recipients)
        text = pages.page_text(
            case=case,
            patient=patient,
            clinic=clinic,
            steps=steps,
            checkin=await checkin_facts(session, checkin_id=case.checkin_id),
            now=now,
            next_rung=next_rung,
            so_far=so_far,
        )
        page = RungPage(
            case=case,
            clinic=clinic,
            reference=patient.ref,
            text=text,
            summary=pages.page_summary(case.level, case.id, clinic.name),
            recipients=recipients,
            nobody_on_call=chosen.nobody_on_call,
        )
        # Telegram always on the last resort: the one channel every clinician has
        kinds = dict.fromkeys(
            [*rung.channels, ChannelKind.TELEGRAM] if last_resort else rung.channels
        )
        outgoing: list[Outgoing] = []
        for kind in kinds:
            channel = self.channels.get(kind)
            if channel is None:
                log.warning(
                    "page.channel_unavailable case=%s channel=%s: not configured", case.id, kind
                )
                continue
            outgoing += await channel.prepare(session, page, now=now)
        return StepPlan(
            case,
            patient,
            page,
            queue_only=chosen.queue_only,
            position=LadderPosition.of(case),
            last_resort=last_resort,
            outgoing=tuple(outgoing),
            again=so_far.again,
        )

    @staticmethod
    async def _so_far(
        session: AsyncSession,
        case: Case,
        staff: Sequence[Clinician],
        recipients: Sequence[Clinician],
    ) -> pages.LadderSoFar:
        """This ladder's earlier pages (since it started or last restarted), by outcome."""
        assert case.id is not None
        names = {c.id: c.name for c in staff}
        earlier = [
            p
            for p in await pages_of(session, case_id=case.id)
            if p.sent_at >= case.ladder_started_at
        ]

        def named(page: Page) -> str:
            who = names.get(page.clinician_id, f"clinician #{page.clinician_id}")
            return f"{who} ({page.channel.label})"

        reached = tuple(dict.fromkeys(named(p) for p in earlier if p.status == PageStatus.SENT))
        failed = tuple(dict.fromkeys(named(p) for p in earlier if p.status != PageStatus.SENT))
        return pages.LadderSoFar(
            first_at=min((p.sent_at for p in earlier), default=None),
            reached=reached,
            failed=tuple(f for f in failed if f not in reached),
            paged_now=tuple(c.name for c in recipients),
            again=any(p.step == case.step for p in earlier),
        )

    async def _run(self, plan: StepPlan, patient_told_after: asyncio.Event | None = None) -> None:
        case = plan.case
        assert case.id is not None
        # Each channel on its own, within a bound well under the case's lease: a channel that
        # fails or hangs costs its own pages only, never the rung's record.
        kinds = list(dict.fromkeys(out.kind for out in plan.outgoing))
        sent_by_channel = await asyncio.gather(*(self._bounded(plan, kind) for kind in kinds))
        results = [result for sent in sent_by_channel for result in sent]
        # Someone was reached only by a page to a person (Telegram, e-mail): a paging service's
        # or webhook's 2xx alone says nothing about who heard it, so it never tells the patient
        # "paged", and an outbox event alone does not hold the ladder back.
        sent = any(r.sent for r in results)
        delivered = plan.queue_only or sent
        now = self.ctx.clock.now()
        async with self.ctx.db.transaction() as session:
            row = await get_case(session, case_id=case.id, lock=True)
            assert row is not None
            await record_rung(
                session,
                case=row,
                planned=plan.position,
                owner=self.ctx.instance_id,
                clinic=self.ctx.clinic(row.clinic_id),
                results=results,
                queue_only=plan.queue_only,
                delivered=delivered,
                reached_nobody=not delivered and (plan.last_resort or not plan.page.recipients),
                recipients=len(plan.page.recipients),
                now=now,
            )
        if plan.first_of_ladder and case.trigger.is_patients_own:
            if patient_told_after is not None:
                await patient_told_after.wait()
            await self._tell_patient(plan, delivered=sent)
        elif sent and not plan.page.nobody_on_call and case.trigger.is_patients_own:
            await self._correct_patient(plan)
        if plan.first_of_ladder and case.ladder_started_at > case.opened_at:
            # Raised or re-opened (a new case has no older pages): its older pages say so.
            await show_case_state(self.ctx, self.bot, case_id=case.id)

    async def _bounded(self, plan: StepPlan, kind: ChannelKind) -> list[PageResult]:
        """A channel's sends, side by side, at most CHANNEL_SECONDS; a crash or a hang is logged
        and counts as nothing delivered on that channel (the ladder then moves on). Only pages to
        a person are results: an outbox event is recorded by the outbox."""
        channel, page = self.channels[kind], plan.page
        mine = [out for out in plan.outgoing if out.kind is kind]
        bound = min(CHANNEL_SECONDS, max(self.lease.total_seconds() / 3, MIN_CHANNEL_SECONDS))
        try:
            async with asyncio.timeout(bound):
                deliveries = await channel.send(page, mine)
        except Exception:
            log.exception("page.channel_failed case=%s channel=%s", plan.case.id, kind)
            return []
        results = []
        for out, delivery in zip(mine, deliveries, strict=True):
            if out.clinician is None or out.clinician.id is None or not kind.reaches_person:
                continue  # an outbox event: recorded and counted by the outbox
            self.ctx.metrics.pages.labels(channel=kind, outcome=delivery.outcome.value).inc()
            sent = delivery.outcome is Outcome.SENT
            results.append(
                PageResult(out.clinician.id, kind, sent, delivery.message_id, delivery.error)
            )
        return results

    async def _tell_patient(self, plan: StepPlan, *, delivered: bool) -> None:
        """What happens next, truthfully: paged only if a page was delivered (CLINICAL.md §8)."""
        patient, level = plan.patient, Level(plan.case.level)
        if level.rank < Level.MODERATE.rank or patient.chat_id is None:
            return
        if patient.status != PatientStatus.ACTIVE:
            return
        clinic = self.ctx.clinic(patient.clinic_id)
        about = "message" if plan.case.trigger is CaseTrigger.MESSAGE else "answers"
        with use_language(patient_language(patient, clinic.language)):
            if delivered and not plan.page.nobody_on_call:
                text = texts.paged_notice(clinic, level, about=about)
            else:
                text = texts.nobody_notice(clinic, about=about)
        result = await deliver(self.bot.send_message(patient.chat_id, text), what="patient_notice")
        await self._record_notice(plan, result, paged=delivered and not plan.page.nobody_on_call)

    async def _correct_patient(self, plan: StepPlan) -> None:
        """A later rung got through after the patient read that nobody may see this soon: tell
        them, once, that their care team has now been paged."""
        patient = plan.patient
        assert plan.case.id is not None and patient.id is not None
        if patient.chat_id is None or patient.status != PatientStatus.ACTIVE:
            return
        async with self.ctx.db.transaction() as session:
            owed = await owes_paged_correction(session, patient_id=patient.id, case_id=plan.case.id)
        if not owed:
            return
        clinic = self.ctx.clinic(patient.clinic_id)
        with use_language(patient_language(patient, clinic.language)):
            text = texts.paged_after_all(clinic)
        result = await deliver(
            self.bot.send_message(patient.chat_id, text),
            what="patient_notice_corrected",
        )
        await self._record_notice(plan, result, paged=True, corrected=True)

    async def _record_notice(
        self, plan: StepPlan, result: Delivery, *, paged: bool, corrected: bool = False
    ) -> None:
        assert plan.case.id is not None
        async with self.ctx.db.transaction() as session:
            await record_patient_notice(
                session,
                patient=plan.patient,
                case_id=plan.case.id,
                outcome=result.outcome,
                paged=paged,
                now=self.ctx.clock.now(),
                corrected=corrected,
            )

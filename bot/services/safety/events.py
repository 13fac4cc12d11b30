"""The patient and their plan in Telegram: which step they see, what a tap does, and every
view and tap recorded (`SafetyPlanEvent`, with the open case if any) for the timeline and the
case. Plain values only; the Telegram side is `bot/messaging/safety_plan`.

When a positive screen shows it (CLINICAL.md §11): with the full crisis card (once per
check-in, once per burst of crisis words, as the card), after the card and the page, and not
again within SHOW_AGAIN_AFTER of the last time it was shown (a burst of messages sees it once).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain import safety_plan as rules
from bot.domain.safety_plan import STEP_COUNT, PlanItem
from bot.i18n import C_
from bot.services.safety.plans import active_plan, steps_of
from storage.models import Patient, SafetyPlan, SafetyPlanEvent
from storage.safety.plans import (
    add_plan_event,
    get_plan,
    last_shown_at,
    open_case_id,
    plan_events,
)
from storage.states import PlanEventKind

SHOW_AGAIN_AFTER = timedelta(minutes=30)


class Tap(StrEnum):
    NEXT = "n"
    HELPED = "h"
    CALL = "c"


@dataclass(frozen=True)
class StepView:
    """One step as the patient sees it, with its plan's id for the buttons."""

    plan_id: int
    step: int  # 1–6
    title: str
    items: tuple[PlanItem, ...]

    @property
    def contacts(self) -> tuple[tuple[int, PlanItem], ...]:
        """(index within the step, item) of each item with a number."""
        return tuple((i, item) for i, item in enumerate(self.items) if item.is_contact)

    @property
    def last(self) -> bool:
        return self.step >= STEP_COUNT


@dataclass(frozen=True)
class TapResult:
    """What a tap did: `refusal` (forged or stale: nothing recorded), or the step to show now
    and, for Call, the contact."""

    refusal: str | None = None
    view: StepView | None = None
    contact: PlanItem | None = None
    kind: PlanEventKind | None = None


STALE = "This button is from an older version of your plan. Send /plan for the current one."
UNKNOWN = "This button is not one of ours. Send /plan to see your plan."


def step_view(plan: SafetyPlan, step: int) -> StepView:
    assert plan.id is not None
    return StepView(
        plan.id, step, rules.step_title(step, for_patient=True), steps_of(plan)[step - 1]
    )


async def plan_to_show(
    session: AsyncSession,
    *,
    patient: Patient,
    now: datetime,
    on_screen: bool,
    paged: bool = False,
) -> StepView | None:
    """Step 1 of the patient's active plan, to send now, or None (no active plan; or, on a
    positive screen, it was shown less than SHOW_AGAIN_AFTER ago, unless this screen paged a
    clinician: after "you have been paged" the plan comes again, once a case). Records it as
    shown."""
    assert patient.id is not None
    plan = await active_plan(session, patient_id=patient.id)
    if plan is None:
        return None
    if on_screen and not paged:
        last = await last_shown_at(session, patient_id=patient.id)
        if last is not None and now - last < SHOW_AGAIN_AFTER:
            return None
    view = step_view(plan, 1)
    await _record(session, patient, plan, PlanEventKind.SHOWN, 1, None, now)
    return view


async def tap(
    session: AsyncSession,
    *,
    patient: Patient,
    plan_id: int,
    action: str,
    step: int,
    item: int | None,
    now: datetime,
) -> TapResult:
    """*Next step*, *This helped* or *Call …* on step `step` of plan `plan_id`: checked against
    the patient's current active plan; recorded when it holds."""
    assert patient.id is not None
    plan = await get_plan(session, plan_id=plan_id)
    if plan is None or plan.patient_id != patient.id or not 1 <= step <= STEP_COUNT:
        return TapResult(refusal=UNKNOWN)
    current = await active_plan(session, patient_id=patient.id)
    if current is None or current.id != plan.id:
        return TapResult(refusal=STALE)
    if action == Tap.NEXT and step < STEP_COUNT:
        view = step_view(plan, step + 1)
        await _record(session, patient, plan, PlanEventKind.NEXT, step + 1, None, now)
        return TapResult(view=view, kind=PlanEventKind.NEXT)
    if action == Tap.HELPED:
        await _record(session, patient, plan, PlanEventKind.HELPED, step, None, now)
        return TapResult(view=step_view(plan, step), kind=PlanEventKind.HELPED)
    items = steps_of(plan)[step - 1]
    if action == Tap.CALL and item is not None and 0 <= item < len(items):
        contact = items[item]
        if contact.is_contact:
            await _record(session, patient, plan, PlanEventKind.CALL, step, contact.name, now)
            return TapResult(view=step_view(plan, step), contact=contact, kind=PlanEventKind.CALL)
    return TapResult(refusal=UNKNOWN)


async def _record(
    session: AsyncSession,
    patient: Patient,
    plan: SafetyPlan,
    kind: PlanEventKind,
    step: int,
    detail: str | None,
    now: datetime,
) -> None:
    assert patient.id is not None and plan.id is not None
    await add_plan_event(
        session,
        event=SafetyPlanEvent(
            patient_id=patient.id,
            clinic_id=patient.clinic_id,
            plan_id=plan.id,
            case_id=await open_case_id(session, patient_id=patient.id),
            kind=kind,
            step=step,
            detail=detail[:200] if detail else None,
            at=now,
        ),
    )


@dataclass(frozen=True)
class PlanUse:
    """A view or tap as the timeline and the case show it."""

    at: datetime
    case_id: int | None
    kind: PlanEventKind
    step: int
    detail: str | None

    @property
    def line(self) -> str:
        """ "opened their plan, step 1", "tapped Next step, step 4", "tapped Call Sam, step 4"."""
        said = {
            PlanEventKind.SHOWN: C_("opened their plan, step {step} ({title})"),
            PlanEventKind.NEXT: C_("moved to the next step, step {step} ({title})"),
            PlanEventKind.HELPED: C_("tapped This helped, step {step} ({title})"),
            PlanEventKind.CALL: C_("tapped Call {name}, step {step} ({title})"),
        }[self.kind]
        title = C_(rules.step_title(self.step)).lower()  # marked in bot.console.safety_plan
        name = self.detail or C_("a contact")
        return said.format(step=self.step, title=title, name=name)


async def plan_uses(
    session: AsyncSession,
    *,
    patient_id: int,
    case_id: int | None = None,
    since: datetime | None = None,
) -> list[PlanUse]:
    """The patient's views and taps (of one case, when given), oldest first."""
    return [
        PlanUse(e.at, e.case_id, PlanEventKind(e.kind), e.step, e.detail)
        for e in await plan_events(session, patient_id=patient_id, case_id=case_id, since=since)
    ]

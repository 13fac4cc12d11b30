"""The patient's safety plan over the sandbox (CLINICAL.md §11, issue 27).

A patient with an active plan answers C-SSRS item 4 = Yes: in their chat the crisis card, the
paged notice, then "Your safety plan" step 1; the page to the on-call clinician went out before
the plan. They move to step 4 and tap *Call Sam*: the number comes back, and every view and tap
is recorded with the case, for the timeline and the case page. Forged and stale buttons get a
clear answer and record nothing; /plan shows the plan to a patient only; a patient without an
active plan gets the card and the notice only.
"""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import select
from sqlmodel import col

from bot.domain.safety_plan import read_plan
from bot.messaging import safety_plan as plan_texts
from bot.messaging import texts
from bot.services.safety.events import STALE, UNKNOWN, plan_uses
from bot.services.safety.plans import save_plan
from bot.services.timeline import PlanEntry, patient_timeline
from handlers.safety_plan import PATIENTS_ONLY
from sandbox import BotApiSandbox
from storage.models import Case, SafetyPlanEvent
from storage.patients import get_patient
from storage.states import Actor, ActorKind, PlanEventKind
from tests.auxil.databases import IsolatedDatabase
from tests.auxil.harness import RunningBot, make_clinics, rehearsal_clinic, running_bot
from tests.auxil.journey import enrolled_patient, report_intent
from tests.e2e.test_conversation_e2e import chat, in_order
from tests.e2e.test_escalation_e2e import ADA, _staff

PAT = 8501
OTHER = 8502
STRANGER = 8503
CLINIC = rehearsal_clinic(red_flags=False)
HEADING = plan_texts.HEADING
SAM = "Sam (sister) +44 20 7946 0000"
PLAN = {
    "step1": "Not sleeping\nPulling away from people",
    "step2": "Walk the dog\nCold shower",
    "step3": "The café on Elm Street",
    "step4": SAM,
    "step5": "Crisis line 988\nNorth Clinic +1 555 0100",
    "step6": "Give the pills to Sam",
}


async def _save(bot: RunningBot, patient_id: int, values: dict[str, str]) -> int:
    ctx = bot.ctx
    steps, errors = read_plan(values, country_code="1")
    assert steps is not None, errors
    async with ctx.db.transaction() as session:
        patient = await get_patient(session, patient_id=patient_id)
        assert patient is not None
        plan = await save_plan(
            session,
            patient=patient,
            steps=steps,
            actor=Actor.of(ActorKind.CLI),
            now=ctx.clock.now(),
        )
        assert plan.id is not None
        return plan.id


async def _events(bot: RunningBot, patient_id: int) -> list[SafetyPlanEvent]:
    async with bot.ctx.db.transaction() as session:
        rows = await session.scalars(
            select(SafetyPlanEvent)
            .where(col(SafetyPlanEvent.patient_id) == patient_id)
            .order_by(col(SafetyPlanEvent.id))
        )
        return list(rows.all())


def _sent_to(sandbox: BotApiSandbox, chat_id: int, text: str) -> list[Any]:
    return [
        c
        for c in sandbox.calls_to("sendMessage")
        if c.status == 200
        and c.params.get("chat_id") in (chat_id, str(chat_id))
        and text in str(c.params.get("text") or "")
    ]


async def _answered(sandbox: BotApiSandbox, query_id: str) -> dict[str, Any]:
    for _ in range(100):
        answer = sandbox.callback_answer(query_id)
        if answer is not None:
            return answer
        await asyncio.sleep(0.05)
    raise AssertionError(f"query {query_id} was never answered")


async def test_a_positive_screen_shows_the_plan_after_the_card_and_the_page(
    sandbox: BotApiSandbox, test_db: IsolatedDatabase
) -> None:
    async with running_bot(sandbox, test_db, clinics=make_clinics(CLINIC)) as bot:
        await _staff(bot, roster=True)
        patient_id = await enrolled_patient(bot, PAT, "P-91")
        plan_id = await _save(bot, patient_id, PLAN)
        await report_intent(sandbox, PAT)
        await sandbox.wait_for_message(ADA, "HIGH priority", timeout=8)
        notice = await sandbox.wait_for_message(PAT, "has been paged now", timeout=8)
        shown = await sandbox.wait_for_message(PAT, HEADING, after=notice["message_id"], timeout=8)
        clinic = bot.ctx.clinics.clinics[0]

        lines = chat(sandbox, PAT)
        in_order(
            lines,
            texts.crisis_card(clinic),
            "has been paged now",
            f"{HEADING} — step 1 of 6: My warning signs",
        )
        assert "Not sleeping" in shown["text"]
        buttons = [b["text"] for row in shown["reply_markup"]["inline_keyboard"] for b in row]
        assert buttons == ["Next step", "This helped"]
        # The page went out before the plan: never delayed by it.
        page = _sent_to(sandbox, ADA, "HIGH priority")[0]
        plan_sent = _sent_to(sandbox, PAT, HEADING)[-1]
        assert page.at < plan_sent.at
        # Item 1 = Yes already showed the card and the plan with it; the page shows it again.
        assert len(_sent_to(sandbox, PAT, HEADING)) == 2

        # Next step to step 4, then Call Sam: the number comes back to dial.
        for step in (2, 3, 4):
            sandbox.tap(PAT, shown["message_id"], button_text="Next step")
            await sandbox.wait_for_message(PAT, f"step {step} of 6", timeout=5)
        step4 = next(m for m in sandbox.chat(PAT) if m["message_id"] == shown["message_id"])
        assert SAM in step4["text"]
        calls = [b["text"] for row in step4["reply_markup"]["inline_keyboard"] for b in row]
        assert calls == ["Call Sam (sister)", "Next step", "This helped"]
        sandbox.tap(PAT, shown["message_id"], button_text="Call Sam (sister)")
        number = await sandbox.wait_for_message(PAT, "Call Sam (sister): +442079460000")
        assert "Tap the number to dial it" in number["text"]

        async with bot.ctx.db.transaction() as session:
            case = (
                await session.scalars(select(Case).where(col(Case.patient_id) == patient_id))
            ).one()
        events = await _events(bot, patient_id)
        assert [(e.kind, e.step, e.detail) for e in events] == [
            (PlanEventKind.SHOWN, 1, None),
            (PlanEventKind.SHOWN, 1, None),
            (PlanEventKind.NEXT, 2, None),
            (PlanEventKind.NEXT, 3, None),
            (PlanEventKind.NEXT, 4, None),
            (PlanEventKind.CALL, 4, "Sam (sister)"),
        ]
        assert {e.case_id for e in events[1:]} == {case.id}
        assert {e.plan_id for e in events} == {plan_id}
        async with bot.ctx.db.transaction() as session:
            uses = await plan_uses(session, patient_id=patient_id, case_id=case.id)
        assert uses[0].line.startswith("opened their plan, step 1")
        assert uses[-1].line.startswith("tapped Call Sam (sister), step 4")
        async with bot.ctx.db.transaction() as session:
            timeline = await patient_timeline(
                session, clinic_id=clinic.id, patient_ref="P-91", now=bot.ctx.clock.now()
            )
        assert timeline is not None
        on_timeline = [e for e in timeline.entries if isinstance(e, PlanEntry)]
        assert [e.line for e in reversed(on_timeline)] == [u.line for u in uses]

        # A forged button and a stale one: a clear answer, nothing recorded.
        forged = sandbox.tap(PAT, shown["message_id"], data=f"plan:{plan_id + 7}:n:1", forge=True)
        assert (await _answered(sandbox, forged))["text"] == UNKNOWN
        garbage = sandbox.tap(PAT, shown["message_id"], data="plan:x:n:1", forge=True)
        assert (await _answered(sandbox, garbage))["text"] == UNKNOWN
        await _save(bot, patient_id, {**PLAN, "step1": "Not eating"})
        stale = sandbox.tap(PAT, shown["message_id"], button_text="Next step")
        assert (await _answered(sandbox, stale))["text"] == STALE
        assert len(await _events(bot, patient_id)) == len(events)


async def test_plan_command_shows_it_to_a_patient_only(
    sandbox: BotApiSandbox, test_db: IsolatedDatabase
) -> None:
    async with running_bot(sandbox, test_db, clinics=make_clinics(CLINIC)) as bot:
        await _staff(bot, roster=False)
        patient_id = await enrolled_patient(bot, PAT, "P-92", infusion=False)
        await enrolled_patient(bot, OTHER, "P-93", infusion=False)
        await _save(bot, patient_id, PLAN)

        sandbox.send_text(PAT, "/plan")
        shown = await sandbox.wait_for_message(PAT, f"{HEADING} — step 1 of 6")
        assert "Pulling away from people" in shown["text"]
        events = await _events(bot, patient_id)
        assert [(e.kind, e.step, e.case_id) for e in events] == [(PlanEventKind.SHOWN, 1, None)]

        sandbox.send_text(OTHER, "/plan")  # a patient without a plan
        await sandbox.wait_for_message(OTHER, plan_texts.NO_PLAN[:40])

        sandbox.send_text(ADA, "/plan")
        await sandbox.wait_for_message(ADA, PATIENTS_ONLY[:40])

        sandbox.add_user(STRANGER, "Stranger")
        sandbox.send_text(STRANGER, "/plan")
        reply = await sandbox.wait_for_message(STRANGER)
        assert HEADING not in reply["text"]


async def test_without_an_active_plan_only_the_card_and_the_notice(
    sandbox: BotApiSandbox, test_db: IsolatedDatabase
) -> None:
    async with running_bot(sandbox, test_db, clinics=make_clinics(CLINIC)) as bot:
        await _staff(bot, roster=True)
        patient_id = await enrolled_patient(bot, PAT, "P-94")
        await _save(bot, patient_id, {**PLAN, "step4": "Sam (sister)"})  # no number: inactive
        await report_intent(sandbox, PAT)
        await sandbox.wait_for_message(PAT, "has been paged now", timeout=8)
        await asyncio.sleep(1.0)
        lines = chat(sandbox, PAT)
        in_order(lines, texts.crisis_card(bot.ctx.clinics.clinics[0]), "has been paged now")
        assert not any(HEADING in line for line in lines)
        assert await _events(bot, patient_id) == []

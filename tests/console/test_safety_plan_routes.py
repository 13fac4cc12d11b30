"""A patient's safety plan in the console: saved as versions (audited without the words),
refused beside the step on bad input, printable, and invisible to another clinic."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import httpx
from sqlalchemy import select

from bot.domain.levels import Level
from bot.domain.safety_plan import read_plan
from bot.services.safety.events import plan_to_show
from bot.services.safety.plans import save_plan
from sandbox import BotApiSandbox
from storage.models import AuditEvent, Case, Patient, SafetyPlan
from storage.states import CLI, CaseStatus
from tests.auxil.console import ConsoleBot, console_bot, csrf_of, join, patient_with_case, sign_in
from tests.auxil.databases import IsolatedDatabase

ADA, SOL = 7001, 7101
PLAN = {
    "step1": "Not sleeping",
    "step2": "A walk",
    "step3": "The gym",
    "step4": "Sam (sister) +44 20 7946 0000",
    "step5": "Crisis line +1 212 555 0100",
    "step6": "Pills with Sam",
}


async def _post(client: httpx.AsyncClient, app: ConsoleBot, **fields: str) -> httpx.Response:
    page = await client.get(f"{app.base}/patients/P-1")
    assert page.status_code == 200, page.text[:500]
    return await client.post(
        f"{app.base}/patients/P-1/plan", data={"csrf": csrf_of(page.text), **fields}
    )


async def _plans(app: ConsoleBot) -> list[SafetyPlan]:
    async with app.bot.ctx.db.transaction() as session:
        return list((await session.scalars(select(SafetyPlan).order_by(SafetyPlan.id))).all())


async def test_plan_saved_as_versions_shown_with_tel_links_and_printable(
    sandbox: BotApiSandbox, test_db: IsolatedDatabase
) -> None:
    async with console_bot(sandbox, test_db) as app:
        await join(app, ADA, "Dr Ada")
        await join(app, SOL, "Dr Sol", clinic="south")
        client = await sign_in(app, ADA)
        await patient_with_case(app, "P-1")
        first = await client.get(f"{app.base}/patients/P-1")
        assert 'id="plan-none"' in first.text
        assert (await _post(client, app, **{**PLAN, "step5": "My GP"})).status_code == 303
        assert (await _post(client, app, **PLAN)).status_code == 303
        plans = await _plans(app)
        assert [(p.version, p.active) for p in plans] == [(1, False), (2, True)]
        shown = (await client.get(f"{app.base}/patients/P-1")).text
        assert 'href="tel:+442079460000"' in shown and "Version 2, saved by Dr Ada" in shown
        assert 'id="plan-older"' in shown
        printed = await client.get(f"{app.base}/patients/P-1/plan/print")
        assert printed.status_code == 200 and "@media print" in printed.text
        assert "Sam (sister)" in printed.text
        async with app.bot.ctx.db.transaction() as session:
            rows = (
                await session.scalars(
                    select(AuditEvent).where(AuditEvent.event == "safety_plan.saved")
                )
            ).all()
        assert len(rows) == 2
        assert all("Sam" not in json.dumps(r.detail) for r in rows)
        other = await sign_in(app, SOL)
        assert (await other.get(f"{app.base}/patients/P-1/plan/print")).status_code == 404
        page = await other.get(f"{app.base}/patients")
        forged = await other.post(
            f"{app.base}/patients/P-1/plan", data={"csrf": csrf_of(page.text), **PLAN}
        )
        assert forged.status_code == 404
        assert len(await _plans(app)) == 2
        await client.aclose()
        await other.aclose()


async def test_bad_input_is_refused_beside_its_step_and_nothing_saved(
    sandbox: BotApiSandbox, test_db: IsolatedDatabase
) -> None:
    async with console_bot(sandbox, test_db) as app:
        await join(app, ADA, "Dr Ada")
        client = await sign_in(app, ADA)
        await patient_with_case(app, "P-1")
        bad = await _post(client, app, **{**PLAN, "step4": "Sam 12345678901234567"})
        assert bad.status_code == 400
        assert 'id="plan-step4-error"' in bad.text and "Sam 12345678901234567" in bad.text
        assert await _plans(app) == []
        no_csrf = await client.post(f"{app.base}/patients/P-1/plan", data=PLAN)
        assert no_csrf.status_code == 403
        await client.aclose()


async def _save_plan(app: ConsoleBot, patient: Patient, values: dict[str, str]) -> None:
    ctx = app.bot.ctx
    steps, errors = read_plan(values, country_code="1")
    assert steps is not None, errors
    async with ctx.db.transaction() as session:
        await save_plan(session, patient=patient, steps=steps, actor=CLI, now=ctx.clock.now())


def _flagged(html: str) -> set[str]:
    """The refs the patient list marks "no safety plan"."""
    return set(re.findall(r'>(P-[0-9])</a> <span class="flag no-safety-plan">', html))


async def test_no_safety_plan_flags_exactly_the_patients_at_risk_without_an_active_plan(
    sandbox: BotApiSandbox, test_db: IsolatedDatabase
) -> None:
    async with console_bot(sandbox, test_db) as app:
        await join(app, ADA, "Dr Ada")
        client = await sign_in(app, ADA)
        ctx = app.bot.ctx
        _, unplanned = await patient_with_case(app, "P-1")  # high, no plan: flagged
        planned, planned_case = await patient_with_case(app, "P-2")  # high, active plan
        await _save_plan(app, planned, PLAN)
        await patient_with_case(app, "P-3", level=Level.LOW)  # only a low case
        _, old = await patient_with_case(app, "P-4")  # high, resolved 40 days ago
        draft, _ = await patient_with_case(app, "P-5", level=Level.MODERATE)
        await _save_plan(app, draft, {**PLAN, "step4": "Sam"})  # a plan, not active: flagged
        now = ctx.clock.now()
        async with ctx.db.transaction() as session:
            case = await session.get(Case, old.id)
            assert case is not None
            case.opened_at = now - timedelta(days=41)
            case.status = CaseStatus.RESOLVED
            case.resolved_at = now - timedelta(days=40)
            case.resolution_note = "Seen in clinic"
        listing = await client.get(f"{app.base}/patients")
        assert listing.status_code == 200
        assert _flagged(listing.text) == {"P-1", "P-5"}, listing.text

        # The case page says so too, and shows what the patient did with their plan.
        page = (await client.get(f"{app.base}/cases/{unplanned.id}")).text
        assert "No safety plan:" in page
        async with ctx.db.transaction() as session:
            view = await plan_to_show(session, patient=planned, now=now, on_screen=True)
        assert view is not None
        page = (await client.get(f"{app.base}/cases/{planned_case.id}")).text
        assert "No safety plan:" not in page
        assert "Patient opened their plan, step 1 (warning signs) at" in page
        timeline = (await client.get(f"{app.base}/patients/P-2")).text
        assert "Safety plan: the patient opened their plan, step 1 (warning signs)" in timeline
        await client.aclose()

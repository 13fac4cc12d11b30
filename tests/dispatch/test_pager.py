"""The pager's units: who a rung pages, what is recorded, and how the ladder moves on.

`Pager.run_due` is called directly against a real database and the sandbox Bot API over
HTTP (no Application, no ticks); each test reads the clinicians' chats and the stored rows.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from bot.dispatch.pager import Pager
from bot.domain.levels import Level
from bot.domain.triage import Finding
from bot.messaging import texts
from bot.services.case_taking import CaseAction, Taker, take
from bot.services.cases import raise_case
from bot.services.oncall import add_shift
from sandbox import BotApiSandbox
from storage.engine import Database
from storage.models import Case, Page, Patient
from storage.states import CLI, CaseStatus, CaseTrigger, PageStatus
from tests.auxil.units import (
    BACKUP_CHAT,
    PATIENT_CHAT,
    PRIMARY_CHAT,
    Unit,
    seed_clinician,
    seed_patient,
    unit,
)


async def _raise(
    u: Unit, patient: Patient, level: Level, reason: str = "C-SSRS item 4 = Yes"
) -> int:
    async with u.ctx.db.transaction() as session:
        raised = await raise_case(
            session,
            patient=patient,
            level=level,
            findings=[Finding(level, reason)],
            trigger=CaseTrigger.CHECKIN,
            now=u.clock.now(),
        )
    assert raised is not None and raised.case.id is not None
    return raised.case.id


async def _on_call(u: Unit, name: str, *, role: str = "primary") -> None:
    now = u.clock.now()
    async with u.ctx.db.transaction() as session:
        await add_shift(
            session,
            clinic=u.ctx.clinics.clinics[0],
            clinician_name=name,
            starts_at=now - timedelta(hours=1),
            ends_at=now + timedelta(hours=8),
            now=now,
            actor=CLI,
            role=role,
        )


async def _case(db: Database, case_id: int) -> Case:
    async with db.transaction() as session:
        case = await session.get(Case, case_id, populate_existing=True)
    assert case is not None
    return case


async def _pages(db: Database) -> list[tuple[int, int, PageStatus]]:
    async with db.transaction() as session:
        rows = (await session.scalars(select(Page).order_by(Page.id))).all()
    return [(p.clinician_id, p.step, p.status) for p in rows]


def _pager(u: Unit) -> Pager:
    return Pager(u.ctx, u.bot, lease=timedelta(seconds=60))


async def test_a_high_case_pages_the_primary_only_and_waits_for_the_next_rung(
    sandbox: BotApiSandbox, db: Database
) -> None:
    async with unit(sandbox, db) as u:
        patient = await seed_patient(u)
        ada = await seed_clinician(u, "Dr Ada", PRIMARY_CHAT)
        await seed_clinician(u, "Dr Bo", BACKUP_CHAT)
        await _on_call(u, "Dr Ada")
        case_id = await _raise(u, patient, Level.HIGH)
        assert await _pager(u).run_due() == 1
        page = sandbox.last_message(PRIMARY_CHAT)
        assert page is not None and page["text"].startswith(f"🔴 HIGH priority — case #{case_id}")
        assert "Patient: P-1" in page["text"] and "Acknowledge within 5 min." in page["text"]
        data = [b["callback_data"] for b in page["reply_markup"]["inline_keyboard"][0]]
        assert data == [f"esc:ack:{case_id}:high", f"esc:res:{case_id}:high"]
        assert sandbox.chat(BACKUP_CHAT) == []
        assert await _pages(db) == [(ada.id, 0, PageStatus.SENT)]
        case = await _case(db, case_id)
        assert case.step == 1 and case.lease_owner is None
        assert case.next_step_at == case.ladder_started_at + timedelta(minutes=5)
        # The patient, who raised it, is told a clinician was paged.
        notice = sandbox.last_message(PATIENT_CHAT)
        assert notice is not None
        assert notice["text"] == texts.paged_notice(u.ctx.clinics.clinics[0], Level.HIGH)
        assert await _pager(u).run_due() == 0  # nothing more is due until the next rung


async def test_nobody_on_call_pages_every_clinician_and_tells_the_patient_so(
    sandbox: BotApiSandbox, db: Database
) -> None:
    async with unit(sandbox, db) as u:
        patient = await seed_patient(u)
        ada = await seed_clinician(u, "Dr Ada", PRIMARY_CHAT)
        bo = await seed_clinician(u, "Dr Bo", BACKUP_CHAT)
        await _raise(u, patient, Level.HIGH)
        await _pager(u).run_due()
        assert sorted(c for c, _, _ in await _pages(db)) == sorted([ada.id, bo.id])
        notice = sandbox.last_message(PATIENT_CHAT)
        assert notice is not None
        assert notice["text"] == texts.nobody_notice(u.ctx.clinics.clinics[0])


async def test_an_undelivered_page_moves_the_ladder_on_at_once(
    sandbox: BotApiSandbox, db: Database
) -> None:
    async with unit(sandbox, db) as u:
        patient = await seed_patient(u)
        ada = await seed_clinician(u, "Dr Ada", PRIMARY_CHAT)
        await seed_clinician(u, "Dr Bo", BACKUP_CHAT)
        await _on_call(u, "Dr Ada")
        await _on_call(u, "Dr Bo", role="backup")
        case_id = await _raise(u, patient, Level.HIGH)
        sandbox.block(PRIMARY_CHAT)
        await _pager(u).run_due()
        assert await _pages(db) == [(ada.id, 0, PageStatus.FAILED)]
        case = await _case(db, case_id)
        assert case.step == 1 and case.next_step_at is not None
        assert case.next_step_at <= u.clock.now()  # unacknowledged: the next rung is due now
        notice = sandbox.last_message(PATIENT_CHAT)
        assert notice is not None
        assert notice["text"] == texts.nobody_notice(u.ctx.clinics.clinics[0])
        await _pager(u).run_due()  # rung 2: primary and backup; the backup's page arrives
        backup_page = sandbox.last_message(BACKUP_CHAT)
        assert backup_page is not None and "Re-page (step 2)" in backup_page["text"]


async def test_a_case_acknowledged_while_its_pages_were_out_keeps_its_new_state(
    sandbox: BotApiSandbox, db: Database
) -> None:
    async with unit(sandbox, db) as u:
        patient = await seed_patient(u)
        ada = await seed_clinician(u, "Dr Ada", PRIMARY_CHAT)
        await _on_call(u, "Dr Ada")
        case_id = await _raise(u, patient, Level.HIGH)
        pager = _pager(u)
        # Plan the rung under a claim, acknowledge in between, then deliver and record.
        now = u.clock.now()
        async with db.transaction() as session:
            case = await session.get(Case, case_id)
            assert case is not None
            case.lease_owner, case.lease_until = u.ctx.instance_id, now + timedelta(minutes=1)
            plan = await pager.plan(session, case, now)
        async with db.transaction() as session:
            await take(
                session,
                case_id=case_id,
                by=Taker.clinician(ada),
                action=CaseAction.ACKNOWLEDGE,
                now=now,
            )
        await pager._run(plan)
        case = await _case(db, case_id)
        assert case.status == CaseStatus.ACKNOWLEDGED
        assert case.step == 0 and case.next_step_at is None and case.lease_owner is None
        assert await _pages(db) == [(ada.id, 0, PageStatus.SENT)]  # the page itself is kept


async def test_a_low_case_is_queued_without_paging_anyone(
    sandbox: BotApiSandbox, db: Database
) -> None:
    async with unit(sandbox, db) as u:
        patient = await seed_patient(u)
        await seed_clinician(u, "Dr Ada", PRIMARY_CHAT)
        await _on_call(u, "Dr Ada")
        case_id = await _raise(u, patient, Level.LOW, "C-SSRS item 1 = Yes")
        await _pager(u).run_due()
        assert sandbox.chat(PRIMARY_CHAT) == [] and await _pages(db) == []
        case = await _case(db, case_id)
        assert case.step == 1 and case.next_step_at is not None
        assert case.next_step_at > u.clock.now()  # the primary, next business day
        assert sandbox.chat(PATIENT_CHAT) == []  # below moderate: no notice to the patient

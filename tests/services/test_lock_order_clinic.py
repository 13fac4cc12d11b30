"""Lock order around a clinic: its settings saved or re-planned at a start, its signing
secret rotated, rows keyed to it added, invites accepted and infusions moved, each beside a
writer that holds the audit chain and then locks what the other touched (PostgreSQL's lock
order: the chain before any row)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clinic_config import ClinicConfig
from bot.services.clinic import settings as clinic_settings
from bot.services.clinic.team import set_admin
from bot.services.enrollment import (
    InviteProblem,
    accept_consent,
    check_invite,
    check_offer,
    create_clinician_invite,
    enroll_patient,
    offer_consent,
    reissue_patient_invite,
)
from bot.services.infusions import change_infusion, record_infusion
from bot.services.paging import signing
from bot.services.paging.secret_box import SecretBox
from storage.checkins import checkins_by_ids
from storage.clinics import ClinicRow, sync_clinics
from storage.engine import Database
from storage.invites import get_invite
from storage.models import (
    Checkin,
    Clinic,
    Clinician,
    Infusion,
    Invite,
    Patient,
    WebhookSecret,
)
from storage.states import CLI, CheckinStatus
from storage.webhook_secrets import lock_clinic
from tests.auxil.harness import clinic_file
from tests.auxil.lock_order import (
    CLINIC,
    NOW,
    beside_a_chain_holder,
    count,
    patient_and_clinician,
    raise_high,
)


async def _planned(db: Database, managed_by: str) -> tuple[ClinicConfig, list[int]]:
    """The clinic started from its file, and a patient's check-ins planned after an infusion."""
    async with db.transaction() as session:
        effective, _ = await clinic_settings.effective_clinics(
            session, file=clinic_file(managed_by, '["PT4H", "PT24H"]'), now=NOW
        )
        north = effective.clinics.clinic("north")
        patient = Patient(
            clinic_id="north", ref="P-1", timezone="UTC", status="active", chat_id=1, created_at=NOW
        )
        session.add(patient)
        await session.flush()
        _, planned = await record_infusion(
            session,
            patient=patient,
            clinic=north,
            ended_at=NOW,
            protocol=None,
            now=NOW,
            actor="cli",
        )
    return north, [row.id for row in planned if row.id is not None]


async def _scheduled_offsets(db: Database) -> list[int | None]:
    async with db.read() as session:
        rows = await session.scalars(
            select(Checkin.offset_seconds).where(Checkin.status == CheckinStatus.SCHEDULED)
        )
        return sorted(offset for offset in rows.all() if offset is not None)


async def _dispatcher_or_rotation(session: AsyncSession, beside: str, ids: list[int]) -> object:
    """What a writer holding the chain locks next: the dispatcher its claimed check-ins, an
    admin rotating the clinic's signing secret the clinic's row."""
    if beside == "dispatcher":
        return await checkins_by_ids(session, ids=ids)
    return await lock_clinic(session, clinic_id="north")


@pytest.mark.parametrize("beside", ["dispatcher", "secret rotation"])
async def test_saving_clinic_settings_takes_the_chain_before_the_clinic_and_checkins(
    pg: Database, beside: str
) -> None:
    """A console save that stores a version (the clinic's row updated), moves planned
    check-ins and audits, beside the dispatcher or a secret's rotation."""
    north, ids = await _planned(pg, "console")
    protocol = north.protocols["standard"]
    edited = north.model_copy(
        update={
            "protocols": {
                "standard": protocol.model_copy(
                    update={
                        "offsets": [timedelta(hours=6), timedelta(hours=24)],
                        "red_flags_at": timedelta(hours=6),
                    }
                )
            }
        }
    )
    await beside_a_chain_holder(
        pg,
        lambda session: _dispatcher_or_rotation(session, beside, ids),
        lambda session: clinic_settings.save(
            session, clinic=edited, based_on=1, actor=CLI, now=NOW
        ),
    )
    assert await _scheduled_offsets(pg) == [6 * 3600, 24 * 3600]


@pytest.mark.parametrize("beside", ["dispatcher", "secret rotation"])
async def test_a_start_that_replans_takes_the_chain_before_the_clinic_and_checkins(
    pg: Database, beside: str
) -> None:
    """An instance starting with a changed clinic file (the clinic's row updated, its
    check-ins re-planned, audited) beside a running instance's dispatcher (the chain, then
    the claimed check-ins) or an admin rotating the clinic's signing secret (the chain, then
    the clinic's row)."""
    _, ids = await _planned(pg, "file")

    async def start(session: AsyncSession) -> None:
        file = clinic_file("file", '["PT6H", "PT24H"]')
        effective, changed = await clinic_settings.effective_clinics(session, file=file, now=NOW)
        assert changed == ["north"]
        await clinic_settings.replan_clinic(
            session, clinic=effective.clinics.clinic("north"), now=NOW
        )

    await beside_a_chain_holder(
        pg, lambda session: _dispatcher_or_rotation(session, beside, ids), start
    )
    assert await _scheduled_offsets(pg) == [6 * 3600, 24 * 3600]


@pytest.mark.parametrize("beside", ["a case raised", "a settings save"])
async def test_rotating_a_signing_secret_takes_the_chain_before_the_clinics_row(
    pg: Database, beside: str
) -> None:
    """An admin's rotation locks the clinic's row and audits, beside a writer that holds the
    chain and then adds a row keyed to the clinic (a case raised: a key share on its row) or
    updates the clinic's row (a settings save)."""
    patient, _ = await patient_and_clinician(pg)

    async def locks(session: AsyncSession) -> object:
        if beside == "a settings save":
            return await session.execute(update(Clinic).values(settings_version=2))
        return await raise_high(session, patient)

    await beside_a_chain_holder(
        pg,
        locks,
        lambda session: signing.issue(
            session,
            clinic_id="north",
            based_on=0,
            box=SecretBox([Fernet.generate_key().decode()]),
            actor=CLI,
            now=NOW,
        ),
    )
    assert await count(pg, WebhookSecret) == 1


async def test_a_row_keyed_to_the_clinic_is_added_beside_a_rotation(pg: Database) -> None:
    """A writer that adds a row keyed to the clinic before it audits (a clinician invited:
    a key share on the clinic's row) beside an admin's rotation, which holds the chain and
    then locks the clinic's row: that lock lets key shares through."""
    await patient_and_clinician(pg)
    await beside_a_chain_holder(
        pg,
        lambda session: lock_clinic(session, clinic_id="north"),
        lambda session: create_clinician_invite(
            session, clinic=CLINIC, name="Dr Kim", is_admin=False, now=NOW, actor="cli"
        ),
    )
    assert await count(pg, Invite) == 1


async def test_demoting_an_admin_takes_the_chain_before_the_admins_rows(pg: Database) -> None:
    """An admin demotes another (the clinic's admins locked for the last-admin check, one
    changed, audited), beside a writer that holds the chain and then updates a clinician's
    row (an invite redeemed by a clinician already registered reactivates them)."""
    _, lee = await patient_and_clinician(pg)
    async with pg.transaction() as session:
        kim = Clinician(
            clinic_id="north",
            name="Dr Kim",
            telegram_user_id=602,
            chat_id=602,
            is_admin=True,
            created_at=NOW,
        )
        session.add(kim)
        await session.execute(update(Clinician).values(is_admin=True))

    async def demote(session: AsyncSession) -> None:
        loaded = await session.get(Clinician, lee.id)
        assert loaded is not None
        assert await set_admin(session, clinician=loaded, admin=False, actor=CLI, now=NOW)

    await beside_a_chain_holder(
        pg,
        lambda session: session.execute(update(Clinician).values(chat_id=603)),
        demote,
    )
    async with pg.read() as session:
        admins = (await session.scalars(select(Clinician.name).where(Clinician.is_admin))).all()
    assert admins == ["Dr Kim"]


@pytest.mark.parametrize("reference", ["invite id", "token"])
async def test_a_consent_tap_takes_the_chain_before_the_invites_row(
    pg: Database, reference: str
) -> None:
    """ "I agree" locks the invite, links the chat and audits, beside the clinic re-issuing
    that patient's invite (the chain, then their open invites expired). The tap then finds
    its invite expired, and the patient is not linked by a dead invite."""
    async with pg.transaction() as session:
        await sync_clinics(session, clinics=[ClinicRow("north", "North", "UTC", "x")], now=NOW)
        patient, token = await enroll_patient(
            session,
            clinic=CLINIC,
            ref="P-7",
            timezone="UTC",
            baseline_mood=None,
            emergency_contact=None,
            now=NOW,
            actor="cli",
        )
        invite_id = (await session.scalars(select(Invite.id))).one()
        invite = await get_invite(session, invite_id=invite_id)
        assert invite is not None
        await offer_consent(session, invite=invite, chat_id=77)
    problems = []

    async def agree(session: AsyncSession) -> None:
        if reference == "token":
            checked = await check_invite(session, token=token, chat_id=77, now=NOW)
        else:
            checked = await check_offer(session, invite_id=invite_id, chat_id=77, now=NOW)
        problems.append(checked.problem)
        if checked.problem is None and checked.invite is not None:
            await accept_consent(session, invite=checked.invite, user_id=77, chat_id=77, now=NOW)

    await beside_a_chain_holder(
        pg,
        lambda session: reissue_patient_invite(
            session, clinic=CLINIC, patient=patient, now=NOW, actor="cli"
        ),
        agree,
    )
    assert problems == [InviteProblem.EXPIRED]
    async with pg.read() as session:
        linked = await session.scalar(select(Patient.chat_id))
    assert linked is None


async def test_moving_an_infusion_takes_the_chain_before_its_row(pg: Database) -> None:
    """A clinician moves an infusion (its row updated, its check-ins re-planned) and audits,
    beside a writer that holds the chain and then locks that row (an erasure deleting the
    patient's infusions)."""
    north, _ = await _planned(pg, "file")
    async with pg.read() as session:
        patient = (await session.scalars(select(Patient))).one()
        infusion = (await session.scalars(select(Infusion))).one()

    async def erasing(session: AsyncSession) -> object:
        return (await session.scalars(select(Infusion).with_for_update())).all()

    later = NOW + timedelta(hours=1)
    await beside_a_chain_holder(
        pg,
        erasing,
        lambda session: change_infusion(
            session,
            infusion=infusion,
            patient=patient,
            clinic=north,
            now=later,
            actor="cli",
            ended_at=later,
        ),
    )
    async with pg.read() as session:
        moved = (await session.scalars(select(Infusion))).one()
    assert moved.ended_at == later

"""Lock order in a clinic's team: on-call shifts taken, ended or changed, a clinician promoted,
deactivated or let in again, console sessions ended or switched, and rows keyed to an admin,
each beside a writer that holds the audit chain and then locks what the other touched (a
deactivation ending shifts and sessions, an invite redeemed updating the clinician's row, an
admin's demotion locking the clinic's admins). PostgreSQL's lock order: the chain first."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.services import oncall
from bot.services.clinic import roster, team
from bot.services.console_access import (
    end_all_sessions,
    issue_link,
    redeem_link,
    sign_out,
    switch_clinic,
)
from storage import oncall as shifts
from storage.clinics import ClinicRow, sync_clinics
from storage.console import end_registration_sessions
from storage.engine import Database
from storage.invites import active_admins
from storage.models import Clinician, ConsoleLink, ConsoleSession, OnCallShift
from storage.states import CLI, SessionEnd
from tests.auxil.lock_order import (
    CLINIC,
    NOW,
    Write,
    beside_a_chain_holder,
    count,
    patient_and_clinician,
)


async def _lee(db: Database, **values: object) -> Clinician:
    """Dr Lee of the clinic "north" (with `values` set), with a /oncall shift of their own."""
    _, lee = await patient_and_clinician(db)
    async with db.transaction() as session:
        await oncall.take_primary_now(session, clinic=CLINIC, clinician=lee, now=NOW)
        if values:
            await session.execute(update(Clinician).values(**values))
        loaded = await session.get(Clinician, lee.id, populate_existing=True)
        assert loaded is not None
    return loaded


def _loaded(lee: Clinician, act: Write) -> Write:
    """`act` on this transaction's own copy of Lee, as the console's routes and the bot's."""

    async def write(session: AsyncSession) -> object:
        session.info["lee"] = await session.get(Clinician, lee.id)
        return await act(session)

    return write


async def _the_shift(session: AsyncSession) -> OnCallShift:
    """Lee's shift, read as the console's roster routes read one they change."""
    (shift_id,) = (await session.scalars(select(OnCallShift.id))).all()
    shift = await roster.shift_in(session, clinic=CLINIC, shift_id=shift_id or 0, lock=True)
    assert shift is not None
    session.info["seen_end"] = shift.ends_at
    return shift


async def _roster_change(session: AsyncSession) -> object:
    shift = await _the_shift(session)
    edit = roster.ShiftEdit(
        clinician_id=shift.clinician_id,
        role="backup",
        starts_at=shift.starts_at,
        ends_at=NOW + timedelta(hours=2),
    )
    return await roster.change(session, clinic=CLINIC, shift=shift, edit=edit, now=NOW, actor=CLI)


async def _roster_end(session: AsyncSession) -> object:
    shift = await _the_shift(session)
    return await roster.end(session, clinic=CLINIC, shift=shift, now=NOW, actor=CLI)


def _ending_lees_shifts(lee: Clinician) -> Write:
    """A deactivation's step: every shift of Lee's ended (the chain held)."""
    assert lee.id is not None
    return lambda session: shifts.end_every_shift(
        session, clinic_id="north", clinician_id=lee.id or 0, now=NOW
    )


SHIFT_WRITERS: dict[str, Write] = {
    "/oncall": lambda s: oncall.take_primary_now(
        s, clinic=CLINIC, clinician=s.info["lee"], now=NOW
    ),
    "/offcall": lambda s: oncall.go_off_call(s, clinic=CLINIC, clinician=s.info["lee"], now=NOW),
    "roster change": _roster_change,
    "roster end": _roster_end,
}


@pytest.mark.parametrize("writer", list(SHIFT_WRITERS))
async def test_shift_changes_take_the_chain_before_the_shifts(pg: Database, writer: str) -> None:
    """/oncall, /offcall and the console's roster change or end a shift and audit, beside a
    deactivation of that clinician, which holds the chain and then ends their shifts. The
    roster reads the shift after the deactivation (its route then refuses a shift that is
    over)."""
    lee = await _lee(pg)
    seen: list[object] = []

    async def write(session: AsyncSession) -> None:
        await _loaded(lee, SHIFT_WRITERS[writer])(session)
        seen.append(session.info.get("seen_end"))

    await beside_a_chain_holder(pg, _ending_lees_shifts(lee), write)
    assert seen == [NOW if writer.startswith("roster") else None]


TEAM_WRITERS: dict[str, tuple[dict[str, object], Write]] = {
    "promote": (
        {},
        lambda s: team.set_admin(s, clinician=s.info["lee"], admin=True, actor=CLI, now=NOW),
    ),
    "reactivate": (
        {"active": False},
        lambda s: team.reactivate(s, clinician=s.info["lee"], actor=CLI, now=NOW),
    ),
    "deactivate": (
        {},
        lambda s: team.deactivate(s, clinic=CLINIC, clinician=s.info["lee"], actor=CLI, now=NOW),
    ),
}


@pytest.mark.parametrize("writer", list(TEAM_WRITERS))
async def test_team_changes_take_the_chain_before_the_clinicians_row(
    pg: Database, writer: str
) -> None:
    """An admin promotes, lets in again or deactivates a clinician and audits, beside an
    invite redeemed by that clinician (the chain, then their row updated)."""
    values, act = TEAM_WRITERS[writer]
    lee = await _lee(pg, **values)
    await beside_a_chain_holder(
        pg,
        lambda session: session.execute(update(Clinician).values(chat_id=603)),
        _loaded(lee, act),
    )
    async with pg.read() as session:
        after = (await session.scalars(select(Clinician))).one()
    assert after.chat_id == 603
    assert (after.is_admin, after.active) == {
        "promote": (True, True),
        "reactivate": (False, True),
        "deactivate": (False, False),
    }[writer]


async def _signed_in(db: Database, lee: Clinician) -> str:
    """Lee signed in to the console (a link issued and redeemed): the session's token."""
    async with db.transaction() as session:
        token = await issue_link(session, clinician=lee, now=NOW)
        redeemed = await redeem_link(session, token=token, now=NOW)
    assert isinstance(redeemed, tuple)
    return redeemed[0]


@pytest.mark.parametrize(
    "writer", ["sign out", "/console logout", "an admin ends them", "switch clinic"]
)
async def test_ending_console_sessions_takes_the_chain_before_them(
    pg: Database, writer: str
) -> None:
    """A browser signs out, `/console logout` ends every session of the person, an admin ends
    the registration's, or they switch to their other clinic, each audited, beside a
    deactivation, which holds the chain and then ends the registration's sessions."""
    lee = await _lee(pg)
    async with pg.transaction() as session:
        await sync_clinics(session, clinics=[ClinicRow("south", "South", "UTC", "x")], now=NOW)
        south = Clinician(
            clinic_id="south", name="Dr Lee", telegram_user_id=601, chat_id=601, created_at=NOW
        )
        session.add(south)
        await session.flush()
    token = await _signed_in(pg, lee)

    async def write(session: AsyncSession) -> object:
        if writer == "sign out":
            return await sign_out(session, token=token, now=NOW)
        if writer == "an admin ends them":
            return await team.end_sessions(session, clinician=lee, actor=CLI, now=NOW)
        if writer == "switch clinic":
            # later: the lookup also counts the request as activity, a write of the row
            later = NOW + timedelta(minutes=5)
            return await switch_clinic(session, token=token, clinician_id=south.id or 0, now=later)
        return await end_all_sessions(
            session, clinician=lee, actor=CLI, now=NOW, by=SessionEnd.TELEGRAM
        )

    await beside_a_chain_holder(
        pg,
        lambda session: end_registration_sessions(
            session, clinician_id=lee.id or 0, now=NOW, by=SessionEnd.DEACTIVATED
        ),
        write,
    )
    async with pg.read() as session:
        ended = (await session.scalars(select(ConsoleSession.ended_at))).all()
    assert ended == [NOW]


async def test_rows_keyed_to_an_admin_are_added_beside_the_admins_lock(pg: Database) -> None:
    """An admin asks for a console link (a row keyed to them: a key share on their row) beside
    an admin's demotion, which holds the chain and then locks the clinic's admins: that lock
    lets key shares through."""
    lee = await _lee(pg, is_admin=True)
    await beside_a_chain_holder(
        pg,
        lambda session: active_admins(session, clinic_id="north", lock=True),
        lambda session: issue_link(session, clinician=lee, now=NOW),
    )
    assert await count(pg, ConsoleLink) == 1


async def test_a_promotion_sees_a_deactivation_committed_meanwhile(pg: Database) -> None:
    """An admin promotes Lee, read before another admin's deactivation of Lee commits (it
    holds the chain): the promotion decides on Lee as they are after it, and is refused."""
    lee = await _lee(pg)
    refused: list[str] = []

    async def promote(session: AsyncSession) -> None:
        try:
            await team.set_admin(
                session, clinician=session.info["lee"], admin=True, actor=CLI, now=NOW
            )
        except team.TeamError as exc:
            refused.append(str(exc))

    await beside_a_chain_holder(
        pg,
        lambda session: session.execute(update(Clinician).values(active=False)),
        _loaded(lee, promote),
    )
    assert refused == ["Dr Lee is deactivated; reactivate them first."]
    async with pg.read() as session:
        after = (await session.scalars(select(Clinician))).one()
    assert (after.active, after.is_admin) == (False, False)

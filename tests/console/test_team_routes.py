"""The team page: clinicians and admins, invites with a QR code, promote and demote (never the
last admin), deactivation that takes a clinician off call, out of the pager and out of the
console at once, reactivation, and ending someone's sessions."""

from __future__ import annotations

import asyncio
import json
import re
from datetime import timedelta

import httpx
from sqlalchemy import select

from bot.services.oncall import add_shift, who_is_on_call
from sandbox import BotApiSandbox
from storage.invites import clinicians_of_clinic
from storage.models import AuditEvent, Clinician, OnCallShift
from storage.states import CLI
from tests.auxil.console import ConsoleBot, console_bot, csrf_of, join, patient_with_case, sign_in
from tests.auxil.databases import IsolatedDatabase

ADMIN, BEN, CY, SOL = 7001, 7002, 7003, 7101  # Admin Ada, Dr Ben, Dr Cy at North; Sol South


async def _clinician(app: ConsoleBot, user_id: int) -> Clinician:
    async with app.bot.ctx.db.transaction() as session:
        row = (
            await session.scalars(
                select(Clinician)
                .where(Clinician.telegram_user_id == user_id)
                .execution_options(populate_existing=True)
            )
        ).first()
    assert row is not None and row.id is not None
    return row


async def _events(app: ConsoleBot, event: str) -> list[AuditEvent]:
    async with app.bot.ctx.db.transaction() as session:
        rows = await session.scalars(select(AuditEvent).where(AuditEvent.event == event))
        return list(rows.all())


async def _shift(app: ConsoleBot, name: str, hours_from: float, hours_to: float) -> None:
    ctx = app.bot.ctx
    now = ctx.clock.now()
    async with ctx.db.transaction() as session:
        await add_shift(
            session,
            clinic=ctx.clinic("north"),
            clinician_name=name,
            starts_at=now + timedelta(hours=hours_from),
            ends_at=now + timedelta(hours=hours_to),
            now=now,
            actor=CLI,
        )


async def _csrf(client: httpx.AsyncClient, url: str) -> str:
    shown = await client.get(url)
    assert shown.status_code == 200, shown.text
    return csrf_of(shown.text)


async def test_deactivating_a_clinician_takes_them_off_call_out_of_pages_and_the_console(
    sandbox: BotApiSandbox, test_db: IsolatedDatabase
) -> None:
    async with console_bot(sandbox, test_db) as app:
        ctx = app.bot.ctx
        await join(app, ADMIN, "Admin Ada")
        await join(app, BEN, "Dr Ben")
        await join(app, CY, "Dr Cy")
        await join(app, SOL, "Admin Sol", clinic="south")
        ben, sol = await _clinician(app, BEN), await _clinician(app, SOL)
        await _shift(app, "Dr Ben", -1, 5)  # on call now
        await _shift(app, "Dr Ben", 30, 40)  # and later in the week
        ben_client = await sign_in(app, BEN)
        assert (await ben_client.get(f"{app.base}/team")).status_code == 200
        admin = await sign_in(app, ADMIN)
        team = await admin.get(f"{app.base}/team")
        row = re.search(rf'<tr id="clinician-{ben.id}">.*?</tr>', team.text, re.S)
        assert (
            row
            and "Dr Ben" in row.group(0)
            and '<td data-label="On call now">primary</td>' in row.group(0)
        )
        # The confirmation step: what it does, and the gap it leaves (Ben is the only one on).
        asked = await admin.get(f"{app.base}/team/{ben.id}/deactivate")
        assert asked.status_code == 200
        assert 'id="gap-warning"' in asked.text and "ends 2 shifts" in asked.text
        assert "they are primary on call now" in asked.text
        csrf = csrf_of(asked.text)
        unconfirmed = await admin.post(f"{app.base}/team/{ben.id}/deactivate", data={"csrf": csrf})
        assert unconfirmed.status_code == 200 and 'id="deactivate-form"' in unconfirmed.text
        assert (await _clinician(app, BEN)).active
        # Not an admin: refused, nothing changed.
        cy_client = await sign_in(app, CY)
        cy_csrf = await _csrf(cy_client, f"{app.base}/team")
        assert 'id="invite"' not in (await cy_client.get(f"{app.base}/team")).text
        for path in (f"/team/{ben.id}/deactivate", f"/team/{ben.id}/admin", "/team/invite"):
            tried = await cy_client.post(
                f"{app.base}{path}",
                data={"csrf": cy_csrf, "confirm": "1", "admin": "1", "name": "X"},
            )
            assert tried.status_code == 403, path
        assert (await cy_client.get(f"{app.base}/team/{ben.id}/deactivate")).status_code == 403
        still = await _clinician(app, BEN)
        assert still.active and not still.is_admin
        # Another clinic's clinician is not there.
        assert (await admin.get(f"{app.base}/team/{sol.id}/deactivate")).status_code == 404
        other = await admin.post(
            f"{app.base}/team/{sol.id}/deactivate", data={"csrf": csrf, "confirm": "1"}
        )
        assert other.status_code == 404 and (await _clinician(app, SOL)).active
        # Confirmed.
        done = await admin.post(
            f"{app.base}/team/{ben.id}/deactivate", data={"csrf": csrf, "confirm": "1"}
        )
        assert done.status_code == 303
        now = ctx.clock.now()
        assert not (await _clinician(app, BEN)).active
        async with ctx.db.transaction() as session:
            shifts = (await session.scalars(select(OnCallShift))).all()
            # The running one ends now; the one ahead shrinks to nothing.
            assert len(shifts) == 2
            assert all(s.ends_at <= max(s.starts_at, now) for s in shifts)
            on_call = await who_is_on_call(session, clinic=ctx.clinic("north"), at=now)
            everyone = [c.id for c in await clinicians_of_clinic(session, clinic_id="north")]
        assert on_call.primary is None and on_call.backup is None
        assert ben.id not in everyone and len(everyone) == 2
        [event] = await _events(app, "clinician.deactivated")
        detail = json.loads(event.detail)
        assert len(detail["shift_ids"]) == 2 and detail["sessions_ended"] == 1
        assert len(detail["gaps_within_24h"]) == 1
        # Ben's signed-in browser now gets the sign-in page.
        gone = await ben_client.get(f"{app.base}/roster")
        assert gone.status_code == 401 and "Please sign in" in gone.text
        # The pager pages everyone who is still active: Ada and Cy, never Ben.
        _, case = await patient_with_case(app, "P-001")
        await sandbox.wait_for_message(ADMIN, f"case #{case.id}", timeout=10)
        await sandbox.wait_for_message(CY, f"case #{case.id}", timeout=10)
        assert not any(f"case #{case.id}" in str(m.get("text")) for m in sandbox.chat(BEN))
        team = await admin.get(f"{app.base}/team?done=deactivated")
        assert (
            "Deactivated:" in team.text
            and f'<tr id="clinician-{ben.id}" class="inactive">' in team.text
        )
        # Reactivated: in again, but their ended shifts stay ended.
        back = await admin.post(f"{app.base}/team/{ben.id}/reactivate", data={"csrf": csrf})
        assert back.status_code == 303 and (await _clinician(app, BEN)).active
        async with ctx.db.transaction() as session:
            on_call = await who_is_on_call(session, clinic=ctx.clinic("north"), at=now)
        assert on_call.primary is None
        assert len(await _events(app, "clinician.reactivated")) == 1
        for client in (admin, ben_client, cy_client):
            await client.aclose()


async def test_admins_invite_promote_demote_and_end_sessions(
    sandbox: BotApiSandbox, test_db: IsolatedDatabase
) -> None:
    async with console_bot(sandbox, test_db) as app:
        await join(app, ADMIN, "Admin Ada")
        await join(app, BEN, "Dr Ben")
        ada, ben = await _clinician(app, ADMIN), await _clinician(app, BEN)
        admin = await sign_in(app, ADMIN)
        csrf = await _csrf(admin, f"{app.base}/team")
        # An invite: the link and its QR code, shown once; the link registers whoever opens it.
        empty = await admin.post(f"{app.base}/team/invite", data={"csrf": csrf, "name": "  "})
        assert empty.status_code == 400 and 'id="err-name" role="alert"' in empty.text
        made = await admin.post(f"{app.base}/team/invite", data={"csrf": csrf, "name": "Dr Dee"})
        assert made.status_code == 200
        link = re.search(r'value="(https://t\.me/[A-Za-z0-9_]+\?start=[A-Za-z0-9_-]+)"', made.text)
        assert link, made.text
        assert re.search(r'<svg[^>]*class="qr"', made.text) and "<path" in made.text
        invited = [e for e in await _events(app, "invite.created") if e.actor != "cli"]
        assert [e.actor for e in invited] == [f"clinician:{ada.id}"]
        sandbox.add_user(7004, "Dee")
        sandbox.send_text(7004, f"/start {link.group(1).split('start=')[1]}")
        await sandbox.wait_for_message(7004, "registered as a clinician", timeout=10)
        dee = await _clinician(app, 7004)
        assert (dee.name, dee.clinic_id, dee.is_admin) == ("Dr Dee", "north", False)
        # The last active admin can be neither demoted nor deactivated (not even by herself).
        demote = await admin.post(
            f"{app.base}/team/{ada.id}/admin", data={"csrf": csrf, "admin": "0"}
        )
        assert demote.status_code == 409 and "last active admin" in demote.text
        # The confirmation page says so first (a read, which locks nothing).
        asked = await admin.get(f"{app.base}/team/{ada.id}/deactivate")
        assert asked.status_code == 200 and 'id="last-admin"' in asked.text
        leave = await admin.post(
            f"{app.base}/team/{ada.id}/deactivate", data={"csrf": csrf, "confirm": "1"}
        )
        assert leave.status_code == 409
        ada_now = await _clinician(app, ADMIN)
        assert ada_now.is_admin and ada_now.active
        # Ben made an admin; then Ada may step down.
        up = await admin.post(f"{app.base}/team/{ben.id}/admin", data={"csrf": csrf, "admin": "1"})
        assert up.status_code == 303 and (await _clinician(app, BEN)).is_admin
        assert [e.actor for e in await _events(app, "clinician.promoted")] == [
            f"clinician:{ada.id}"
        ]
        # Ending Ben's console sessions signs his browser out.
        ben_client = await sign_in(app, BEN)
        assert (await ben_client.get(f"{app.base}/team")).status_code == 200
        ended = await admin.post(f"{app.base}/team/{ben.id}/sessions", data={"csrf": csrf})
        assert ended.status_code == 303
        assert (await ben_client.get(f"{app.base}/team")).status_code == 401
        [sessions] = await _events(app, "console.sessions_ended")
        assert json.loads(sessions.detail)["ended"] == 1
        down = await admin.post(
            f"{app.base}/team/{ada.id}/admin", data={"csrf": csrf, "admin": "0"}
        )
        assert down.status_code == 303 and not (await _clinician(app, ADMIN)).is_admin
        # No longer an admin: the next admin action is refused.
        again = await admin.post(f"{app.base}/team/{ben.id}/sessions", data={"csrf": csrf})
        assert again.status_code == 403
        await admin.aclose()
        await ben_client.aclose()


XI = 7005  # Dr Xi: a clinician of North and of South


async def _registration(app: ConsoleBot, user_id: int, clinic: str) -> int:
    """The clinician's registration in `clinic` (a second `join` may still be under way: its
    reply looks like the first one's)."""
    for _ in range(100):
        async with app.bot.ctx.db.transaction() as session:
            found = (
                await session.scalars(
                    select(Clinician).where(
                        Clinician.telegram_user_id == user_id, Clinician.clinic_id == clinic
                    )
                )
            ).first()
        if found is not None and found.id is not None:
            return found.id
        await asyncio.sleep(0.1)
    raise AssertionError(f"{user_id} never registered at {clinic}")


async def _working_in(app: ConsoleBot, user_id: int, clinician_id: int) -> httpx.AsyncClient:
    """A fresh session of a clinician of two clinics, working as this registration."""
    client = await sign_in(app, user_id)
    chooser = await client.get(f"{app.base}/clinic")
    chosen = await client.post(
        f"{app.base}/clinic",
        data={"csrf": csrf_of(chooser.text), "clinician": str(clinician_id), "next": "/console/"},
    )
    assert chosen.status_code == 303, chosen.text
    return client


async def _live(app: ConsoleBot, client: httpx.AsyncClient) -> bool:
    status = (await client.get(f"{app.base}/team")).status_code
    assert status in (200, 401)
    return status == 200


async def test_ending_a_clinicians_sessions_in_one_clinic_leaves_their_other_clinic_alone(
    sandbox: BotApiSandbox, test_db: IsolatedDatabase
) -> None:
    async with console_bot(sandbox, test_db) as app:
        await join(app, ADMIN, "Admin Ada")
        await join(app, SOL, "Admin Sol", clinic="south")
        await join(app, XI, "Dr Xi")
        await join(app, XI, "Dr Xi", clinic="south")
        xi_north, xi_south = (
            await _registration(app, XI, "north"),
            await _registration(app, XI, "south"),
        )
        north_1 = await _working_in(app, XI, xi_north)
        south_1 = await _working_in(app, XI, xi_south)
        assert "South Clinic" in (await south_1.get(f"{app.base}/team")).text
        # South's admin ends Dr Xi's sessions in Telegram: South's only.
        sandbox.send_text(SOL, "/console end Dr Xi")
        await sandbox.wait_for_message(SOL, "Ended 1 console session(s) of Dr Xi's", timeout=10)
        assert not await _live(app, south_1) and await _live(app, north_1)
        # North's admin ends them in the console: North's only.
        south_2 = await _working_in(app, XI, xi_south)
        admin = await sign_in(app, ADMIN)
        csrf = await _csrf(admin, f"{app.base}/team")
        ended = await admin.post(f"{app.base}/team/{xi_north}/sessions", data={"csrf": csrf})
        assert ended.status_code == 303
        assert not await _live(app, north_1) and await _live(app, south_2)
        by_admins = [json.loads(e.detail) for e in await _events(app, "console.sessions_ended")]
        assert [(d["clinician"], d["ended"], d["scope"]) for d in by_admins] == [
            (xi_south, 1, "clinic"),
            (xi_north, 1, "clinic"),
        ]
        # Deactivated at North: signed out there, still working at South.
        north_2 = await _working_in(app, XI, xi_north)
        gone = await admin.post(
            f"{app.base}/team/{xi_north}/deactivate", data={"csrf": csrf, "confirm": "1"}
        )
        assert gone.status_code == 303
        assert not await _live(app, north_2) and await _live(app, south_2)
        [deactivated] = await _events(app, "clinician.deactivated")
        assert json.loads(deactivated.detail)["sessions_ended"] == 1
        # `/console logout` is the person's own: it still ends every session of theirs.
        south_3 = await sign_in(app, XI)  # South is now Dr Xi's only clinic
        sandbox.send_text(XI, "/console logout")
        await sandbox.wait_for_message(XI, "Ended 2 console session(s) of your", timeout=10)
        assert not await _live(app, south_2) and not await _live(app, south_3)
        for client in (north_1, north_2, south_1, south_2, south_3, admin):
            await client.aclose()


CSRF_REFUSED = "did not come from this console"


async def test_admin_forms_check_the_csrf_token_before_anything_else(
    sandbox: BotApiSandbox, test_db: IsolatedDatabase
) -> None:
    async with console_bot(sandbox, test_db) as app:
        await join(app, ADMIN, "Admin Ada")
        await join(app, BEN, "Dr Ben")
        ben = await _clinician(app, BEN)
        events_before = await _all_events(app)
        posts = [
            ("/team/invite", {"name": "Dr Dee"}),
            (f"/team/{ben.id}/admin", {"admin": "1"}),
            (f"/team/{ben.id}/deactivate", {"confirm": "1"}),
            (f"/team/{ben.id}/reactivate", {}),
            (f"/team/{ben.id}/sessions", {}),
            ("/roster/rotation", {"based_on": "0", "count": "0"}),
            ("/audit/verify", {}),
            ("/export", {"since": ""}),
        ]
        admin, clinician = await sign_in(app, ADMIN), await sign_in(app, BEN)
        for client in (admin, clinician):
            for path, fields in posts:
                for token in ({}, {"csrf": "0" * 64}):
                    sent = await client.post(f"{app.base}{path}", data={**fields, **token})
                    assert sent.status_code == 403, path
                    # The CSRF answer, never the admin check's (or the file-managed clinic's).
                    assert CSRF_REFUSED in sent.text and "Only an admin" not in sent.text, path
        # Nothing changed and nothing was recorded (a session sign-in is the only news).
        after = [e for e in await _all_events(app) if not e.startswith("console.")]
        assert after == [e for e in events_before if not e.startswith("console.")]
        still = await _clinician(app, BEN)
        assert still.active and not still.is_admin
        assert await _live(app, clinician)
        # With the token, the admin check answers for a clinician who is not an admin.
        csrf = await _csrf(clinician, f"{app.base}/team")
        refused = await clinician.post(f"{app.base}/audit/verify", data={"csrf": csrf})
        assert refused.status_code == 403 and "Only an admin" in refused.text
        await admin.aclose()
        await clinician.aclose()


async def _all_events(app: ConsoleBot) -> list[str]:
    async with app.bot.ctx.db.transaction() as session:
        return list((await session.scalars(select(AuditEvent.event).order_by(AuditEvent.id))).all())


async def test_a_clinician_id_that_is_not_plain_digits_is_not_found(
    sandbox: BotApiSandbox, test_db: IsolatedDatabase
) -> None:
    async with console_bot(sandbox, test_db) as app:
        await join(app, ADMIN, "Admin Ada")
        admin = await sign_in(app, ADMIN)
        csrf = await _csrf(admin, f"{app.base}/team")
        # "²" and "١" are digits to str.isdigit, which int() then refuses.
        for raw in ("²", "1²", "١", "1" * 10):
            seen = await admin.get(f"{app.base}/team/{raw}/deactivate")
            assert seen.status_code == 404 and "No such clinician here" in seen.text, raw
            posted = await admin.post(f"{app.base}/team/{raw}/sessions", data={"csrf": csrf})
            assert posted.status_code == 404, raw
        await admin.aclose()

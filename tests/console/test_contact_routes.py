"""A clinician's contact methods (e-mail, paging-service routing key): admins set anyone's, a
clinician their own; validated beside the field; audited without the addresses."""

from __future__ import annotations

import json

from sqlalchemy import select

from sandbox import BotApiSandbox
from storage.models import AuditEvent, Clinician
from tests.auxil.console import ConsoleBot, console_bot, csrf_of, join, sign_in
from tests.auxil.databases import IsolatedDatabase

ADMIN, BEN, CAL, SOL = 7001, 7002, 7003, 7101


async def _clinician(app: ConsoleBot, name: str) -> Clinician:
    async with app.bot.ctx.db.transaction() as session:
        found = await session.scalar(select(Clinician).where(Clinician.name == name))
    assert found is not None
    return found


async def test_contact_methods_are_set_checked_and_scoped(
    sandbox: BotApiSandbox, test_db: IsolatedDatabase
) -> None:
    async with console_bot(sandbox, test_db) as app:
        await join(app, ADMIN, "Admin Ada")
        await join(app, BEN, "Dr Ben")
        await join(app, CAL, "Dr Cal")
        await join(app, SOL, "Dr Sol", clinic="south")
        ben, sol = await _clinician(app, "Dr Ben"), await _clinician(app, "Dr Sol")

        admin = await sign_in(app, ADMIN)
        page = await admin.get(f"{app.base}/team/{ben.id}/contact")
        assert page.status_code == 200
        csrf = csrf_of(page.text)
        bad = await admin.post(
            f"{app.base}/team/{ben.id}/contact",
            data={"csrf": csrf, "email": "not-an-address", "pager_key": "has spaces"},
        )
        assert bad.status_code == 400
        assert 'id="err-email"' in bad.text and 'id="err-pager_key"' in bad.text
        assert 'value="not-an-address"' in bad.text
        assert (await _clinician(app, "Dr Ben")).email is None

        no_csrf = await admin.post(
            f"{app.base}/team/{ben.id}/contact", data={"email": "ben@north.example"}
        )
        assert no_csrf.status_code == 403
        done = await admin.post(
            f"{app.base}/team/{ben.id}/contact",
            data={"csrf": csrf, "email": "ben@north.example", "pager_key": "PDKEY_ben-1"},
        )
        assert done.status_code == 303
        stored = await _clinician(app, "Dr Ben")
        assert (stored.email, stored.pager_key) == ("ben@north.example", "PDKEY_ben-1")
        team = await admin.get(f"{app.base}/team")
        assert "Telegram, e-mail, paging service" in team.text
        other_clinic = await admin.get(f"{app.base}/team/{sol.id}/contact")
        assert other_clinic.status_code == 404
        odd = await admin.get(f"{app.base}/team/²/contact")
        assert odd.status_code == 404

        cal = await sign_in(app, CAL)
        own = await cal.get(f"{app.base}/team")
        cal_row = await _clinician(app, "Dr Cal")
        cal_csrf = csrf_of(own.text)
        mine = await cal.post(
            f"{app.base}/team/{cal_row.id}/contact",
            data={"csrf": cal_csrf, "email": "cal@north.example", "pager_key": ""},
        )
        assert mine.status_code == 303
        theirs = await cal.post(
            f"{app.base}/team/{ben.id}/contact",
            data={"csrf": cal_csrf, "email": "evil@example.com", "pager_key": ""},
        )
        assert theirs.status_code == 403
        assert (await _clinician(app, "Dr Ben")).email == "ben@north.example"

        async with app.bot.ctx.db.transaction() as session:
            events = (
                await session.scalars(
                    select(AuditEvent).where(AuditEvent.event == "clinician.contact_set")
                )
            ).all()
        assert len(events) == 2
        assert all("@" not in e.detail for e in events)
        assert json.loads(events[0].detail) == {
            "clinician_id": ben.id,
            "email": True,
            "pager_key": True,
        }
        for client in (admin, cal):
            await client.aclose()

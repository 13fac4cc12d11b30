"""The audit log in the console: the clinic's events only, newest first, filtered, paged, the
details escaped; Verify (admins, CSRF) says intact, then where it breaks after tampering."""

from __future__ import annotations

import asyncio
import json
import re
from datetime import timedelta

import httpx
from sqlalchemy import func, select, text
from sqlmodel import col

from sandbox import BotApiSandbox
from storage import audit
from storage.models import AuditEvent, Clinician
from storage.states import Actor
from tests.auxil.console import ConsoleBot, console_bot, csrf_of, join, patient_with_case, sign_in
from tests.auxil.databases import IsolatedDatabase
from tests.auxil.wall_clock import clock_at

# Noon in the North clinic's zone, whatever the hour: "today" is the same day from the first
# audit row to the last request.
NOON, ZONE = "12:00", "America/New_York"

ADMIN, BEN, SOL = 7001, 7002, 7101
ROW = re.compile(r'<tr id="event-(\d+)">')


def _ids(html: str) -> list[int]:
    return [int(n) for n in ROW.findall(html)]


def _table(html: str) -> str:
    """The log's table alone (the filter form lists every event kind)."""
    return html[html.index('id="audit-log"') :]


async def _clinician_id(app: ConsoleBot, name: str) -> int:
    async with app.bot.ctx.db.transaction() as session:
        found = (await session.scalars(select(Clinician).where(Clinician.name == name))).one()
    assert found.id is not None
    return found.id


async def _append(app: ConsoleBot, count: int, **detail: object) -> None:
    async with app.bot.ctx.db.transaction() as session:
        for n in range(count):
            await audit.append(
                session,
                at=app.bot.ctx.clock.now(),
                actor=Actor("system"),
                event="test.filler",
                clinic_id="north",
                detail={"n": n, **detail},
            )


async def _paged(app: ConsoleBot, pages: int) -> None:
    """Wait until the pager has recorded this many pages (it pages a new case at its tick)."""
    for _ in range(200):
        if await _count(app, "page.sent") >= pages:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"fewer than {pages} pages were sent")


async def _count(app: ConsoleBot, event: str | None = None) -> int:
    async with app.bot.ctx.db.transaction() as session:
        query = select(func.count()).select_from(AuditEvent)
        if event is not None:
            query = query.where(AuditEvent.event == event)
        return int(await session.scalar(query) or 0)


async def test_a_clinician_reads_the_clinics_log_filtered_and_paged(
    sandbox: BotApiSandbox, test_db: IsolatedDatabase
) -> None:
    async with console_bot(sandbox, test_db, clock=clock_at(NOON, ZONE)) as app:
        await join(app, BEN, "Dr Ben")
        await join(app, SOL, "Dr Sol", clinic="south")
        north, _ = await patient_with_case(app, "NORTH-1")
        await patient_with_case(app, "NORTH-2")
        await patient_with_case(app, "SOUTH-1", clinic="south")
        await _append(app, 1, html="<b>bold</b>")
        await _paged(app, 3)  # the pager's own events are in before the log is read
        client = await sign_in(app, BEN)
        ben = await _clinician_id(app, "Dr Ben")
        log = await client.get(f"{app.base}/audit")
        assert log.status_code == 200 and 'id="audit-log"' in log.text
        ids = _ids(log.text)
        assert ids == sorted(ids, reverse=True)  # newest first
        assert "NORTH-1" in log.text and "NORTH-2" in log.text and "SOUTH-1" not in log.text
        assert "escalation.opened" in _table(log.text) and "patient.enrolled" in _table(log.text)
        assert f"Dr Ben (clinician:{ben})" in log.text  # the actor named
        assert "&lt;b&gt;bold&lt;/b&gt;" in log.text and "<b>bold</b>" not in log.text
        assert "<details>" in log.text and "&#34;html&#34;" in log.text  # pretty JSON
        # A clinician reads; only an admin runs the check.
        assert 'id="verify-button"' not in log.text
        refused = await client.post(f"{app.base}/audit/verify", data={"csrf": csrf_of(log.text)})
        assert refused.status_code == 403 and await _count(app, "audit.verified") == 0
        # By patient: only that patient's events.
        one = await client.get(f"{app.base}/audit", params={"patient": "NORTH-1"})
        assert one.status_code == 200 and "NORTH-1" in one.text and "NORTH-2" not in one.text
        async with app.bot.ctx.db.transaction() as session:
            expected = await session.scalars(
                select(AuditEvent.id)
                .where(AuditEvent.patient_id == north.id)
                .order_by(col(AuditEvent.id).desc())
            )
            assert _ids(one.text) == list(expected.all())
        # By actor (a name, or the stored form) and by event.
        by_name = await client.get(f"{app.base}/audit", params={"actor": "dr ben"})
        by_actor = await client.get(f"{app.base}/audit", params={"actor": f"clinician:{ben}"})
        assert _ids(by_name.text) == _ids(by_actor.text) != []
        assert "clinician.joined" in _table(by_name.text)
        assert "escalation.opened" not in _table(by_name.text)
        by_kind = await client.get(f"{app.base}/audit", params={"actor": "clinician"})
        assert _ids(by_kind.text) == _ids(by_actor.text)  # every clinician: Ben is North's one
        opened = await client.get(f"{app.base}/audit", params={"event": "escalation.opened"})
        assert len(_ids(opened.text)) == 2  # North's two cases, not South's
        assert '<option value="escalation.opened" selected>' in opened.text
        # By day, in the clinic's zone.
        today = app.bot.ctx.clock.now().astimezone(app.bot.ctx.clinic("north").zone).date()
        day = {"start": str(today), "end": str(today)}
        assert _ids((await client.get(f"{app.base}/audit", params=day)).text) == ids
        tomorrow = {"start": str(today + timedelta(days=1))}
        assert _ids((await client.get(f"{app.base}/audit", params=tomorrow)).text) == []
        # Bad filters: the message beside the field, the value kept, no rows, no crash.
        for params, field, message in [
            ({"patient": "SOUTH-1"}, "patient", "No patient with this reference"),
            ({"actor": "nobody:x"}, "actor", "No such actor"),
            ({"event": "made.up"}, "event", "No such event"),
            ({"start": "2026-13-01"}, "start", "Not a date"),
            ({"end": "9999-12-31"}, "end", "too far in the past or future"),  # its next day
            ({"start": str(today), "end": str(today - timedelta(days=2))}, "end", "before the"),
        ]:
            bad = await client.get(f"{app.base}/audit", params=params)
            assert bad.status_code == 400, params
            assert f'id="err-{field}"' in bad.text and message in bad.text
            assert _ids(bad.text) == []
        kept = await client.get(f"{app.base}/audit", params={"patient": "SOUTH-1"})
        assert 'value="SOUTH-1"' in kept.text
        # The first day of the calendar starts before UTC's in Berlin (South's zone).
        south = await sign_in(app, SOL)
        early = await south.get(f"{app.base}/audit", params={"start": "0001-01-01"})
        assert early.status_code == 400 and 'id="err-start"' in early.text
        assert "too far in the past or future" in early.text
        await south.aclose()
        # A cursor that is not plain digits ("²" is one to str.isdigit): the first page.
        for before in ("²", "1²", "x"):
            odd = await client.get(f"{app.base}/audit", params={"before": before})
            assert odd.status_code == 200 and _ids(odd.text) == ids, before
        # Paging: 100 at a time, the older link keeps the filter.
        await _append(app, 120)
        first = await client.get(f"{app.base}/audit", params={"event": "test.filler"})
        assert len(_ids(first.text)) == 100
        older = re.search(r'href="([^"]+)" id="audit-older"', first.text)
        assert older is not None
        link = older.group(1).replace("&amp;", "&")
        assert "event=test.filler" in link
        second = await client.get(f"http://{httpx.URL(app.base).netloc.decode()}{link}")
        assert len(_ids(second.text)) == 21 and 'id="audit-older"' not in second.text
        assert min(_ids(first.text)) > max(_ids(second.text))
        await client.aclose()


async def _tamper(app: ConsoleBot, row: int) -> None:
    async with app.bot.ctx.db.transaction() as session:
        await session.execute(
            text("UPDATE audit_event SET detail = '{\"x\": 1}' WHERE id = :id"), {"id": row}
        )


async def test_verify_shows_an_intact_chain_then_where_it_was_altered(
    sandbox: BotApiSandbox, test_db: IsolatedDatabase
) -> None:
    async with console_bot(sandbox, test_db) as app:
        await join(app, ADMIN, "Admin Ada")
        await patient_with_case(app, "NORTH-1")
        client = await sign_in(app, ADMIN)
        log = await client.get(f"{app.base}/audit")
        assert 'id="verify-button"' in log.text
        csrf = csrf_of(log.text)
        no_token = await client.post(f"{app.base}/audit/verify", data={})
        assert no_token.status_code == 403 and await _count(app, "audit.verified") == 0
        total = await _count(app)
        intact = await client.post(f"{app.base}/audit/verify", data={"csrf": csrf})
        assert intact.status_code == 200 and 'id="verify-result"' in intact.text
        async with app.bot.ctx.db.transaction() as session:
            head = await session.scalar(select(AuditEvent.hash).where(AuditEvent.id == total))
        assert f"{total} events checked, head hash" in intact.text and str(head) in intact.text
        async with app.bot.ctx.db.transaction() as session:
            verified = (
                await session.scalars(
                    select(AuditEvent).where(AuditEvent.event == "audit.verified")
                )
            ).one()
        assert verified.actor == f"clinician:{await _clinician_id(app, 'Admin Ada')}"
        assert json.loads(verified.detail) == {"ok": True, "checked": total, "first_bad_id": None}
        assert "audit.verified" in _table(intact.text)  # the check shows in the log below
        await _tamper(app, 3)
        broken = await client.post(f"{app.base}/audit/verify", data={"csrf": csrf})
        assert broken.status_code == 200
        assert "Broken at record 3" in broken.text and "row 3 was altered" in broken.text
        assert "Intact" not in broken.text
        async with app.bot.ctx.db.transaction() as session:
            last = (
                await session.scalars(
                    select(AuditEvent)
                    .where(AuditEvent.event == "audit.verified")
                    .order_by(col(AuditEvent.id).desc())
                )
            ).first()
        assert last is not None
        assert json.loads(last.detail) == {"ok": False, "checked": 3, "first_bad_id": 3}
        await client.aclose()

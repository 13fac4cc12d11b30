"""The case queue and Acknowledge / Resolve in the console: CSRF, clinic isolation, and the
same case states, audit rows and Telegram page updates as the Telegram buttons."""

from __future__ import annotations

import asyncio

import httpx
from sqlalchemy import select

from bot.domain.levels import Level
from sandbox import BotApiSandbox
from storage.models import AuditEvent, Case, Clinician, Page
from storage.states import CaseStatus
from tests.auxil.console import (
    ConsoleBot,
    console_bot,
    csrf_of,
    join,
    patient_with_case,
    sign_in,
)
from tests.auxil.databases import IsolatedDatabase

ADA, BEN, SOL = 7001, 7002, 7101  # Ada and Ben at North, Sol at South

# Every console route with a placeholder for a case id and a patient reference.
GET_ROUTES = ["/", "/cases/list", "/cases/{case}", "/patients", "/patients/{ref}", "/clinic"]
POST_ROUTES = [
    "/cases/{case}/acknowledge",
    "/cases/{case}/resolve",
    "/signout",
    "/clinic",
]


async def _case(app: ConsoleBot, case_id: int) -> Case:
    async with app.bot.ctx.db.transaction() as session:
        case = await session.get(Case, case_id, populate_existing=True)
    assert case is not None
    return case


async def _events(app: ConsoleBot, case_id: int) -> list[tuple[str, str]]:
    async with app.bot.ctx.db.transaction() as session:
        rows = await session.scalars(select(AuditEvent).where(AuditEvent.case_id == case_id))
        return [(e.event, e.actor) for e in rows.all()]


async def _clinician_id(app: ConsoleBot, user_id: int) -> int:
    async with app.bot.ctx.db.transaction() as session:
        row = (
            await session.scalars(select(Clinician).where(Clinician.telegram_user_id == user_id))
        ).first()
    assert row is not None and row.id is not None
    return row.id


async def _page_of(app: ConsoleBot, user_id: int, case_id: int) -> dict:  # type: ignore[type-arg]
    return await app.sandbox.wait_for_message(user_id, f"case #{case_id}", timeout=10)


async def test_acknowledge_and_resolve_in_the_console_do_what_the_buttons_do(
    sandbox: BotApiSandbox, test_db: IsolatedDatabase
) -> None:
    async with console_bot(sandbox, test_db) as app:
        await join(app, ADA, "Dr Ada")
        await join(app, BEN, "Dr Ben")
        _, case = await patient_with_case(app, "P-001")
        assert case.id is not None
        ada_page = await _page_of(app, ADA, case.id)
        await _page_of(app, BEN, case.id)
        # Every page carries an "Open in console" link to the case.
        buttons = [b for row in ada_page["reply_markup"]["inline_keyboard"] for b in row]
        assert {"text": "Open in console", "url": f"{app.base}/cases/{case.id}"} in buttons
        client = await sign_in(app, ADA)
        queue = await client.get(f"{app.base}/")
        assert f"Case #{case.id}" in queue.text and "P-001" in queue.text
        assert "HIGH" in queue.text and "I keep thinking about it" in queue.text
        assert "Dr Ada" in queue.text and "delivered" in queue.text
        assert "Next: the primary and the backup" in queue.text
        done = await client.post(
            f"{app.base}/cases/{case.id}/acknowledge",
            data={"csrf": csrf_of(queue.text), "level": "high", "back": "queue"},
            follow_redirects=True,
        )
        assert done.status_code == 200 and f"You acknowledged case #{case.id}" in done.text
        ada = await _clinician_id(app, ADA)
        taken = await _case(app, case.id)
        assert taken.status == CaseStatus.ACKNOWLEDGED and taken.acknowledged_by == ada
        assert taken.next_step_at is None  # re-paging stopped
        assert ("escalation.acknowledged", f"clinician:{ada}") in await _events(app, case.id)
        # The pages in Telegram now say who took it; Ben is told.
        await sandbox.wait_for_message(BEN, f"Case #{case.id} was acknowledged by Dr Ada")
        for user in (ADA, BEN):
            for _ in range(50):
                page = next(m for m in sandbox.chat(user) if f"case #{case.id}" in m["text"])
                if "Acknowledged by Dr Ada" in page["text"]:
                    break
                await asyncio.sleep(0.1)
            assert "Acknowledged by Dr Ada" in page["text"]
        # Resolve with a note from the case page.
        case_page = await client.get(f"{app.base}/cases/{case.id}")
        empty = await client.post(
            f"{app.base}/cases/{case.id}/resolve",
            data={"csrf": csrf_of(case_page.text), "note": " "},
        )
        assert empty.status_code == 400 and "needs a note" in empty.text
        assert (await _case(app, case.id)).status == CaseStatus.ACKNOWLEDGED
        # A high case: neither "reached" recorded nor a reason given is refused, beside the field
        unreached = await client.post(
            f"{app.base}/cases/{case.id}/resolve",
            data={"csrf": csrf_of(case_page.text), "note": "Called her; safe with her sister"},
        )
        assert unreached.status_code == 400
        assert "Record that the patient was reached, or give the reason" in unreached.text
        assert 'id="err-not-reached"' in unreached.text
        assert (await _case(app, case.id)).status == CaseStatus.ACKNOWLEDGED
        logged = await client.post(
            f"{app.base}/cases/{case.id}/outreach",
            data={"csrf": csrf_of(case_page.text), "method": "phone", "outcome": "reached"},
            follow_redirects=True,
        )
        assert "The contact attempt is recorded" in logged.text and "Reached" in logged.text
        assert (await _case(app, case.id)).outreach_due_at is None
        resolved = await client.post(
            f"{app.base}/cases/{case.id}/resolve",
            data={"csrf": csrf_of(case_page.text), "note": "Called her; safe with her sister"},
            follow_redirects=True,
        )
        assert "This case is resolved" in resolved.text
        assert "Called her; safe with her sister" in resolved.text
        closed = await _case(app, case.id)
        assert closed.status == CaseStatus.RESOLVED and closed.resolved_by == ada
        assert closed.resolution_note == "Called her; safe with her sister"
        assert ("escalation.resolved", f"clinician:{ada}") in await _events(app, case.id)
        await sandbox.wait_for_message(BEN, f"Case #{case.id} was resolved by Dr Ada")
        # The queue no longer lists it; acknowledging again changes nothing.
        assert f"Case #{case.id}" not in (await client.get(f"{app.base}/")).text
        again = await client.post(
            f"{app.base}/cases/{case.id}/acknowledge",
            data={"csrf": csrf_of(case_page.text), "level": "high"},
            follow_redirects=True,
        )
        assert "already been taken" in again.text
        await client.aclose()


async def test_a_case_raised_since_the_page_was_loaded_is_not_acknowledged_blind(
    sandbox: BotApiSandbox, test_db: IsolatedDatabase
) -> None:
    async with console_bot(sandbox, test_db) as app:
        await join(app, ADA, "Dr Ada")
        _, case = await patient_with_case(app, "P-001", level=Level.MODERATE)
        assert case.id is not None
        client = await sign_in(app, ADA)
        queue = await client.get(f"{app.base}/")
        await patient_with_case(app, "P-001", level=Level.HIGH)  # raised meanwhile
        stale = await client.post(
            f"{app.base}/cases/{case.id}/acknowledge",
            data={"csrf": csrf_of(queue.text), "level": "moderate"},
        )
        assert stale.status_code == 409 and "raised to HIGH" in stale.text
        assert (await _case(app, case.id)).status == CaseStatus.OPEN
        await client.aclose()


async def test_a_post_without_the_csrf_token_changes_nothing(
    sandbox: BotApiSandbox, test_db: IsolatedDatabase
) -> None:
    async with console_bot(sandbox, test_db) as app:
        await join(app, ADA, "Dr Ada")
        _, case = await patient_with_case(app, "P-001")
        client = await sign_in(app, ADA)
        other = await sign_in(app, ADA)  # another session's token is no good either
        foreign = csrf_of((await other.get(f"{app.base}/")).text)
        for data in ({"level": "high"}, {"level": "high", "csrf": foreign}, {"csrf": "0" * 64}):
            refused = await client.post(f"{app.base}/cases/{case.id}/acknowledge", data=data)
            assert refused.status_code == 403 and "nothing was changed" in refused.text
            refused = await client.post(
                f"{app.base}/cases/{case.id}/resolve", data={**data, "note": "x"}
            )
            assert refused.status_code == 403
        assert (await _case(app, case.id or 0)).status == CaseStatus.OPEN
        # The header htmx sends works like the form field.
        ok = await client.post(
            f"{app.base}/cases/{case.id}/acknowledge",
            data={"level": "high"},
            headers={"X-CSRF-Token": csrf_of((await client.get(f"{app.base}/")).text)},
        )
        assert ok.status_code == 303
        await client.aclose()
        await other.aclose()


async def test_no_route_shows_or_changes_another_clinics_case_or_anything_without_a_session(
    sandbox: BotApiSandbox, test_db: IsolatedDatabase
) -> None:
    async with console_bot(sandbox, test_db) as app:
        await join(app, ADA, "Dr Ada")
        await join(app, SOL, "Dr Sol", clinic="south")
        _, north_case = await patient_with_case(app, "NORTH-7")
        south = await sign_in(app, SOL)
        south_page = (await south.get(f"{app.base}/")).text
        assert "NORTH-7" not in south_page and "No open cases" in south_page
        csrf = csrf_of(south_page)
        filled = {"case": str(north_case.id), "ref": "NORTH-7"}
        for route in GET_ROUTES:
            path = app.base + route.format(**filled)
            if "{" in route:
                seen = await south.get(path)
                assert seen.status_code == 404, route
                assert "NORTH-7" not in seen.text and "I keep thinking" not in seen.text
        for route in POST_ROUTES[:2]:
            path = app.base + route.format(**filled)
            changed = await south.post(path, data={"csrf": csrf, "level": "high", "note": "n"})
            assert changed.status_code == 404, route
        assert (await _case(app, north_case.id or 0)).status == CaseStatus.OPEN
        # A case number that is not plain digits ("²" is a digit to str.isdigit): not found.
        for odd in ("²", f"{north_case.id}²", "٣"):
            assert (await south.get(f"{app.base}/cases/{odd}")).status_code == 404, odd
            posted = await south.post(f"{app.base}/cases/{odd}/acknowledge", data={"csrf": csrf})
            assert posted.status_code == 404, odd
        notice = await south.get(f"{app.base}/", params={"done": "resolved", "case": "²"})
        assert notice.status_code == 200 and "²" not in notice.text
        async with httpx.AsyncClient() as nobody:
            for route in GET_ROUTES:
                seen = await nobody.get(app.base + route.format(**filled))
                assert seen.status_code == 401, route
                assert "NORTH-7" not in seen.text
            for route in POST_ROUTES:
                posted = await nobody.post(app.base + route.format(**filled), data={"csrf": csrf})
                assert posted.status_code == 401, route
        assert (await _case(app, north_case.id or 0)).status == CaseStatus.OPEN
        await south.aclose()


async def test_the_queue_refresh_answers_204_until_something_changes(
    sandbox: BotApiSandbox, test_db: IsolatedDatabase
) -> None:
    async with console_bot(sandbox, test_db) as app:
        await join(app, ADA, "Dr Ada")
        client = await sign_in(app, ADA)
        statuses = []
        for _ in range(3):  # shown to the minute: a retry if the minute turns in between
            first = await client.get(f"{app.base}/cases/list")
            version = first.text.split("?v=", 1)[1].split('"', 1)[0]
            same = await client.get(f"{app.base}/cases/list", params={"v": version})
            statuses.append(same.status_code)
            if same.status_code == 204:
                break
        assert 204 in statuses and set(statuses) <= {200, 204}
        assert same.content == b""
        _, case = await patient_with_case(app, "P-002")
        changed = await client.get(f"{app.base}/cases/list", params={"v": version})
        assert changed.status_code == 200 and f"Case #{case.id}" in changed.text
        assert changed.headers["cache-control"] == "no-store"
        assert "default-src 'self'" in changed.headers["content-security-policy"]
        assert changed.headers["referrer-policy"] == "no-referrer"
        await client.aclose()


async def test_a_page_telegram_refuses_for_its_console_button_goes_out_without_it(
    sandbox: BotApiSandbox, test_db: IsolatedDatabase
) -> None:
    async with console_bot(sandbox, test_db) as app:
        await join(app, ADA, "Dr Ada")
        sandbox.fail_next(
            "sendMessage", status=400, description="Bad Request: BUTTON_URL_INVALID", chat_id=ADA
        )
        _, case = await patient_with_case(app, "P-003")
        page = await _page_of(app, ADA, case.id or 0)
        buttons = [b["text"] for row in page["reply_markup"]["inline_keyboard"] for b in row]
        assert buttons == ["Acknowledge", "Resolve", "Message patient"]  # the page itself
        for _ in range(50):  # recorded just after the send
            async with app.bot.ctx.db.transaction() as session:
                pages = (await session.scalars(select(Page))).all()
            if pages:
                break
            await asyncio.sleep(0.1)
        assert [p.status for p in pages] == ["sent"]


async def test_the_outreach_form_refuses_bad_input_beside_the_field(
    sandbox: BotApiSandbox, test_db: IsolatedDatabase
) -> None:
    async with console_bot(sandbox, test_db) as app:
        await join(app, ADA, "Dr Ada")
        _, case = await patient_with_case(app, "P-001")
        assert case.id is not None
        client = await sign_in(app, ADA)
        page = await client.get(f"{app.base}/cases/{case.id}")
        assert "No contact attempt recorded." in page.text
        bad = await client.post(
            f"{app.base}/cases/{case.id}/outreach",
            data={"csrf": csrf_of(page.text), "method": "phone", "outcome": "", "at": "tomorrow"},
        )
        assert bad.status_code == 400 and 'id="err-at"' in bad.text
        assert "YYYY-MM-DD HH:MM" in bad.text
        bad = await client.post(
            f"{app.base}/cases/{case.id}/outreach",
            data={"csrf": csrf_of(page.text), "method": "phone", "outcome": ""},
        )
        assert bad.status_code == 400 and "Choose what came of it." in bad.text
        missing = await client.post(
            f"{app.base}/cases/999999/outreach",
            data={"csrf": csrf_of(page.text), "method": "phone", "outcome": "reached"},
        )
        assert missing.status_code == 404
        await join(app, SOL, "Dr Sol", clinic="south")  # another clinic's clinician: not found
        south = await sign_in(app, SOL)
        south_csrf = csrf_of((await south.get(f"{app.base}/")).text)
        foreign = await south.post(
            f"{app.base}/cases/{case.id}/outreach",
            data={"csrf": south_csrf, "method": "phone", "outcome": "reached"},
        )
        assert foreign.status_code == 404
        assert "outreach.logged" not in [e for e, _ in await _events(app, case.id)]
        assert (await _case(app, case.id)).reached_at is None
        await south.aclose()
        await client.aclose()

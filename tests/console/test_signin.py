"""Signing in to the console: single-use, short-lived links; sessions that expire and end."""

from __future__ import annotations

import asyncio
import html
import re
from datetime import timedelta

import httpx
from sqlalchemy import select, update

from bot.console.web import PREFIX
from bot.services.console_access import issue_link
from sandbox import BotApiSandbox
from storage.models import AuditEvent, Clinician, ConsoleLink, ConsoleSession
from tests.auxil.console import (
    GUARD,
    LINK,
    console_bot,
    csrf_of,
    join,
    link_for,
    sign_in,
)
from tests.auxil.databases import IsolatedDatabase

ADA, BEN = 7001, 7002


async def _post_link(client: httpx.AsyncClient, link: str) -> httpx.Response:
    form = await client.get(link)
    guard = GUARD.search(form.text)
    return await client.post(link, data={"guard": guard.group(1) if guard else ""})


async def _post_guarded(client: httpx.AsyncClient, link: str) -> httpx.Response:
    """Post the sign-in form with a matching guard, as a browser that had the form would."""
    client.cookies.set("aftercare_signin", "g" * 32, domain="127.0.0.1", path="/console")
    return await client.post(link, data={"guard": "g" * 32})


async def test_a_link_signs_in_once_and_is_stored_only_as_a_hash(
    sandbox: BotApiSandbox, test_db: IsolatedDatabase
) -> None:
    async with console_bot(sandbox, test_db) as app, httpx.AsyncClient() as browser:
        await join(app, ADA, "Dr Ada")
        link = await link_for(app, ADA)
        token = link.rsplit("/", 1)[1]
        # Looking at the link (a preview, a scanner) does not spend it.
        for _ in range(2):
            shown = await browser.get(link)
            assert shown.status_code == 200 and "Sign in" in shown.text
        signed = await _post_link(browser, link)
        assert signed.status_code == 303
        assert "aftercare_console" in signed.headers["set-cookie"]
        cookie = signed.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=lax" in cookie and "path=/console" in cookie
        home = await browser.get(f"{app.base}/", follow_redirects=True)
        assert home.status_code == 200 and "Signed in as Dr Ada" in home.text
        assert "North Clinic" in home.text
        # A second use, from this browser or another, signs nobody in.
        async with httpx.AsyncClient() as other:
            again = await other.get(link)
            assert again.status_code == 410 and "already used" in again.text
            reused = await _post_guarded(other, link)
            assert reused.status_code == 410 and "already used" in reused.text
            assert (await other.get(f"{app.base}/")).status_code == 401
        async with app.bot.ctx.db.transaction() as session:
            links = (await session.scalars(select(ConsoleLink))).all()
            sessions = (await session.scalars(select(ConsoleSession))).all()
            events = [e.event for e in (await session.scalars(select(AuditEvent))).all()]
        assert len(links) == 1 and links[0].used_at is not None
        assert token not in links[0].token_hash and len(links[0].token_hash) == 64
        assert len(sessions) == 1
        assert browser.cookies["aftercare_console"] not in sessions[0].token_hash
        assert {"console.link_issued", "console.signed_in"} <= set(events)


async def test_expired_forged_and_unguarded_links_sign_in_nobody(
    sandbox: BotApiSandbox, test_db: IsolatedDatabase
) -> None:
    async with console_bot(sandbox, test_db) as app, httpx.AsyncClient() as browser:
        await join(app, ADA, "Dr Ada")
        ctx = app.bot.ctx
        async with ctx.db.transaction() as session:
            ada = (await session.scalars(select(Clinician))).one()
            old = await issue_link(
                session, clinician=ada, now=ctx.clock.now() - timedelta(minutes=11)
            )
        expired = await browser.get(f"{app.base}/signin/{old}")
        assert expired.status_code == 410 and "expired" in expired.text
        assert (await _post_guarded(browser, f"{app.base}/signin/{old}")).status_code == 410
        forged = await browser.get(f"{app.base}/signin/{'A' * 43}")
        assert forged.status_code == 404 and "not valid" in forged.text
        # A real link posted without the form's guard (a cross-site post) is refused, unused.
        link = await link_for(app, ADA)
        refused = await browser.post(link, data={"guard": "made-up"})
        assert refused.status_code == 403
        assert (await _post_link(browser, link)).status_code == 303  # still good afterwards
        assert (await browser.get(f"{app.base}/")).status_code == 200


async def test_sessions_expire_when_idle_and_absolutely(
    sandbox: BotApiSandbox, test_db: IsolatedDatabase
) -> None:
    async with console_bot(sandbox, test_db) as app:
        await join(app, ADA, "Dr Ada")
        ctx = app.bot.ctx
        idle = await sign_in(app, ADA)
        old = await sign_in(app, ADA)
        fresh = await sign_in(app, ADA)
        async with ctx.db.transaction() as session:
            rows = (await session.scalars(select(ConsoleSession).order_by(ConsoleSession.id))).all()
            now = ctx.clock.now()
            await session.execute(
                update(ConsoleSession)
                .where(ConsoleSession.id == rows[0].id)
                .values(last_seen_at=now - timedelta(hours=12, seconds=1))
            )
            await session.execute(
                update(ConsoleSession)
                .where(ConsoleSession.id == rows[1].id)
                .values(expires_at=now - timedelta(seconds=1))
            )
        for client in (idle, old):
            gone = await client.get(f"{app.base}/")
            assert gone.status_code == 401 and "/console" in gone.text
        # Eleven hours idle is still a session, and a page view counts as activity.
        async with ctx.db.transaction() as session:
            await session.execute(
                update(ConsoleSession)
                .where(ConsoleSession.id == rows[2].id)
                .values(last_seen_at=ctx.clock.now() - timedelta(hours=11))
            )
        assert (await fresh.get(f"{app.base}/")).status_code == 200
        async with ctx.db.transaction() as session:
            seen = await session.get(ConsoleSession, rows[2].id, populate_existing=True)
            assert seen is not None and ctx.clock.now() - seen.last_seen_at < timedelta(minutes=1)
        # The queue's own refresh is not activity.
        async with ctx.db.transaction() as session:
            await session.execute(
                update(ConsoleSession)
                .where(ConsoleSession.id == rows[2].id)
                .values(last_seen_at=ctx.clock.now() - timedelta(hours=11))
            )
        assert (await fresh.get(f"{app.base}/cases/list")).status_code == 200
        async with ctx.db.transaction() as session:
            seen = await session.get(ConsoleSession, rows[2].id, populate_existing=True)
            assert seen is not None and ctx.clock.now() - seen.last_seen_at > timedelta(hours=10)
        # Activity is written at most once a minute: a page view half a minute on only reads.
        recently = ctx.clock.now() - timedelta(seconds=30)
        async with ctx.db.transaction() as session:
            await session.execute(
                update(ConsoleSession)
                .where(ConsoleSession.id == rows[2].id)
                .values(last_seen_at=recently)
            )
        assert (await fresh.get(f"{app.base}/")).status_code == 200
        async with ctx.db.transaction() as session:
            seen = await session.get(ConsoleSession, rows[2].id, populate_existing=True)
            assert seen is not None and seen.last_seen_at == recently
        for client in (idle, old, fresh):
            await client.aclose()


async def test_a_page_view_only_reads_and_is_served_beside_a_held_writer(
    sandbox: BotApiSandbox, test_db: IsolatedDatabase
) -> None:
    """Within a minute of the session's last written activity, looking up who is signed in
    only reads: a page is served while another transaction holds the database's write lock
    (SQLite has one writer), not after it."""
    async with console_bot(sandbox, test_db) as app:
        await join(app, ADA, "Dr Ada")
        client = await sign_in(app, ADA)
        async with app.bot.ctx.db.transaction() as session:
            await session.execute(select(ConsoleSession.id))  # the write lock, held
            page = await asyncio.wait_for(client.get(f"{app.base}/"), timeout=10)
            assert page.status_code == 200 and "Dr Ada" in page.text
        await client.aclose()


async def test_sign_out_and_telegram_logout_and_an_admin_end_sessions(
    sandbox: BotApiSandbox, test_db: IsolatedDatabase
) -> None:
    async with console_bot(sandbox, test_db) as app:
        await join(app, ADA, "Dr Ada")
        await join(app, BEN, "Admin Ben")
        first, second = await sign_in(app, ADA), await sign_in(app, ADA)
        page = await first.get(f"{app.base}/")
        # Sign-out needs the form's CSRF token; with it, only this browser is signed out.
        assert (await first.post(f"{app.base}/signout")).status_code == 403
        out = await first.post(f"{app.base}/signout", data={"csrf": csrf_of(page.text)})
        assert out.status_code == 200 and "Signed out" in out.text
        assert (await first.get(f"{app.base}/")).status_code == 401
        assert (await second.get(f"{app.base}/")).status_code == 200
        # /console logout in Telegram ends every session of that clinician.
        third = await sign_in(app, ADA)
        sandbox.send_text(ADA, "/console logout")
        await sandbox.wait_for_message(ADA, "Ended 2 console session(s) of your", timeout=10)
        for client in (second, third):
            assert (await client.get(f"{app.base}/")).status_code == 401
        # An admin ends a clinician's sessions by name; a non-admin cannot.
        fourth = await sign_in(app, ADA)
        sandbox.send_text(ADA, "/console end Admin Ben")
        await sandbox.wait_for_message(ADA, "Only an admin", timeout=10)
        sandbox.send_text(BEN, "/console end dr ada")
        await sandbox.wait_for_message(BEN, "Ended 1 console session(s) of Dr Ada's", timeout=10)
        assert (await fourth.get(f"{app.base}/")).status_code == 401
        async with app.bot.ctx.db.transaction() as session:
            events = [(e.event, e.actor) for e in (await session.scalars(select(AuditEvent))).all()]
        assert ("console.signed_out", "clinician:1") in events
        assert ("console.sessions_ended", "clinician:2") in events
        for client in (first, second, third, fourth):
            await client.aclose()


async def test_console_without_a_url_says_so(
    sandbox: BotApiSandbox, test_db: IsolatedDatabase
) -> None:
    async with console_bot(sandbox, test_db, console_url="") as app:
        await join(app, ADA, "Dr Ada")
        sandbox.send_text(ADA, "/console")
        reply = await sandbox.wait_for_message(ADA, "not set up", timeout=10)
        assert not LINK.search(reply["text"])


async def test_a_clinician_of_two_clinics_chooses_and_every_page_names_it(
    sandbox: BotApiSandbox, test_db: IsolatedDatabase
) -> None:
    async with console_bot(sandbox, test_db) as app:
        await join(app, ADA, "Dr Ada", clinic="north")
        await join(app, ADA, "Dr Ada", clinic="south")
        client = httpx.AsyncClient()
        link = await link_for(app, ADA)
        form = await client.get(link)
        guard = GUARD.search(form.text)
        assert guard is not None
        chooser = await client.post(link, data={"guard": guard.group(1)}, follow_redirects=True)
        assert "Choose a clinic" in chooser.text
        assert "North Clinic" in chooser.text and "South Clinic" in chooser.text
        async with app.bot.ctx.db.transaction() as session:
            south = (
                await session.scalars(select(Clinician).where(Clinician.clinic_id == "south"))
            ).one()
        chosen = await client.post(
            f"{app.base}/clinic",
            data={"csrf": csrf_of(chooser.text), "clinician": str(south.id), "next": "/console/"},
            follow_redirects=True,
        )
        assert "Clinic: <strong>South Clinic</strong>" in chosen.text
        # Another person's registration cannot be chosen.
        refused = await client.post(
            f"{app.base}/clinic", data={"csrf": csrf_of(chosen.text), "clinician": "999"}
        )
        assert refused.status_code == 403
        await client.aclose()


async def test_every_refusal_and_error_page_has_a_way_back(
    sandbox: BotApiSandbox, test_db: IsolatedDatabase
) -> None:
    """Signed in: the page is rendered with the viewer (so the navigation shows), back to where
    the form was and to the open cases. Not signed in: how to get a new sign-in link, which
    works without Telegram too (the operator's `aftercare console link`)."""
    async with console_bot(sandbox, test_db) as app:
        await join(app, ADA, "Dr Ada")  # not an admin
        client = await sign_in(app, ADA)
        refused = await client.get(f"{app.base}/export")
        assert refused.status_code == 403 and "Only an admin" in refused.text
        assert f'href="{PREFIX}/" id="open-cases-link"' in refused.text
        assert 'id="back-link"' not in refused.text  # the page that failed is no way back
        assert 'id="new-link"' not in refused.text
        stale = await client.post(f"{app.base}/enroll", data={"csrf": "0" * 64, "ref": "P-9"})
        assert stale.status_code == 403 and "has expired" in stale.text
        assert f'href="{PREFIX}/enroll" id="back-link"' in stale.text  # the form's page
        assert 'id="open-cases-link"' in stale.text
        missing = await client.get(f"{app.base}/patients/NOPE/infusions/1")
        assert missing.status_code == 404
        assert 'id="open-cases-link"' in missing.text
        await client.aclose()
        async with httpx.AsyncClient() as anonymous:
            for lost in (
                await anonymous.get(f"{app.base}/patients"),
                await anonymous.get(f"{app.base}/signin/{'A' * 43}"),
            ):
                assert lost.status_code in (401, 404)
                said = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", html.unescape(lost.text)))
                assert (
                    "send /console to the Aftercare bot in Telegram, or ask your clinic's "
                    "operator to run aftercare console link"
                ) in said, said
                assert 'id="open-cases-link"' not in lost.text
            assert "Please sign in" in (await anonymous.get(f"{app.base}/patients")).text

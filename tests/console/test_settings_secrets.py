"""Secrets in the console: routing keys masked on Settings, its version compare and the contact
page (kept when sent back masked, replaced, removed), the webhook URL only as its host to plain
clinicians; and the webhook's signing secret made, shown once, rotated and its overlap ended
by admins only, audited without the secret."""

from __future__ import annotations

import json
import re

from cryptography.fernet import Fernet
from sqlalchemy import select
from sqlmodel import col

from bot.services.paging.secret_box import SecretBox
from sandbox import BotApiSandbox
from storage.models import AuditEvent, Clinician, WebhookSecret
from storage.states import Level
from tests.auxil.console import ConsoleBot, console_bot, csrf_of, join, sign_in
from tests.auxil.databases import IsolatedDatabase
from tests.auxil.harness import make_clinics
from tests.console.test_settings_routes import FORM, posted

ADMIN, BEN = 7001, 7002
KEY = "R0UTINGKEY0000000000000000001a2b"
HIGH_KEY = "HIGHKEY000000000000000000000c3d4"
HOOK = "https://hooks.example.org/services/T0KEN-IN-THE-PATH?sig=QUERYSECRET"
CLINICS = f"""
[[clinics]]
id = "north"
name = "North Clinic"
timezone = "America/New_York"
contact_phone = "+1 555 0100"
managed_by = "console"

[clinics.paging]
routing_key = "{KEY}"
routing_keys = {{ high = "{HIGH_KEY}" }}
webhook_url = "{HOOK}"

[[clinics]]
id = "south"
name = "South Clinic"
timezone = "Europe/Berlin"
contact_phone = "+49 30 0100"
"""
SECRET_KEY = Fernet.generate_key().decode()
NEW_SECRET = re.compile(r'<pre id="new-secret"><code>(whsec_[A-Za-z0-9_-]{43})</code></pre>')


def _masked(key: str) -> str:
    return "••••••••" + key[-4:]


async def _audit(app: ConsoleBot, prefix: str) -> list[AuditEvent]:
    async with app.bot.ctx.db.transaction() as session:
        rows = await session.scalars(
            select(AuditEvent)
            .where(col(AuditEvent.event).startswith(prefix))
            .order_by(col(AuditEvent.id))
        )
        return list(rows.all())


async def test_a_plain_clinician_never_sees_a_routing_key_or_the_webhooks_path(
    sandbox: BotApiSandbox, test_db: IsolatedDatabase
) -> None:
    async with console_bot(sandbox, test_db, clinics=make_clinics(CLINICS)) as app:
        await join(app, ADMIN, "Admin Ada")
        await join(app, BEN, "Ben")
        ben = await sign_in(app, BEN)
        admin = await sign_in(app, ADMIN)
        csrf = csrf_of((await admin.get(f"{app.base}/settings")).text)
        renamed = await admin.post(  # a second version, so there is a compare page
            f"{app.base}/settings",
            headers=FORM,
            content=posted(
                app.bot.ctx.clinic("north"),
                csrf,
                1,
                action="save",
                name="North, renamed",
                paging__routing_key=_masked(KEY),
                paging__routing_keys__high="NEWHIGHKEY00000000000000000000e5f6",
            ),
        )
        assert renamed.status_code == 303, renamed.text[:500]

        pages = [await ben.get(f"{app.base}/settings")]
        pages.append(await ben.get(f"{app.base}/settings/versions/2"))
        for page in pages:
            assert page.status_code == 200
            for secret in (KEY, HIGH_KEY, "NEWHIGHKEY", "T0KEN", "QUERYSECRET", "/services/"):
                assert secret not in page.text, secret
        settings_page = pages[0].text
        assert f'value="{_masked(KEY)}"' in settings_page
        assert 'value="hooks.example.org"' in settings_page
        assert ("••••••••c3d4" in pages[1].text) and ("••••••••e5f6" in pages[1].text)

        # the admin sees the webhook URL whole, the keys still masked
        shown = (await admin.get(f"{app.base}/settings")).text
        assert KEY not in shown and f'value="{_masked(KEY)}"' in shown
        assert "NEWHIGHKEY" not in shown and 'value="••••••••e5f6"' in shown
        assert HOOK.replace("&", "&amp;") in shown
        compare = (await admin.get(f"{app.base}/settings/versions/2")).text
        assert HIGH_KEY not in compare and "NEWHIGHKEY" not in compare
        for client in (admin, ben):
            await client.aclose()


async def test_an_admin_keeps_replaces_and_removes_a_masked_routing_key(
    sandbox: BotApiSandbox, test_db: IsolatedDatabase
) -> None:
    async with console_bot(sandbox, test_db, clinics=make_clinics(CLINICS)) as app:
        ctx = app.bot.ctx
        await join(app, ADMIN, "Admin Ada")
        admin = await sign_in(app, ADMIN)
        csrf = csrf_of((await admin.get(f"{app.base}/settings")).text)

        def form(version: int, **changes: object) -> str:
            masked = {
                "paging__routing_key": _masked(KEY),
                "paging__routing_keys__high": _masked(HIGH_KEY),
            }
            return posted(ctx.clinic("north"), csrf, version, action="save", **(masked | changes))

        untouched = await admin.post(
            f"{app.base}/settings", headers=FORM, content=form(1, name="North (re-saved)")
        )
        assert untouched.status_code == 303
        assert ctx.clinic("north").name == "North (re-saved)"
        assert ctx.clinic("north").paging.routing_key == KEY  # kept, not "••••••••1a2b"
        assert ctx.clinic("north").paging.routing_keys == {Level.HIGH: HIGH_KEY}

        edited_mask = await admin.post(
            f"{app.base}/settings", headers=FORM, content=form(2, paging__routing_key="••••X1a2b")
        )
        assert edited_mask.status_code == 400
        assert 'id="err-paging-routing_key"' in edited_mask.text
        assert "type the whole new key" in edited_mask.text
        assert KEY not in edited_mask.text

        replaced = await admin.post(
            f"{app.base}/settings",
            headers=FORM,
            content=form(2, paging__routing_key="REPLACEMENTKEY0000000000000009z9z"),
        )
        assert replaced.status_code == 303
        assert ctx.clinic("north").paging.routing_key == "REPLACEMENTKEY0000000000000009z9z"
        after = (await admin.get(f"{app.base}/settings")).text
        assert "REPLACEMENTKEY" not in after and 'value="••••••••9z9z"' in after

        removed = await admin.post(
            f"{app.base}/settings",
            headers=FORM,
            content=form(
                3, paging__routing_key=_masked("x" * 28 + "9z9z"), paging__routing_keys__high=""
            ),
        )
        assert removed.status_code == 303
        assert ctx.clinic("north").paging.routing_key == "REPLACEMENTKEY0000000000000009z9z"
        assert ctx.clinic("north").paging.routing_keys == {}
        await admin.aclose()


async def test_a_clinicians_own_routing_key_is_masked_and_kept(
    sandbox: BotApiSandbox, test_db: IsolatedDatabase
) -> None:
    async with console_bot(sandbox, test_db) as app:
        await join(app, BEN, "Dr Ben")
        async with app.bot.ctx.db.transaction() as session:
            ben = await session.scalar(select(Clinician).where(Clinician.name == "Dr Ben"))
            assert ben is not None
            ben.pager_key = "PDKEY_ben_000000000000000000w7x8"
        client = await sign_in(app, BEN)
        page = await client.get(f"{app.base}/team/{ben.id}/contact")
        assert "PDKEY_ben" not in page.text and 'value="••••••••w7x8"' in page.text
        kept = await client.post(
            f"{app.base}/team/{ben.id}/contact",
            data={"csrf": csrf_of(page.text), "email": "", "pager_key": "••••••••w7x8"},
        )
        assert kept.status_code == 303
        async with app.bot.ctx.db.transaction() as session:
            row = await session.get(Clinician, ben.id, populate_existing=True)
        assert row is not None and row.pager_key == "PDKEY_ben_000000000000000000w7x8"
        await client.aclose()


async def test_an_admin_creates_rotates_and_ends_the_overlap_of_the_signing_secret(
    sandbox: BotApiSandbox, test_db: IsolatedDatabase
) -> None:
    async with console_bot(
        sandbox, test_db, clinics=make_clinics(CLINICS), secret_key=SECRET_KEY
    ) as app:
        await join(app, ADMIN, "Admin Ada")
        await join(app, BEN, "Ben")
        ben, admin = await sign_in(app, BEN), await sign_in(app, ADMIN)
        url = f"{app.base}/settings/signing"

        assert (await ben.get(url)).status_code == 403
        ben_csrf = csrf_of((await ben.get(f"{app.base}/settings")).text)
        refused = await ben.post(url, data={"csrf": ben_csrf, "action": "create", "based_on": "0"})
        assert refused.status_code == 403

        page = await admin.get(url)
        assert page.status_code == 200 and 'id="unsigned"' in page.text
        assert 'id="signing-link"' in (await admin.get(f"{app.base}/settings")).text
        csrf = csrf_of(page.text)
        assert (
            await admin.post(url, data={"action": "create", "based_on": "0"})
        ).status_code == 403

        created = await admin.post(url, data={"csrf": csrf, "action": "create", "based_on": "0"})
        assert created.status_code == 200, created.text[:500]
        first = NEW_SECRET.search(created.text)
        assert first is not None
        again = await admin.get(url)  # shown once: never again
        assert first.group(1) not in again.text
        assert f"whsec_••••••••{first.group(1)[-4:]}" in again.text
        stale = await admin.post(url, data={"csrf": csrf, "action": "create", "based_on": "0"})
        assert stale.status_code == 409  # a second tab, or the page reloaded

        async with app.bot.ctx.db.transaction() as session:
            current = await session.scalar(select(WebhookSecret))
        assert current is not None and current.id is not None
        assert SecretBox([SECRET_KEY]).open(current.sealed) == first.group(1)
        rotated = await admin.post(
            url, data={"csrf": csrf, "action": "create", "based_on": str(current.id)}
        )
        assert rotated.status_code == 200
        second = NEW_SECRET.search(rotated.text)
        assert second is not None and second.group(1) != first.group(1)
        assert 'id="overlap-until"' in rotated.text
        assert 'id="signing-end"' in rotated.text

        ended = await admin.post(url, data={"csrf": csrf, "action": "end_overlap"})
        assert ended.status_code == 303
        after = await admin.get(f"{url}?{ended.headers['location'].partition('?')[2]}")
        assert "no longer signs" in after.text and 'class="retiring"' not in after.text

        events = await _audit(app, "webhook_secret.")
        assert [e.event for e in events] == [
            "webhook_secret.created",
            "webhook_secret.rotated",
            "webhook_secret.overlap_ended",
        ]
        assert {str(e.actor) for e in events} == {events[0].actor} and "clinician:" in events[
            0
        ].actor
        for event in events:
            detail = json.loads(event.detail)
            assert event.clinic_id == "north"
            assert first.group(1) not in event.detail and second.group(1) not in event.detail
            assert set(detail) <= {"id", "replaced", "replaced_until", "ended"}
        for client in (admin, ben):
            await client.aclose()


async def test_without_a_secret_key_the_console_says_how_to_set_it(
    sandbox: BotApiSandbox, test_db: IsolatedDatabase
) -> None:
    async with console_bot(sandbox, test_db, clinics=make_clinics(CLINICS)) as app:
        await join(app, ADMIN, "Admin Ada")
        admin = await sign_in(app, ADMIN)
        url = f"{app.base}/settings/signing"
        page = await admin.get(url)
        assert 'id="no-key"' in page.text and "AFTERCARE_SECRET_KEY" in page.text
        assert 'id="signing-new"' not in page.text
        refused = await admin.post(
            url, data={"csrf": csrf_of(page.text), "action": "create", "based_on": "0"}
        )
        assert refused.status_code == 503 and "AFTERCARE_SECRET_KEY" in refused.text
        assert await _audit(app, "webhook_secret.") == []
        await admin.aclose()

"""Request bodies bounded while they stream, before any parsing, on every route family; the
session checked before a form is read; Secure on every cookie header under https (issue 25).

Memory is measured with tracemalloc around each request: the bot runs in this process, so its
Python heap's peak during the upload shows what the server held of the body."""

from __future__ import annotations

import tracemalloc
from collections.abc import AsyncIterator

import httpx
import pytest

from bot.console.ack import _cookie as ack_guard_cookie
from bot.console.limits import BODY_LIMITS, DEFAULT_BODY_LIMIT, body_limit, redact_path
from sandbox import BotApiSandbox
from tests.auxil.console import GUARD, console_bot, csrf_of, join, link_for, sign_in
from tests.auxil.databases import IsolatedDatabase

ADA = 7001
MIB = 1024 * 1024
UPLOAD_MIB = 24
HEAP_BOUND = 4 * MIB  # what a request may add to the heap's peak while it is refused
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


async def _fields(mib: int) -> AsyncIterator[bytes]:
    """`mib` form fields of 1 MiB each, 64 KiB a chunk, sent chunked."""
    for field in range(mib):
        yield b"&f%d=" % field if field else b"f0="
        for _ in range(16):
            yield b"x" * (64 * 1024)


async def _post_oversized(
    client: httpx.AsyncClient, url: str, headers: dict[str, str]
) -> tuple[httpx.Response, int]:
    """POST a chunked body of UPLOAD_MIB MiB; the answer and the heap's peak growth."""
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        answer = await client.post(url, content=_fields(UPLOAD_MIB), headers={**FORM, **headers})
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    return answer, peak


def test_each_route_family_has_its_limit() -> None:
    assert body_limit("/signin/abc") == body_limit("/ack/abc") == 4 * 1024
    assert body_limit("/roster/rotation") == 128 * 1024
    assert body_limit("/team/invite") == body_limit("/settings") == DEFAULT_BODY_LIMIT
    assert all(limit < MIB for _, limit in BODY_LIMITS)


def test_tokens_are_taken_out_of_logged_paths() -> None:
    assert redact_path("/console/ack/AbC-_123") == "/console/ack/<token>"
    assert redact_path("/console/signin/xyz/extra") == "/console/signin/<token>/extra"
    assert redact_path("/console/cases/12") == "/console/cases/12"


@pytest.mark.parametrize(
    ("path", "cookie", "status"),
    [
        ("/team/invite", "aftercare_console=forged", 401),
        ("/team/invite", None, 401),
        ("/roster/rotation", "aftercare_console=forged", 401),
        ("/roster/rotation", None, 401),
        ("/settings", "aftercare_console=forged", 401),
        ("/signin/forged-link", "aftercare_signin=forged", 413),
        ("/signin/forged-link", None, 403),
        ("/ack/forged-link", f"{ack_guard_cookie('forged-link')}=forged", 413),
        ("/ack/forged-link", None, 403),
    ],
)
async def test_an_oversized_chunked_body_is_refused_before_it_is_held(
    sandbox: BotApiSandbox,
    test_db: IsolatedDatabase,
    path: str,
    cookie: str | None,
    status: int,
) -> None:
    async with console_bot(sandbox, test_db) as app, httpx.AsyncClient(timeout=60) as client:
        headers = {"Cookie": cookie} if cookie else {}
        answer, peak = await _post_oversized(client, f"{app.base}{path}", headers)
    assert answer.status_code == status, answer.text[:300]
    assert peak < HEAP_BOUND, f"the server held {peak / MIB:.1f} MiB of a refused body"


async def test_a_signed_in_oversized_form_gets_413_and_nothing_changes(
    sandbox: BotApiSandbox, test_db: IsolatedDatabase
) -> None:
    async with console_bot(sandbox, test_db) as app:
        await join(app, ADA, "Admin Ada")
        client = await sign_in(app, ADA)
        try:
            team = await client.get(f"{app.base}/team")
            csrf = csrf_of(team.text)
            answer, peak = await _post_oversized(
                client, f"{app.base}/team/invite", {"X-CSRF-Token": csrf}
            )
            assert answer.status_code == 413 and "too large" in answer.text
            assert peak < HEAP_BOUND
            declared = await client.post(  # a declared length over the limit: not read at all
                f"{app.base}/team/invite",
                content=b"name=" + b"x" * (DEFAULT_BODY_LIMIT + 10),
                headers={**FORM, "X-CSRF-Token": csrf},
            )
            assert declared.status_code == 413
            after = await client.get(f"{app.base}/team")
            assert after.status_code == 200 and after.text.count("<tr") == team.text.count("<tr")
        finally:
            await client.aclose()


async def test_every_cookie_header_is_secure_under_an_https_console(
    sandbox: BotApiSandbox, test_db: IsolatedDatabase
) -> None:
    """Behind a TLS proxy (X-Forwarded-Proto: https): setting and deleting alike."""
    https = {"X-Forwarded-Proto": "https"}
    async with console_bot(sandbox, test_db, trust_forwarded=True) as app:
        await join(app, ADA, "Dr Ada")
        link = await link_for(app, ADA)
        async with httpx.AsyncClient(timeout=10, headers=https) as browser:
            form = await browser.get(link)
            guard = ack_fields_guard(form.text)
            signed = await browser.post(
                link, data={"guard": guard}, headers={"Cookie": f"aftercare_signin={guard}"}
            )
            assert signed.status_code == 303
            set_on_sign_in = signed.headers.get_list("set-cookie")
            session = next(
                h.split(";")[0].split("=", 1)[1]
                for h in set_on_sign_in
                if h.startswith("aftercare_console=")
            )
            cookie = {"Cookie": f"aftercare_console={session}"}
            home = await browser.get(f"{app.base}/", headers=cookie)
            out = await browser.post(
                f"{app.base}/signout", data={"csrf": csrf_of(home.text)}, headers=cookie
            )
        assert out.status_code == 200, out.text[:300]
        headers = [*form.headers.get_list("set-cookie"), *set_on_sign_in]
        headers += out.headers.get_list("set-cookie")
        deletions = [h for h in headers if "Max-Age=0" in h or "expires=Thu, 01 Jan 1970" in h]
        assert len(deletions) >= 3, headers  # the sign-in guard, the next page, the session
        assert all("; Secure" in h or "; secure" in h for h in headers), headers


def ack_fields_guard(html: str) -> str:
    match = GUARD.search(html)
    assert match, html[:300]
    return match.group(1)

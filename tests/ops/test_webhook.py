"""Webhook mode, /healthz and the dead-man's heartbeat, over real HTTP against the sandbox."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import tornado.httpserver
import tornado.netutil
import tornado.web
from sqlalchemy import select

from bot.clock import OffsetClock
from bot.intake import inbox as intake_inbox
from bot.ops.health import check_health, heartbeat
from bot.ops.webhook import SECRET_HEADER
from sandbox import BotApiSandbox
from storage import inbox
from storage.engine import Database
from storage.inbox import Arrival
from storage.models import InboundUpdate
from storage.states import InboxStatus
from tests.auxil.databases import TEST_DATA_KEY, IsolatedDatabase
from tests.auxil.harness import (
    TOKEN,
    RunningBot,
    free_port,
    running_bot,
    webhook_bot,
)
from tests.auxil.harness import WEBHOOK_SECRET as SECRET

AFTERCARE = Path(sys.executable).parent / "aftercare"
STRANGER = 5001

MINIMAL_CLINIC = """\
[[clinics]]
id = "north"
name = "North Clinic"
timezone = "Europe/London"
contact_phone = "+44 1"
"""


@asynccontextmanager
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=10.0, trust_env=False) as http:
        yield http


async def until(probe: Callable[[], Any], timeout: float = 10.0) -> Any:  # noqa: ASYNC109
    deadline = time.monotonic() + timeout
    while True:
        result = probe()
        if result or time.monotonic() > deadline:
            return result
        await asyncio.sleep(0.05)


async def healthy_response(url: str, timeout: float = 10.0) -> httpx.Response:  # noqa: ASYNC109
    """GET /healthz until it says 200 (the dispatcher's first tick may not have happened)."""
    deadline = time.monotonic() + timeout
    async with client() as http:
        while True:
            response = await http.get(url)
            if response.status_code == 200 or time.monotonic() > deadline:
                return response
            await asyncio.sleep(0.05)


def help_update(update_id: int, user_id: int = STRANGER) -> dict[str, Any]:
    return {
        "update_id": update_id,
        "message": {
            "message_id": update_id,
            "date": int(time.time()),
            "text": "/help",
            "chat": {"id": user_id, "type": "private", "first_name": "S"},
            "from": {"id": user_id, "is_bot": False, "first_name": "S"},
            "entities": [{"type": "bot_command", "offset": 0, "length": 5}],
        },
    }


async def processed_ids(bot: RunningBot) -> set[int]:
    async with bot.ctx.db.transaction() as session:
        return set(
            (
                await session.scalars(
                    select(InboundUpdate.update_id).where(InboundUpdate.status == InboxStatus.DONE)
                )
            ).all()
        )


# ---------------------------------------------------------------- webhook mode


async def test_webhook_mode_answers_help_and_leaves_the_webhook_set(
    sandbox: BotApiSandbox, test_db: IsolatedDatabase
) -> None:
    async with webhook_bot(sandbox, test_db) as (_bot, url):
        call = sandbox.calls_to("setWebhook")[-1]
        assert call.params["url"] == url
        assert call.params["secret_token"] == SECRET
        assert sandbox.webhook_secret == SECRET
        sandbox.send_text(STRANGER, "/help")
        reply = await sandbox.wait_for_message(STRANGER, "988", timeout=10)
        assert "not an emergency service" in reply["text"]
        sandbox.send_text(STRANGER, "/crisis")
        await sandbox.wait_for_message(STRANGER, "741741", after=reply["message_id"])
        assert not sandbox.calls_to("getUpdates")
        assert all(a.error is None for a in sandbox.state.webhook_attempts)
    assert not sandbox.calls_to("deleteWebhook")  # other instances keep receiving
    assert sandbox.webhook_url == url


async def test_an_update_already_held_is_processed_as_first_stored_not_as_delivered_again(
    sandbox: BotApiSandbox, test_db: IsolatedDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A delivery of an update the inbox already holds (an instance stored it, leased it and
    died) stores nothing new. The instance it reaches claims the held update and processes the
    copy first stored, not the one in hand (the intake reuses its own reading only when the
    stored payload is what it stored)."""
    monkeypatch.setattr(intake_inbox, "IDLE_LOOK_SECONDS", 60.0)  # only the intake claims it
    sandbox.add_user(STRANGER)
    clock = OffsetClock()
    first = help_update(900010)
    first["message"]["text"] = "hello"  # a stranger's words: told how to join, no card
    del first["message"]["entities"]
    sandbox.add_user(STRANGER + 1)
    async with webhook_bot(sandbox, test_db, clock=clock) as (bot, url), client() as http:
        # Another chat's update first: the worker has looked once and now waits a minute.
        warm = await http.post(
            url, json=help_update(900009, STRANGER + 1), headers={SECRET_HEADER: SECRET}
        )
        assert warm.status_code == 200
        await sandbox.wait_for_message(STRANGER + 1, "988", timeout=10)
        now = clock.now()
        async with bot.ctx.db.transaction() as session:
            await inbox.store(
                session, [Arrival(900010, STRANGER, json.dumps(first), seen_at=now)], now=now
            )
            dead = now + timedelta(minutes=1)
            assert await inbox.claim_one(
                session, update_id=900010, now=now, owner="gone", lease_until=dead
            )
        clock.offset = timedelta(minutes=2)  # the dead instance's lease has run out
        again = await http.post(url, json=help_update(900010), headers={SECRET_HEADER: SECRET})
        assert again.status_code == 200
        await sandbox.wait_for_message(STRANGER, "only works with an invite", timeout=10)
        assert [m["text"] for m in sandbox.chat(STRANGER) if "988" in m["text"]] == []  # no /help


async def test_a_post_without_the_right_secret_is_refused_and_not_processed(
    sandbox: BotApiSandbox, test_db: IsolatedDatabase
) -> None:
    sandbox.add_user(STRANGER)
    async with webhook_bot(sandbox, test_db) as (bot, url), client() as http:
        wrong = await http.post(
            url, json=help_update(900001), headers={SECRET_HEADER: SECRET + "x"}
        )
        missing = await http.post(url, json=help_update(900002))
        empty = await http.post(url, json=help_update(900003), headers={SECRET_HEADER: ""})
        assert (wrong.status_code, missing.status_code, empty.status_code) == (403, 403, 403)
        right = await http.post(url, json=help_update(900004), headers={SECRET_HEADER: SECRET})
        assert right.status_code == 200
        await sandbox.wait_for_message(STRANGER, "988", timeout=10)
        await asyncio.sleep(0.3)  # time enough for a wrongly accepted update to be answered
        assert len(sandbox.chat(STRANGER)) == 1
        ids = await processed_ids(bot)
        assert 900004 in ids
        assert not ids & {900001, 900002, 900003}


async def test_malformed_and_oversized_bodies_are_rejected(
    sandbox: BotApiSandbox, test_db: IsolatedDatabase
) -> None:
    sandbox.add_user(STRANGER)
    headers = {SECRET_HEADER: SECRET, "Content-Type": "application/json"}
    async with webhook_bot(sandbox, test_db) as (bot, url), client() as http:
        assert (await http.post(url, content=b"{not json", headers=headers)).status_code == 400
        assert (await http.post(url, content=b"[1, 2]", headers=headers)).status_code == 400
        assert (await http.post(url, content=b"\xff\xfe", headers=headers)).status_code == 400
        assert (await http.get(url)).status_code == 405
        huge = json.dumps(help_update(900010) | {"padding": "x" * (2 * 1024 * 1024)})
        try:
            response = await http.post(url, content=huge, headers=headers)
        except httpx.HTTPError:
            pass  # the server may hang up while the client is still sending
        else:
            assert response.status_code == 413  # Payload Too Large, never read whole
        # Still serving, and none of the above reached a handler.
        ok = await http.post(url, json=help_update(900011), headers=headers)
        assert ok.status_code == 200
        await sandbox.wait_for_message(STRANGER, "988", timeout=10)
        for _ in range(100):  # marked processed just after its reply went out
            if await processed_ids(bot):
                break
            await asyncio.sleep(0.05)
        assert await processed_ids(bot) == {900011}


# ---------------------------------------------------------------- /healthz


async def test_healthz_reports_database_and_dispatcher(
    sandbox: BotApiSandbox,
    test_db: IsolatedDatabase,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async with webhook_bot(sandbox, test_db) as (bot, url):
        health = url.replace("/telegram", "/healthz")
        response = await healthy_response(health)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["status"] == "ok"
        assert body["database"] == "ok" and body["dispatcher"] == "ok"
        assert body["instance"] == bot.ctx.instance_id
        assert 0 <= body["last_tick_age_s"] < 5.6
        assert SECRET not in response.text and TOKEN not in response.text

        # The database becomes unreachable: 503, naming the database.
        good_db = bot.ctx.db
        bad_db = Database(f"sqlite+aiosqlite:///{tmp_path / 'gone' / 'missing.db'}")
        monkeypatch.setattr(bot.ctx, "db", bad_db)
        try:
            async with client() as http:
                response = await http.get(health)
            assert response.status_code == 503, response.text
            body = response.json()
            assert body["status"] == "failing"
            assert body["database"] == "unreachable"
            assert "database" in body["failing"]
        finally:
            monkeypatch.setattr(bot.ctx, "db", good_db)
            await bad_db.dispose()
        for _ in range(300):  # the intake, too, finds the database again
            if (await check_health(bot.ctx)).healthy:
                break
            await asyncio.sleep(0.05)
        assert (await healthy_response(health)).status_code == 200

        # The dispatcher stops ticking: 503, naming the dispatcher.
        dispatcher = bot.ctx.dispatcher
        assert dispatcher is not None

        async def stuck() -> None:
            await asyncio.sleep(0)

        monkeypatch.setattr(dispatcher, "tick", stuck)
        await asyncio.sleep(0.3)  # a tick already running finishes
        assert dispatcher.last_tick_at is not None
        dispatcher.last_tick_at -= timedelta(seconds=30)
        async with client() as http:
            response = await http.get(health)
        assert response.status_code == 503, response.text
        body = response.json()
        assert body["dispatcher"] == "stalled" and body["database"] == "ok"
        assert body["failing"] == ["dispatcher"]
        assert body["last_tick_age_s"] >= 30


async def test_polling_mode_serves_healthz_on_the_health_port(
    sandbox: BotApiSandbox, test_db: IsolatedDatabase
) -> None:
    port = free_port()
    async with running_bot(sandbox, test_db, health_port=port, webhook_listen="127.0.0.1"):
        base = f"http://127.0.0.1:{port}"
        response = await healthy_response(f"{base}/healthz")
        assert response.status_code == 200, response.text
        assert response.json()["dispatcher"] == "ok"
        async with client() as http:
            # No webhook endpoint in polling mode.
            assert (await http.post(f"{base}/telegram", json=help_update(1))).status_code == 404
        sandbox.send_text(STRANGER, "/help")
        await sandbox.wait_for_message(STRANGER, "988")
        assert not sandbox.calls_to("setWebhook")
        async with client() as http:
            metrics = await http.get(f"{base}/metrics")
        assert metrics.status_code == 200
        assert metrics.headers["content-type"].startswith("text/plain")
        for name in (
            "aftercare_checkins_due",
            "aftercare_escalations_open",
            "aftercare_dispatcher_lag_seconds",
            "aftercare_send_errors",
        ):
            assert name in metrics.text


# ---------------------------------------------------------------- heartbeat


@asynccontextmanager
async def heartbeat_monitor() -> AsyncIterator[tuple[str, list[float]]]:
    """A tiny monitoring endpoint: yields its URL and the times it was requested."""
    hits: list[float] = []

    class Ping(tornado.web.RequestHandler):
        def get(self) -> None:
            hits.append(time.monotonic())
            self.finish("OK")

    sockets = tornado.netutil.bind_sockets(0, "127.0.0.1")
    server = tornado.httpserver.HTTPServer(
        tornado.web.Application([(r"/ping/abc", Ping)], log_function=lambda _h: None)
    )
    server.add_sockets(sockets)
    try:
        yield f"http://127.0.0.1:{sockets[0].getsockname()[1]}/ping/abc", hits
    finally:
        server.stop()
        await server.close_all_connections()


async def test_heartbeat_calls_the_monitor_while_healthy(
    sandbox: BotApiSandbox,
    test_db: IsolatedDatabase,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with (
        heartbeat_monitor() as (url, hits),
        running_bot(sandbox, test_db, heartbeat_url=url, heartbeat_interval_seconds=0.5) as bot,
    ):
        assert await until(lambda: len(hits) >= 2, timeout=10), hits
        assert hits[1] - hits[0] >= 0.3

        # Unhealthy (database unreachable): no heartbeat, and no exception.
        good_db = bot.ctx.db
        bad_db = Database(f"sqlite+aiosqlite:///{tmp_path / 'gone' / 'missing.db'}")
        monkeypatch.setattr(bot.ctx, "db", bad_db)
        try:
            await asyncio.sleep(0.6)  # a heartbeat already in flight lands
            before = len(hits)
            assert await heartbeat(bot.ctx) is False
            await asyncio.sleep(1.1)
            assert len(hits) == before
        finally:
            monkeypatch.setattr(bot.ctx, "db", good_db)
            await bad_db.dispose()
        for _ in range(300):  # the intake, too, finds the database again
            if (await check_health(bot.ctx)).healthy:
                break
            await asyncio.sleep(0.05)

        # The monitor is down: a warning, never an exception; the URL is not logged.
        closed = f"http://127.0.0.1:{free_port()}/ping/abc"
        monkeypatch.setattr(
            bot.ctx, "settings", bot.ctx.settings.model_copy(update={"heartbeat_url": closed})
        )
        caplog.clear()
        assert await heartbeat(bot.ctx) is False
        assert "heartbeat.failed" in caplog.text
        assert "/ping/abc" not in caplog.text


# ---------------------------------------------------------------- the CLI


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AFTERCARE_")}
    env["AFTERCARE_DATA_KEY"] = TEST_DATA_KEY
    env["AFTERCARE_DATABASE_URL"] = f"sqlite+aiosqlite:///{tmp_path}/a.db"
    env["AFTERCARE_CONFIG"] = str(tmp_path / "clinic.toml")
    env.update(extra)
    return env


async def _cli(tmp_path: Path, *args: str, **extra: str) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        str(AFTERCARE),
        *args,
        cwd=tmp_path,
        env=_env(tmp_path, **extra),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    assert proc.returncode is not None
    return proc.returncode, err.decode()


def _one_error_line(stderr: str) -> str:
    assert "Traceback" not in stderr, stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("aftercare: error:"), lines[0]
    return lines[0]


async def test_cli_webhook_without_a_secret_exits_2(tmp_path: Path) -> None:
    (tmp_path / "clinic.toml").write_text(MINIMAL_CLINIC, encoding="utf-8")
    code, err = await _cli(
        tmp_path,
        "run",
        "--webhook-url",
        "https://bot.example.org/telegram",
        AFTERCARE_TELEGRAM_TOKEN=TOKEN,
        AFTERCARE_TELEGRAM_API_URL="http://127.0.0.1:1",
    )
    assert code == 2, err
    assert "AFTERCARE_WEBHOOK_SECRET" in _one_error_line(err)
    assert not (tmp_path / "a.db").exists()  # refused before touching the database


async def test_cli_rejects_a_malformed_secret_and_url(tmp_path: Path) -> None:
    (tmp_path / "clinic.toml").write_text(MINIMAL_CLINIC, encoding="utf-8")
    code, err = await _cli(
        tmp_path,
        "run",
        AFTERCARE_TELEGRAM_TOKEN=TOKEN,
        AFTERCARE_WEBHOOK_URL="https://bot.example.org/telegram",
        AFTERCARE_WEBHOOK_SECRET="has spaces!",
    )
    assert code == 2, err
    line = _one_error_line(err)
    assert "AFTERCARE_WEBHOOK_SECRET" in line and "has spaces" not in line
    code, err = await _cli(
        tmp_path,
        "run",
        "--webhook-url",
        "bot.example.org/telegram",
        AFTERCARE_TELEGRAM_TOKEN=TOKEN,
        AFTERCARE_WEBHOOK_SECRET=SECRET,
    )
    assert code == 2, err
    assert "--webhook-url" in _one_error_line(err)


@pytest.mark.slow
async def test_cli_run_in_webhook_mode_end_to_end(sandbox: BotApiSandbox, tmp_path: Path) -> None:
    """The real `aftercare run --webhook-url` process, at DEBUG, never logs the secret."""
    (tmp_path / "clinic.toml").write_text(MINIMAL_CLINIC, encoding="utf-8")
    port = free_port()
    url = f"http://127.0.0.1:{port}/hook"
    proc = await asyncio.create_subprocess_exec(
        str(AFTERCARE),
        "run",
        "--webhook-url",
        url,
        "--listen",
        "127.0.0.1",
        "--port",
        str(port),
        cwd=tmp_path,
        env=_env(
            tmp_path,
            AFTERCARE_TELEGRAM_TOKEN=TOKEN,
            AFTERCARE_TELEGRAM_API_URL=sandbox.url,
            AFTERCARE_WEBHOOK_SECRET=SECRET,
            AFTERCARE_WEBHOOK_PATH="/hook",
            AFTERCARE_LOG_LEVEL="DEBUG",
            AFTERCARE_DISPATCH_INTERVAL_SECONDS="0.2",
        ),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        await sandbox.wait_for_call("setWebhook", timeout=30)
        sandbox.send_text(STRANGER, "/help")
        await sandbox.wait_for_message(STRANGER, "988", timeout=15)
        response = await healthy_response(f"http://127.0.0.1:{port}/healthz")
        assert response.status_code == 200, response.text
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
        _out, err_bytes = await asyncio.wait_for(proc.communicate(), timeout=30)
    err = err_bytes.decode()
    assert proc.returncode == 0, err
    assert "mode=webhook" in err
    assert SECRET not in err
    assert TOKEN not in err
    assert not sandbox.calls_to("deleteWebhook")

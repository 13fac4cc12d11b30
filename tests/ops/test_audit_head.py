"""Publishing the audit chain's head: the log line, the head file, the metrics."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.ops.audit_head import PublishedHead, publish_head, read_last
from bot.ops.metrics import Metrics
from bot.settings import Settings
from storage import audit
from storage.engine import Database
from storage.states import Actor, ActorKind

CLI = Actor.of(ActorKind.CLI)

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
LOGGER = "bot.ops.audit_head"


async def _append(db: Database, count: int) -> audit.Head:
    async with db.transaction() as session:
        for i in range(count):
            await audit.append(session, at=NOW, actor=CLI, event="e", detail={"i": i})
        head = await audit.head(session)
    assert head is not None
    return head


def _settings(head_file: Path | None) -> Settings:
    return Settings(_env_file=None, audit_head_file=head_file)


async def test_publish_logs_and_appends_a_durable_line(
    db: Database, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    head_file = tmp_path / "not" / "yet" / "there" / "audit-head.log"
    settings = _settings(head_file)

    empty = await publish_head(db, settings, now=NOW)
    head = await _append(db, 4)
    later = NOW + timedelta(hours=1, microseconds=5)
    published = await publish_head(db, settings, now=later.astimezone())

    assert empty == PublishedHead(at=NOW, id=0, hash=audit.GENESIS)
    assert published == PublishedHead(at=later, id=4, hash=head.hash)
    assert head_file.read_text(encoding="utf-8") == (
        f"2026-12-01T09:00:00+00:00 0 {audit.GENESIS}\n"
        f"2026-12-01T10:00:00.000005+00:00 4 {head.hash}\n"
    )
    assert read_last(head_file) == published
    messages = [r.getMessage() for r in caplog.records if r.name == LOGGER]
    assert messages == [
        f"audit.head id=0 hash={audit.GENESIS}",
        f"audit.head id=4 hash={head.hash}",
    ]
    assert all(r.levelno == logging.INFO for r in caplog.records if r.name == LOGGER)


async def test_publish_without_a_file_only_logs(
    db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    head = await _append(db, 2)
    published = await publish_head(db, _settings(None))
    assert (published.id, published.hash) == (2, head.hash)
    assert published.at.tzinfo is not None
    assert f"audit.head id=2 hash={head.hash}" in caplog.text


async def test_an_unwritable_head_file_is_logged_not_raised(
    db: Database, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    (tmp_path / "blocker").write_text("a file, not a folder", encoding="utf-8")
    head_file = tmp_path / "blocker" / "audit-head.log"
    published = await publish_head(db, _settings(head_file), now=NOW)
    assert published.id == 0
    errors = [r for r in caplog.records if r.levelno == logging.ERROR and r.name == LOGGER]
    assert len(errors) == 1
    assert errors[0].getMessage().startswith(f"audit.head_file_failed path={head_file} error=")


def test_the_setting(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("AFTERCARE_AUDIT_HEAD_FILE", "")
    assert Settings(_env_file=None).audit_head_file is None
    monkeypatch.setenv("AFTERCARE_AUDIT_HEAD_FILE", str(tmp_path / "h.log"))
    assert Settings(_env_file=None).audit_head_file == tmp_path / "h.log"


async def test_metrics_show_the_head(db: Database) -> None:
    metrics = Metrics()
    empty = (await metrics.render(db, now=NOW, last_tick_at=NOW)).decode()
    assert "aftercare_audit_head_id 0.0" in empty
    assert f'aftercare_audit_head_info{{hash="{audit.GENESIS}"}} 1.0' in empty

    head = await _append(db, 3)
    text = (await metrics.render(db, now=NOW, last_tick_at=NOW)).decode()
    assert "aftercare_audit_head_id 3.0" in text
    assert f'aftercare_audit_head_info{{hash="{head.hash}"}} 1.0' in text
    assert audit.GENESIS not in text  # only the current head is labelled

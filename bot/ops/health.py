"""Health: is the database answering, can updates be stored, is the dispatcher ticking?
Served as `GET /healthz` (beside `GET /metrics`), and used by the dead-man's heartbeat, which
only calls out while every part is fine."""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy import text
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from bot.context import AppContext
from bot.ops.metrics import CONTENT_TYPE

log = logging.getLogger(__name__)

DB_CHECK_TIMEOUT = 5.0
HEARTBEAT_TIMEOUT = 10.0
STALL_GRACE_SECONDS = 5.0
OK = "ok"


@dataclass(frozen=True)
class HealthReport:
    """One look at the instance; `healthy` only when every part says "ok"."""

    database: str
    dispatcher: str
    last_tick_age_s: float | None
    instance: str
    intake: str = OK  # "ok", or why updates cannot be stored or processed right now

    @property
    def parts(self) -> tuple[tuple[str, str], ...]:
        return (
            ("database", self.database),
            ("intake", self.intake),
            ("dispatcher", self.dispatcher),
        )

    @property
    def healthy(self) -> bool:
        return all(state == OK for _, state in self.parts)

    @property
    def failing(self) -> list[str]:
        return [name for name, state in self.parts if state != OK]

    def as_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "status": OK if self.healthy else "failing",
            "database": self.database,
            "intake": self.intake,
            "dispatcher": self.dispatcher,
            "last_tick_age_s": self.last_tick_age_s,
            "instance": self.instance,
        }
        if not self.healthy:
            body["failing"] = self.failing
        return body


def stall_after_seconds(ctx: AppContext) -> float:
    """A dispatcher that has not finished a tick for this long is stalled (or dead)."""
    return 3 * ctx.settings.dispatch_interval_seconds + STALL_GRACE_SECONDS


async def database_state(ctx: AppContext) -> str:
    """ "ok" when `SELECT 1` answers within a few seconds, else "unreachable"."""
    try:
        async with asyncio.timeout(DB_CHECK_TIMEOUT), ctx.db.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
    except Exception as exc:  # any failure means "not reachable"; details stay in the log
        log.debug("health.database_failed error=%s", type(exc).__name__)
        return "unreachable"
    return OK


def dispatcher_state(ctx: AppContext) -> tuple[str, float | None]:
    """ "ok" when the last tick finished recently; its age in seconds (None: never ticked)."""
    dispatcher = ctx.dispatcher
    if dispatcher is None or dispatcher.last_tick_at is None:
        return "not started", None
    age = max(0.0, (ctx.clock.now() - dispatcher.last_tick_at).total_seconds())
    return (OK if age <= stall_after_seconds(ctx) else "stalled"), round(age, 3)


def intake_state(ctx: AppContext) -> str:
    """ "ok" unless the last try to store or process an update failed on the database (a
    SQLite file locked past its busy timeout or full answers `SELECT 1` but stores nothing)."""
    state = ctx.intake
    if state.failing_since is None:
        return OK
    return f"cannot store updates since {state.failing_since:%H:%M:%S} UTC: {state.problem}"


async def check_health(ctx: AppContext) -> HealthReport:
    """The database, the intake and the dispatcher, as `/healthz` and the heartbeat see them."""
    dispatcher, age = dispatcher_state(ctx)
    database = await database_state(ctx)
    return HealthReport(
        database=database,
        dispatcher=dispatcher,
        last_tick_age_s=age,
        instance=ctx.instance_id,
        intake=intake_state(ctx),
    )


HEALTH_PATH = "/healthz"
METRICS_PATH = "/metrics"


def health_routes(ctx: AppContext, monitor: HealthMonitor) -> list[Route]:
    """`GET /healthz` (200 and the report when healthy, else 503 naming the failing part) and
    `GET /metrics` (Prometheus exposition, queue gauges read from the database)."""

    async def healthz(request: Request) -> Response:
        report = await check_health(ctx)
        monitor.observe(report)
        return Response(
            json.dumps(report.as_json()),
            status_code=200 if report.healthy else 503,
            media_type="application/json",
            headers={"Cache-Control": "no-store"},
        )

    async def metrics(request: Request) -> Response:
        dispatcher = ctx.dispatcher
        try:
            body = await ctx.metrics.render(
                ctx.db,
                now=ctx.clock.now(),
                last_tick_at=dispatcher.last_tick_at if dispatcher else None,
            )
        except Exception:
            log.exception("metrics.render_failed")
            return PlainTextResponse("database unavailable\n", status_code=503)
        return Response(body, headers={"Content-Type": CONTENT_TYPE})

    return [
        Route(HEALTH_PATH, healthz, methods=["GET"], name="healthz"),
        Route(METRICS_PATH, metrics, methods=["GET"], name="metrics"),
    ]


class HealthMonitor:
    """Logs when health changes (not on every probe), so a failing part is in the log once."""

    def __init__(self) -> None:
        self._failing: list[str] | None = None

    def observe(self, report: HealthReport) -> None:
        failing = report.failing
        if failing == self._failing:
            return
        if failing:
            log.warning(
                "health.failing instance=%s database=%s intake=%s dispatcher=%s last_tick_age_s=%s",
                report.instance,
                report.database,
                report.intake,
                report.dispatcher,
                report.last_tick_age_s,
            )
        elif self._failing is not None:
            log.info("health.recovered instance=%s", report.instance)
        self._failing = failing


async def heartbeat(ctx: AppContext, monitor: HealthMonitor | None = None) -> bool:
    """GET the heartbeat URL if this instance is healthy; True if the monitor said 2xx.

    Never raises: a missed heartbeat is the monitor's business, not a reason to stop.
    The URL itself is never logged (monitoring URLs often embed a secret check id).
    """
    url = ctx.settings.heartbeat_url
    if url is None:
        return False
    try:
        report = await check_health(ctx)
        if monitor is not None:
            monitor.observe(report)
        if not report.healthy:
            log.warning(
                "heartbeat.skipped instance=%s failing=%s",
                ctx.instance_id,
                ",".join(report.failing),
            )
            return False
        async with httpx.AsyncClient(timeout=HEARTBEAT_TIMEOUT) as client:
            response = await client.get(url)
        if not response.is_success:
            log.warning(
                "heartbeat.failed instance=%s status=%d", ctx.instance_id, response.status_code
            )
            return False
        log.debug("heartbeat.sent instance=%s", ctx.instance_id)
        return True
    except Exception as exc:
        log.warning("heartbeat.failed instance=%s error=%s", ctx.instance_id, type(exc).__name__)
        return False

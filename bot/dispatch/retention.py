"""The nightly retention run (issue 31; `[clinics.retention] run_at`, clinic-local, default
03:30): once a day per clinic across every instance (`services/clinic/retention.nightly`
claims it), in a task of its own so a long run never holds a page back."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

from bot.clinic_config import ClinicConfig
from bot.context import AppContext
from bot.dispatch.digest import due_day
from bot.services.clinic.retention import nightly
from storage.states import DISPATCHER

log = logging.getLogger(__name__)


def day_began(day: str, zone: ZoneInfo) -> datetime:
    """When the clinic-local date `day` began, in UTC."""
    return datetime.combine(datetime.fromisoformat(day).date(), time(0), tzinfo=zone).astimezone(
        UTC
    )


class NightlyRetention:
    """Starts each clinic's run once its time has come; remembers the day it last started."""

    def __init__(self, ctx: AppContext) -> None:
        self.ctx = ctx
        self.done: dict[str, str] = {}  # clinic id -> local date started (here or elsewhere)
        self.running: asyncio.Task[None] | None = None

    def start_due(self, now: datetime) -> None:
        """From the dispatcher's round: start the runs now due, unless a run is still going."""
        if self.running is not None and not self.running.done():
            return
        due = self.due(now)
        if due:
            self.running = asyncio.create_task(self.run(due, now), name="retention")

    def due(self, now: datetime) -> list[tuple[ClinicConfig, str]]:
        """The clinics whose run for today has come and was not started here; marks them."""
        found = []
        for clinic in self.ctx.clinics.clinics:
            if not clinic.retention.active:
                continue
            day = due_day(now, at=clinic.retention.run_at, zone=clinic.zone)
            if day is not None and self.done.get(clinic.id) != day:
                self.done[clinic.id] = day
                found.append((clinic, day))
        return found

    async def run(self, due: list[tuple[ClinicConfig, str]], now: datetime) -> None:
        for clinic, day in due:
            try:
                await self._run(clinic, day, now)
            except Exception:  # one clinic's failure must not stop the others' runs
                log.exception("retention.failed clinic=%s day=%s", clinic.id, day)

    def stop(self) -> None:
        if self.running is not None:
            self.running.cancel()  # a batch not committed is rolled back; the next night resumes

    async def _run(self, clinic: ClinicConfig, day: str, now: datetime) -> None:
        report = await nightly(
            self.ctx.db,
            clinic=clinic,
            day=day,
            day_began=day_began(day, clinic.zone),
            actor=DISPATCHER,
            now=now,
        )
        if report is not None:
            log.info(
                "retention.run clinic=%s day=%s words=%d records=%d refused=%d held=%d",
                clinic.id,
                day,
                report.words,
                report.records,
                report.refused,
                report.held,
            )

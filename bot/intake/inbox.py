"""Processing the inbox: each chat's held updates in order, through PTB's handlers, once.

A round claims the oldest pending update of up to `intake_concurrency` chats (a lease, so
several instances share the inbox and never work on one chat at once) and processes each
chat's updates one after the other. An update's effects commit together with the record that
it was processed (`AftercareContext.effects`). What fails is settled here:

- the database is down, locked or full: the update stays pending, the sender is told from
  memory that it will be handled when the service is back, and the worker waits it out;
- a fault of the update's own: it is tried again later, then parked for a person after
  `intake_max_attempts` tries, its patient's clinic told by a low case; the chat goes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from telegram import Update
from telegram.error import BadRequest, NetworkError, TelegramError

from bot.context import CURRENT_UPDATE, AppContext, Received, UpdateInProcess
from bot.intake.replies import OutageReplies
from bot.services.intake import park_update
from storage import inbox
from storage.engine import describe_failure, is_unavailable
from storage.models import InboundUpdate

log = logging.getLogger(__name__)

IDLE_LOOK_SECONDS = 1.0  # with nothing to do, look again this often (other instances' updates)
OUTAGE_PAUSES = (0.5, 1.0, 2.0, 4.0, 5.0)  # waits between tries while the database is down
MAX_RETRY_WAIT = timedelta(minutes=5)
PER_CHAT_RUN = 20  # updates of one chat leased together; more wait for the next claim


class Settled(Enum):
    NEXT = "next"  # processed or parked: the chat's next update may follow
    WAIT = "wait"  # to be tried again later: the chat waits


@dataclass(frozen=True)
class Claimed:
    """What one claim leased: each chat's run, and the stale leases it handed back."""

    runs: dict[int, list[InboundUpdate]]
    released: list[int]


NOTHING = Claimed({}, [])


def _as_stored(rows: list[InboundUpdate], given: Mapping[int, Received]) -> dict[int, Received]:
    """The intake's readings of these rows' updates where a row holds the payload it stored (a
    redelivery keeps the first copy); what it found of the chat only for a run's first."""
    known: dict[int, Received] = {}
    for index, row in enumerate(rows):
        received = given.get(row.update_id)
        if received is not None and received.payload == row.payload:
            known[row.update_id] = received if index == 0 else received.behind()
    return known


def _read(row: InboundUpdate, bot: Any) -> Update | None:
    return Update.de_json(json.loads(row.payload or "null"), bot)


class Inbox:
    """The worker: one per instance, running beside the Application."""

    def __init__(self, ctx: AppContext, application: Any, replies: OutageReplies) -> None:
        self.ctx = ctx
        self.application = application
        self.replies = replies
        self.concurrency = ctx.settings.intake_concurrency
        self._wake = asyncio.Event()
        self._running: set[asyncio.Task[None]] = set()
        self._stopping = False
        self._outages = 0  # consecutive failed tries of the database
        self._stale: set[int] = set()  # updates this instance holds but stopped working on
        self._waited_out: set[int] = set()  # updates whose processing met a database outage
        self._more = False  # the last claim may have left updates waiting: look when a chat ends
        self._working: set[int] = set()  # chats whose run this instance is working on
        self._behind: set[int] = set()  # of those, chats an update was stored for meanwhile

    def wake(self) -> None:
        """Updates are waiting that no claim has taken: look again now."""
        self._more = True
        self._wake.set()

    async def run(self, *, take_over_all: bool = False) -> None:
        """Work until `stop()`; first hand back leases a previous run left behind.
        `take_over_all` (long polling, where Telegram allows one consumer): every lease is
        stale, whoever held it. Otherwise only this instance's own."""
        owner = None if take_over_all else self.ctx.instance_id
        while not self._stopping:
            try:
                async with self.ctx.db.transaction() as session:
                    await inbox.release(session, owner=owner)
                break
            except Exception as exc:
                await self._unavailable(exc, doing="release")
                await self._sleep(self._pause())
        while not self._stopping:
            claimed = await self._claim()
            if claimed is None:
                await self._sleep(self._pause())
            elif not claimed:  # nothing more to start: wait for news (or look again later)
                await self._sleep(IDLE_LOOK_SECONDS)

    async def stop(self) -> None:
        """Finish the updates being processed, then hand back what this instance holds."""
        self._stopping = True
        self.wake()
        if self._running:
            await asyncio.gather(*self._running, return_exceptions=True)
        try:
            async with self.ctx.db.transaction() as session:
                await inbox.release(session, owner=self.ctx.instance_id)
        except Exception:
            log.warning("intake.release_failed instance=%s", self.ctx.instance_id, exc_info=True)

    def _pause(self) -> float:
        return OUTAGE_PAUSES[min(max(self._outages, 1), len(OUTAGE_PAUSES)) - 1]

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), seconds)
        self._wake.clear()

    def free_slots(self) -> int:
        return 0 if self._stopping else max(self.concurrency - len(self._running), 0)

    async def claim_in(
        self, session: AsyncSession, *, now: datetime, free: int, stored: int | None = None
    ) -> Claimed:
        """Lease the next runs for `free` chats in the caller's transaction (the intake claims
        what it has just stored in the storing transaction: one round trip less per update).

        `stored`: the one update just stored. When nothing else is known to wait (no stale
        leases, the last claim left none behind), it is leased by its key: one statement, on
        the same terms as the general claim's (its chat's oldest pending update, not leased).
        If it is not its chat's next, the general claim decides, as for any batch.
        """
        stale = sorted(self._stale)
        if stale:  # held through an outage: free again for whoever comes first
            await inbox.release(session, owner=self.ctx.instance_id, update_ids=stale)
        elif stored is not None and not self._more:
            row = await inbox.claim_one(
                session,
                update_id=stored,
                now=now,
                owner=self.ctx.instance_id,
                lease_until=self._lease(now),
            )
            if row is not None:
                return Claimed({row.chat_id: [row]}, released=[])
        runs = await inbox.claim(
            session,
            now=now,
            owner=self.ctx.instance_id,
            lease_until=self._lease(now),
            limit=free,
            run=PER_CHAT_RUN,
        )
        return Claimed(runs, released=stale)

    def start(
        self,
        claimed: Claimed,
        *,
        free: int,
        parsed: Mapping[int, Received] | None = None,
    ) -> None:
        """Work on claimed runs, once the claiming transaction has committed. `parsed`: the
        updates the intake has just stored, each with the payload it stored: one whose row
        holds that payload is processed as the intake read it, not parsed again."""
        self._stale.difference_update(claimed.released)
        self._available()
        runs = claimed.runs.values()
        self._more = len(claimed.runs) >= free or any(len(r) >= PER_CHAT_RUN for r in runs)
        given = parsed or {}
        for chat, rows in claimed.runs.items():
            known = _as_stored(rows, given)
            task = asyncio.create_task(self._work_chat(rows, known), name=f"inbox-chat-{chat}")
            self._running.add(task)
            self._working.add(chat)
            task.add_done_callback(self._finished)
            task.add_done_callback(functools.partial(self._chat_done, chat))

    def arrived(self, chats: set[int]) -> None:
        """Updates of these chats were stored and not claimed. One whose chat this instance
        is working on follows as soon as that run ends (not at the next idle look)."""
        self._behind.update(chats & self._working)

    def _chat_done(self, chat: int, _: asyncio.Task[None]) -> None:
        self._working.discard(chat)
        if chat in self._behind:
            self._behind.discard(chat)
            self.wake()

    async def _claim(self) -> bool | None:
        """Start work on the waiting updates of as many chats as there are free slots.

        True when every free slot was filled (there may be more to start); None when the
        database could not be asked.
        """
        free = self.free_slots()
        if free <= 0:
            return False
        try:
            async with self.ctx.db.transaction() as session:
                claimed = await self.claim_in(session, now=self.ctx.clock.now(), free=free)
        except Exception as exc:
            await self._unavailable(exc, doing="claim")
            return None
        self.start(claimed, free=free)
        return len(claimed.runs) == free

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._running.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("intake.chat_failed", exc_info=task.exception())
        if self._more:
            self._wake.set()

    def _lease(self, now: datetime) -> datetime:
        return now + timedelta(seconds=self.ctx.settings.lease_seconds)

    async def _work_chat(self, rows: list[InboundUpdate], parsed: Mapping[int, Received]) -> None:
        """Process one chat's leased updates in order while they succeed; hand back the rest."""
        for index, row in enumerate(rows):
            if self._stopping:
                await self._hand_back([r.update_id for r in rows[index:]])
                return
            if await self._process(row, parsed.get(row.update_id)) is Settled.WAIT:  # for now
                await self._hand_back([r.update_id for r in rows[index + 1 :]])
                return

    async def _hand_back(self, update_ids: list[int]) -> None:
        """Updates leased with a chat's run that will not be processed in it."""
        if not update_ids:
            return
        try:
            async with self.ctx.db.transaction() as session:
                await inbox.release(session, owner=self.ctx.instance_id, update_ids=update_ids)
        except Exception as exc:
            await self._unavailable(exc, doing="release")
            self._stale.update(update_ids)

    async def _process(self, row: InboundUpdate, received: Received | None = None) -> Settled:
        """Hand one held update to PTB's handlers and settle what came of it."""
        try:
            update = received.update if received else _read(row, self.application.bot)
            if update is None:
                raise ValueError("the stored update is empty")
        except Exception as exc:  # unreadable: no try will ever read it
            return await self._park(row, None, f"unreadable: {describe_failure(exc)}")
        held = row.held or row.update_id in self._waited_out
        work = UpdateInProcess.of(
            row.update_id, update, seen_at=row.seen_at, held=held, received=received
        )
        token = CURRENT_UPDATE.set(work)
        try:
            await self.application.process_update(update)
        except Exception as exc:  # PTB hands handler errors to on_error; this is a fault of PTB's
            work.error = work.error or exc
        finally:
            CURRENT_UPDATE.reset(token)
            if work.spinner is not None:  # never left behind, whatever came of the update
                await work.spinner
        return await self._settle(row, update, work)

    async def _settle(self, row: InboundUpdate, update: Update, work: UpdateInProcess) -> Settled:
        error = work.error
        if error is not None and not work.committed and is_unavailable(error):
            await self._unavailable(error, doing="process")
            await self.replies.answer(update)
            self._stale.add(row.update_id)  # still pending: handed back once the database is back
            self._waited_out.add(row.update_id)
            return Settled.WAIT
        if isinstance(error, TelegramError) and not work.committed:
            transient = isinstance(error, NetworkError) and not isinstance(error, BadRequest)
            if transient and row.attempts + 1 < self.ctx.settings.intake_max_attempts:
                return await self._failed(row, update, error)  # Telegram again, later
            # refused, or still failing: the reply is lost
            await self.replies.apologise(row.update_id, row.chat_id, error, update)
            error = None
        if error is not None and not work.committed:
            return await self._failed(row, update, error)
        if error is not None:
            log.error(
                "intake.failed_after_commit update_id=%s error=%s",
                row.update_id,
                type(error).__name__,
            )
        if not work.committed:  # nothing changed: record that it was seen to
            try:
                async with self.ctx.db.transaction() as session:
                    await inbox.mark_done(
                        session, update_id=row.update_id, now=self.ctx.clock.now()
                    )
            except Exception as exc:
                await self._unavailable(exc, doing="mark")
                self._stale.add(row.update_id)  # answered again when retried: nothing was stored
                return Settled.WAIT
        self._available()
        self._waited_out.discard(row.update_id)
        self.replies.processed(row.update_id)
        self.ctx.metrics.updates_processed.inc()
        return Settled.NEXT

    async def _failed(self, row: InboundUpdate, update: Update, error: BaseException) -> Settled:
        """A fault of the update's own: try again later, or park it after the last try."""
        settings = self.ctx.settings
        problem = describe_failure(error)
        if row.attempts + 1 >= settings.intake_max_attempts:
            return await self._park(row, update, problem)
        wait = min(
            timedelta(seconds=settings.intake_retry_seconds * 2**row.attempts), MAX_RETRY_WAIT
        )
        try:
            async with self.ctx.db.transaction() as session:
                tries = await inbox.record_failure(
                    session,
                    update_id=row.update_id,
                    error=problem,
                    retry_at=self.ctx.clock.now() + wait,
                )
        except Exception as exc:
            await self._unavailable(exc, doing="retry")
            self._stale.add(row.update_id)
            return Settled.WAIT
        self.ctx.metrics.updates_retried.inc()
        log.warning(
            "intake.retry update_id=%s chat=%s tries=%d error=%s",
            row.update_id,
            row.chat_id,
            tries,
            type(error).__name__,
        )
        return Settled.WAIT

    async def _park(self, row: InboundUpdate, update: Update | None, problem: str) -> Settled:
        try:
            async with self.ctx.db.transaction() as session:
                parked = await park_update(
                    session,
                    update_id=row.update_id,
                    chat_id=row.chat_id,
                    error=problem,
                    now=self.ctx.clock.now(),
                )
        except Exception as exc:
            await self._unavailable(exc, doing="park")
            self._stale.add(row.update_id)
            return Settled.WAIT
        self.replies.processed(row.update_id)
        if parked is None:
            return Settled.NEXT  # settled elsewhere meanwhile
        self.ctx.metrics.updates_parked.inc()
        log.error(
            "intake.parked update_id=%s chat=%s case=%s error=%s",
            row.update_id,
            row.chat_id,
            parked.raised.case.id if parked.raised else None,
            problem.split(":")[0],
        )
        clinic = self.ctx.clinic(parked.patient.clinic_id if parked.patient else None)
        await self.replies.could_not_process(row.chat_id, clinic)
        return Settled.NEXT

    async def _unavailable(self, error: BaseException, *, doing: str) -> None:
        """The database failed: note it for /healthz and the log; the caller waits and retries."""
        if not is_unavailable(error):
            log.error("intake.%s_failed", doing, exc_info=error)
        problem = describe_failure(error)
        if self._outages == 0:
            log.error("intake.database_unavailable doing=%s problem=%s", doing, problem)
            self.ctx.metrics.intake_unavailable.inc()
        self._outages += 1
        self.ctx.intake.failed(problem, now=self.ctx.clock.now())
        await self.replies.answer_waiting()

    def _available(self) -> None:
        if self._outages:
            log.info("intake.database_back after_tries=%d", self._outages)
        self._outages = 0
        if self.ctx.intake.held == 0:
            self.ctx.intake.recovered()

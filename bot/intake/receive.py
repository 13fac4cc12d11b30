"""Receiving updates: store a batch in the inbox before Telegram is told it arrived.

`take` is the one door for both modes. Long polling confirms a batch (the next getUpdates
offset) only when `take` returned True; the webhook answers 200 only then, else 503 so that
Telegram delivers it again. While the database cannot store anything, each sender is answered
from memory (`replies`) and Telegram keeps the update.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import OrderedDict
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from telegram import CallbackQuery, Update
from telegram.constants import ChatType

from bot.context import AppContext, Identity, Received
from bot.intake.inbox import NOTHING, Claimed, Inbox
from bot.intake.replies import OutageReplies
from bot.messaging.delivery import answer_query
from bot.messaging.questions import parse_tap
from bot.services.checkin_states import is_next_answer
from storage import inbox
from storage.engine import describe_failure, is_unavailable
from storage.inbox import Arrival
from storage.people import clinicians_by_user, patient_by_chat

log = logging.getLogger(__name__)

MAX_HELD = 100_000  # update ids remembered as seen-but-not-stored (oldest forgotten first)


def chat_of(update: Update) -> int:
    """The chat an update belongs to (0 if none): its order is kept per chat."""
    chat = update.effective_chat
    return chat.id if chat is not None else 0


async def _sender(session: AsyncSession, update: Update) -> Identity | None:
    """Who sent a private chat's update, as `handlers.common.admit` would look them up."""
    chat, user = update.effective_chat, update.effective_user
    if chat is None or user is None or chat.type != ChatType.PRIVATE:
        return None
    patient = await patient_by_chat(session, chat_id=chat.id)
    clinicians = await clinicians_by_user(session, telegram_user_id=user.id)
    return Identity(patient=patient, clinicians=tuple(clinicians))


async def _next_answer(
    session: AsyncSession, update: Update, sender: Identity | None
) -> CallbackQuery | None:
    """A patient's tap that is their open check-in's next answer: its spinner can stop as soon
    as the tap is stored (wordless, it confirms nothing), not after PTB's dispatch and the
    answer's own transaction."""
    query, patient = update.callback_query, sender.patient if sender else None
    tap = parse_tap(query.data) if query is not None else None
    if query is None or tap is None or patient is None:
        return None
    return query if await is_next_answer(session, patient=patient, tap=tap) else None


def _owners(update: Update | None, sender: Identity | None) -> dict[int, int] | None:
    """The chat's patient as the storing transaction found them; None: not looked up."""
    if update is None or sender is None:
        return None
    patient = sender.patient
    return {} if patient is None or patient.id is None else {chat_of(update): patient.id}


def _first_of_its_chat(claimed: Claimed, update: Update) -> bool:
    """The update was leased now as the next of its chat: nothing of the chat comes before it."""
    run = claimed.runs.get(chat_of(update)) or []
    return bool(run) and run[0].update_id == update.update_id


class Intake:
    """Holds received updates durably, or answers from memory and lets Telegram keep them."""

    def __init__(self, ctx: AppContext, replies: OutageReplies, inbox: Inbox) -> None:
        self.ctx = ctx
        self.replies = replies
        self.inbox = inbox
        self._first_seen: OrderedDict[int, datetime] = OrderedDict()  # held during an outage

    async def take(self, batch: Sequence[tuple[Update, dict[str, Any]]]) -> bool:
        """Store updates (each with its JSON) in one transaction; False if they are not stored."""
        if not batch:
            return True
        now = self.ctx.clock.now()
        arrivals = [
            Arrival(
                update_id=update.update_id,
                chat_id=chat_of(update),
                payload=json.dumps(data, separators=(",", ":"), ensure_ascii=False),
                seen_at=self._first_seen.get(update.update_id, now),
                held=update.update_id in self._first_seen,
            )
            for update, data in batch
        ]
        free = self.inbox.free_slots()
        lone = batch[0][0] if len(batch) == 1 else None
        sender = None
        tap: CallbackQuery | None = None
        try:
            async with self.ctx.db.transaction() as session:
                if lone is not None and free:  # likely processed at once: who sent it, here
                    sender = await _sender(session, lone)
                await inbox.store(session, arrivals, now=now, owners=_owners(lone, sender))
                claimed = (
                    await self.inbox.claim_in(
                        session, now=now, free=free, stored=None if lone is None else lone.update_id
                    )
                    if free
                    else NOTHING
                )
                if lone is not None and _first_of_its_chat(claimed, lone):  # read after the
                    tap = await _next_answer(session, lone, sender)  # chat's earlier updates
        except Exception as exc:
            await self._not_stored(batch, exc, now=now)
            return False
        for update, _ in batch:
            self._first_seen.pop(update.update_id, None)
        self.replies.stored([update for update, _ in batch])
        self.ctx.intake.held = len(self._first_seen)
        if not self._first_seen:
            self.ctx.intake.recovered()
        if free:
            spinner = asyncio.create_task(answer_query(tap)) if tap is not None else None
            pairs = zip(arrivals, batch, strict=True)
            stored = {a.update_id: Received(a.payload, u, sender, spinner) for a, (u, _) in pairs}
            self.inbox.start(claimed, free=free, parsed=stored)  # taken on at once
            self.inbox.arrived({a.chat_id for a in arrivals} - claimed.runs.keys())
        else:
            self.inbox.wake()  # every slot is busy: the worker takes them when one frees
        return True

    async def _not_stored(
        self, batch: Sequence[tuple[Update, dict[str, Any]]], error: Exception, *, now: datetime
    ) -> None:
        problem = describe_failure(error)
        if not is_unavailable(error):
            log.error("intake.store_error", exc_info=error)
        fresh = [u for u, _ in batch if u.update_id not in self._first_seen]
        for update, _ in batch:
            self._first_seen.setdefault(update.update_id, now)
        while len(self._first_seen) > MAX_HELD:
            self._first_seen.popitem(last=False)
        if fresh and self.ctx.intake.failing_since is None:
            self.ctx.metrics.intake_unavailable.inc()
        self.ctx.intake.failed(problem, now=now)
        self.ctx.intake.held = len(self._first_seen)
        log.error(
            "intake.not_stored updates=%d held=%d problem=%s (not confirmed to Telegram, "
            "which keeps them)",
            len(batch),
            len(self._first_seen),
            problem,
        )
        for update, _ in batch:
            await self.replies.answer(update)

    async def receive(self, update: Update, data: dict[str, Any]) -> bool:
        """One webhook delivery: True once it is stored (answer 2xx), else False (5xx)."""
        return await self.take([(update, data)])

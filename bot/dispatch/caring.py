"""Sending due caring messages (CLINICAL.md §12): claim, send at routine priority, record.

Like check-ins, a claim is a lease: a crash between send and record may send one message
twice, never lose it. Series ends are looked for every SERIES_CHECK of the clock.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

from telegram.ext import ExtBot

from bot.context import AppContext
from bot.messaging.delivery import Delivery, Outcome, deliver
from bot.messaging.ratelimit import ROUTINE
from bot.services.reaching import caring, caring_sends
from storage.caring.queries import claim_due

SERIES_CHECK = timedelta(minutes=10)


class CaringSender:
    """One per dispatcher: the caring phase of each round."""

    def __init__(self, ctx: AppContext, bot: ExtBot[Any], *, batch: int, lease: timedelta) -> None:
        self.ctx, self.bot, self.batch, self.lease = ctx, bot, batch, lease
        self.series_checked_at: datetime | None = None

    async def run_due(self, now: datetime) -> tuple[int, bool]:
        """Start tracks for ended series (now and then), then send what is due: (sent, more)."""
        if self.series_checked_at is None or now - self.series_checked_at >= SERIES_CHECK:
            async with self.ctx.db.transaction() as session:
                for clinic in self.ctx.clinics.clinics:
                    await caring.start_series_ended(session, clinic=clinic, now=now)
            self.series_checked_at = now
        async with self.ctx.db.transaction() as session:
            claimed = await claim_due(
                session,
                now=now,
                owner=self.ctx.instance_id,
                lease_until=now + self.lease,
                limit=self.batch,
            )
            batch = await caring_sends.to_send(
                session, claimed=claimed, clinic_of=self.ctx.clinic, now=now
            )
        if not batch:
            return 0, len(claimed) >= self.batch
        limiter = ROUTINE if self.bot.rate_limiter is not None else None
        results = await asyncio.gather(*(self._send(item, limiter) for item in batch))
        async with self.ctx.db.transaction() as session:
            await caring_sends.record(
                session,
                sent=list(zip(batch, results, strict=True)),
                clinic_of=self.ctx.clinic,
                now=self.ctx.clock.now(),
            )
        return sum(r.outcome is Outcome.SENT for r in results), len(claimed) >= self.batch

    async def _send(self, item: caring_sends.CaringSend, limiter: Any) -> Delivery:
        assert item.patient.chat_id is not None
        return await deliver(
            self.bot.send_message(item.patient.chat_id, item.text, rate_limit_args=limiter),
            what=f"caring={item.message.id}",
        )

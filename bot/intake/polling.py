"""Long polling that confirms only what is stored (PTB's Updater confirms what it fetched).

getUpdates with offset N confirms every update below N, so the offset moves past a batch only
after `Intake.take` has stored it. A crash at any point loses nothing: Telegram delivers the
unconfirmed updates again and the inbox recognises those it already holds.
"""

from __future__ import annotations

import asyncio
import logging

from telegram import Bot, Update
from telegram.error import Conflict, InvalidToken, RetryAfter, TelegramError

from bot.intake.receive import Intake

log = logging.getLogger(__name__)

POLL_TIMEOUT = 10  # seconds a getUpdates waits for something to arrive
PAUSES = (0.5, 1.0, 2.0, 4.0, 5.0)  # waits after a failed fetch or store, growing


class Poller:
    """getUpdates → store → confirm, until cancelled."""

    def __init__(self, bot: Bot, intake: Intake, *, timeout: int = POLL_TIMEOUT) -> None:
        self.bot = bot
        self.intake = intake
        self.timeout = timeout
        self.offset: int | None = None  # the first update not yet stored

    async def run(self) -> None:
        failures = 0
        while True:
            try:
                updates = await self.bot.get_updates(
                    offset=self.offset, timeout=self.timeout, allowed_updates=Update.ALL_TYPES
                )
            except (InvalidToken, asyncio.CancelledError):
                raise
            except RetryAfter as exc:
                await asyncio.sleep(_seconds(exc.retry_after))
                continue
            except TelegramError as exc:
                failures += 1
                level = logging.ERROR if isinstance(exc, Conflict) else logging.WARNING
                log.log(level, "polling.fetch_failed error=%s detail=%s", type(exc).__name__, exc)
                await asyncio.sleep(PAUSES[min(failures, len(PAUSES)) - 1])
                continue
            if not updates:
                failures = 0
                continue
            if await self.intake.take([(u, u.to_dict()) for u in updates]):
                failures = 0
                self.offset = updates[-1].update_id + 1
            else:  # kept by Telegram; each sender was answered from memory
                failures += 1
                await asyncio.sleep(PAUSES[min(failures, len(PAUSES)) - 1])


def _seconds(value: object) -> float:
    total = getattr(value, "total_seconds", None)
    return float(total()) if callable(total) else float(value)  # type: ignore[arg-type]

"""Telegram pages: the page's text to each recipient's chat, with Acknowledge / Resolve
buttons (and Open in console when the console has a public URL)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession
from telegram import Bot

from bot.channels.base import Outgoing, RungPage
from bot.domain.channels import ChannelKind
from bot.messaging import pages
from bot.messaging.delivery import Delivery, deliver_markup


class TelegramChannel:
    kind = ChannelKind.TELEGRAM

    def __init__(self, bot: Bot, *, console_url: str | None) -> None:
        self.bot, self.console_url = bot, console_url

    async def prepare(
        self, session: AsyncSession, page: RungPage, *, now: datetime
    ) -> list[Outgoing]:
        """One page per recipient; nothing to store before sending."""
        return [Outgoing(self.kind, clinician) for clinician in page.recipients]

    async def send(self, page: RungPage, outs: Sequence[Outgoing]) -> list[Delivery]:
        """Each recipient's page, side by side."""
        return list(await asyncio.gather(*(self._send(page, out) for out in outs)))

    async def _send(self, page: RungPage, out: Outgoing) -> Delivery:
        """The page with its buttons; without the console link if Telegram refuses the link."""
        assert out.clinician is not None
        chat_id, text = out.clinician.chat_id, page.text
        linked = pages.case_buttons(page.case_id, page.level, console_url=self.console_url)
        plain = pages.case_buttons(page.case_id, page.level)
        return await deliver_markup(
            lambda markup: self.bot.send_message(chat_id, text, reply_markup=markup),
            linked,
            plain,
            what=f"page case={page.case_id} clinician={out.clinician.id}",
        )

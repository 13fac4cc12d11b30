"""Pages to the clinic's own webhook: one signed event per rung, through the outbox."""

from __future__ import annotations

from bot.channels.base import RungPage
from bot.channels.outbox import OutboxChannel
from bot.domain.channels import ChannelKind


class WebhookChannel(OutboxChannel):
    kind = ChannelKind.WEBHOOK

    def unavailable(self, page: RungPage) -> str | None:
        return None if page.clinic.paging.webhook_url else "no URL"

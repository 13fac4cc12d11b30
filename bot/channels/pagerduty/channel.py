"""Pages to a paging service: an Events API v2 trigger per routing key, through the outbox."""

from __future__ import annotations

from bot.channels.base import RungPage
from bot.channels.outbox import OutboxChannel
from bot.domain.channels import ChannelKind
from bot.services.paging.outbox import clinic_routing_key, routing_key_for


class PagerDutyChannel(OutboxChannel):
    kind = ChannelKind.PAGER

    def routing_keys(self, page: RungPage) -> list[str | None]:
        """One per routing key of the recipients (their own, else the clinic's for the level,
        else the clinic's); the clinic's when Aftercare has nobody to page (the service has its
        own on-call)."""
        level = str(page.case.level)
        keys = {routing_key_for(page.clinic, level, c) for c in page.recipients}
        if not page.recipients:
            keys.add(clinic_routing_key(page.clinic, level))
        return [key for key in sorted(k for k in keys if k)]

    def unavailable(self, page: RungPage) -> str | None:
        return None if self.routing_keys(page) else "no routing key"

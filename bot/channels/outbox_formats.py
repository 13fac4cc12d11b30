"""The channels that go through the durable outbox, and how each builds and signs its events.

Pure: each entry names a channel's body module (`trigger`, `follow_up`, `headers`), so the
services can queue its events (`services/paging/outbox`) and the outbox can post them
(`bot/channels/outbox`) without knowing one channel from another.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from bot.channels.event_format import FollowUpFacts, TriggerFacts
from bot.channels.pagerduty import body as pagerduty
from bot.channels.webhook import body as webhook
from bot.domain.channels import ChannelKind

Trigger = Callable[[TriggerFacts], tuple[str, str | None, dict[str, Any]] | None]
FollowUp = Callable[[FollowUpFacts], dict[str, Any]]


class Headers(Protocol):
    """A channel's own headers for one attempt: `secrets` are the clinic's live signing
    secrets (newest first), `at` the attempt's time in unix seconds."""

    def __call__(
        self, *, event_id: int, body: bytes, secrets: Sequence[str], at: int
    ) -> dict[str, str]: ...


@dataclass(frozen=True)
class OutboxFormat:
    """A channel's events: its trigger (url, routing key, body; None: nowhere to send), the
    acknowledge/resolve that follows it, and the headers that go with a body at each attempt."""

    trigger: Trigger
    follow_up: FollowUp
    headers: Headers
    signed: bool = False  # its headers sign with the clinic's webhook secrets


OUTBOX_FORMATS: Mapping[ChannelKind, OutboxFormat] = {
    ChannelKind.PAGER: OutboxFormat(pagerduty.trigger, pagerduty.follow_up, pagerduty.headers),
    ChannelKind.WEBHOOK: OutboxFormat(
        webhook.trigger, webhook.follow_up, webhook.headers, signed=True
    ),
}

"""Every channel this instance can page on, built once from its settings.

Adding a channel: a folder beside these (its `channel.py` implementing `base.Channel`), a
member of `ChannelKind`, its settings, and one line here (ARCHITECTURE.md, "Adding a channel").
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta

from telegram import Bot

from bot.channels.base import Channel
from bot.channels.email.channel import EmailChannel, mailer_for
from bot.channels.outbox import PageEvents
from bot.channels.pagerduty.channel import PagerDutyChannel
from bot.channels.telegram.channel import TelegramChannel
from bot.channels.webhook.channel import WebhookChannel
from bot.context import AppContext
from bot.domain.channels import ChannelKind


def build_channels(
    ctx: AppContext, bot: Bot, *, outbox: PageEvents | None = None
) -> Mapping[ChannelKind, Channel]:
    """The channels configured here; one a rung names but that is missing (e-mail without
    AFTERCARE_SMTP_URL) is logged by the pager and skipped."""
    settings = ctx.settings
    outbox = outbox or PageEvents(ctx, lease=timedelta(seconds=settings.lease_seconds))
    channels: dict[ChannelKind, Channel] = {
        ChannelKind.TELEGRAM: TelegramChannel(bot, console_url=settings.console_url),
        ChannelKind.PAGER: PagerDutyChannel(outbox),
        ChannelKind.WEBHOOK: WebhookChannel(outbox),
    }
    if (mailer := mailer_for(settings)) is not None:
        channels[ChannelKind.EMAIL] = EmailChannel(
            mailer, sender=settings.smtp_from, console_url=settings.console_url
        )
    return channels

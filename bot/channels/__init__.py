"""The channels a page goes out on: one folder per channel, one `Channel` interface (`base`).

The pager (`bot/dispatch/pager.py`) loops over the channels a rung names
(`registry.build_channels`); channels that need retries go through the durable outbox
(`outbox`, with each channel's event format in `outbox_formats`).
"""

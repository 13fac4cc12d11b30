"""The ways a page can reach someone: the names a rung's `channels` and a stored page use."""

from __future__ import annotations

from enum import StrEnum


class ChannelKind(StrEnum):
    """A page's channel, stored as text (`Page.channel`, `PageEvent.channel`).

    `reaches_person`: a page to a person (someone read it, or can). A paging service's or a
    webhook's 2xx says nothing about who heard it, so it never counts as someone reached
    (CLINICAL.md §8: the patient is told "paged" only when a person was paged).
    """

    TELEGRAM = "telegram"
    EMAIL = "email"
    PAGER = "pager"  # a paging service speaking PagerDuty's Events API v2
    WEBHOOK = "webhook"  # the clinic's own signed webhook

    @property
    def label(self) -> str:
        """How a clinician names it: "the page to Dr Ada (Telegram)"."""
        return {"telegram": "Telegram", "email": "e-mail", "pager": "pager"}.get(self, self)

    @property
    def reaches_person(self) -> bool:
        return self in (ChannelKind.TELEGRAM, ChannelKind.EMAIL)

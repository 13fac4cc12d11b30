"""The one interface every page channel implements, and what a rung hands it.

A rung is paged in two steps, as the pager's claim requires: `prepare` runs inside the claim's
transaction and writes whatever must survive a crash (an e-mail's acknowledge link, an outbox
event); `send` runs after the commit with the channel's pages of the rung, and answers each
with an honest `Delivery` — it never raises for its own channel's trouble.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from bot.clinic_config import ClinicConfig
from bot.domain.channels import ChannelKind
from bot.domain.delivery import Delivery
from bot.domain.levels import Level
from storage.models import Case, Clinician


@dataclass(frozen=True)
class RungPage:
    """One rung of one case's ladder, as every channel receives it."""

    case: Case  # as claimed for this rung (read it, never change it)
    clinic: ClinicConfig
    reference: str  # the patient's pseudonymous reference
    text: str  # the page as a person reads it: the facts, what to do
    summary: str  # for third parties: level, case number, clinic; never the patient's words
    recipients: tuple[Clinician, ...]  # the clinicians this rung pages
    nobody_on_call: bool  # Aftercare has nobody to page (a paging service has its own on-call)

    @property
    def case_id(self) -> int:
        assert self.case.id is not None
        return self.case.id

    @property
    def level(self) -> Level:
        """The level the rung fires for (the case's, as claimed)."""
        return Level(self.case.level)


@dataclass(frozen=True)
class Outgoing:
    """One page a channel will send for a rung: to a clinician (recorded as a `Page`), or to a
    service (an outbox event, recorded by the outbox)."""

    kind: ChannelKind
    clinician: Clinician | None
    handle: str = ""  # the channel's own: an acknowledge token, an outbox event id
    # The channel's own, read under the claim for the send after the commit (an outbox event
    # claimed in the rung's transaction); None when there is nothing of the kind.
    held: object | None = field(default=None, compare=False, repr=False)


class Channel(Protocol):
    """A way a page reaches someone (one folder under `bot/channels/`)."""

    kind: ChannelKind

    async def prepare(
        self, session: AsyncSession, page: RungPage, *, now: datetime
    ) -> list[Outgoing]:
        """In the claim's transaction: this rung's pages on this channel."""
        ...

    async def send(self, page: RungPage, outs: Sequence[Outgoing]) -> list[Delivery]:
        """After the commit: send this channel's pages of the rung (side by side), a `Delivery`
        each in order: SENT, FAILED, RETRY or NOT_SENT; never raises for the channel's own
        trouble."""
        ...

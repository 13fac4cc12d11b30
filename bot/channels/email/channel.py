"""E-mailed pages: the page's text to each recipient with an address, with a single-use
acknowledge link (issued in the claim's transaction) and the console link."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from bot.channels.base import Outgoing, RungPage
from bot.channels.email.message import page_email, page_subject
from bot.channels.email.smtp import Mailer
from bot.domain.channels import ChannelKind
from bot.domain.delivery import Delivery, Outcome
from bot.messaging import pages
from bot.services.paging.ack_links import issue_ack_link
from bot.settings import Settings


def mailer_for(settings: Settings) -> Mailer | None:
    """The clinic's SMTP relay (AFTERCARE_SMTP_URL), None when unset."""
    url = settings.smtp_url
    if url is None:
        return None
    return Mailer(
        url.get_secret_value(), sender=settings.smtp_from, outbound=settings.outbound_policy()
    )


class EmailChannel:
    kind = ChannelKind.EMAIL

    def __init__(self, mailer: Mailer, *, sender: str, console_url: str | None) -> None:
        self.mailer, self.sender, self.console_url = mailer, sender, console_url

    async def prepare(
        self, session: AsyncSession, page: RungPage, *, now: datetime
    ) -> list[Outgoing]:
        """An acknowledge link for each recipient with an address."""
        out = []
        for clinician in page.recipients:
            if clinician.email and clinician.id is not None:
                token = await issue_ack_link(
                    session, case_id=page.case_id, clinician_id=clinician.id, now=now
                )
                out.append(Outgoing(self.kind, clinician, token))
        return out

    async def send(self, page: RungPage, outs: Sequence[Outgoing]) -> list[Delivery]:
        """Each recipient's mail, side by side."""
        return list(await asyncio.gather(*(self._send(page, out) for out in outs)))

    async def _send(self, page: RungPage, out: Outgoing) -> Delivery:
        """The mail; an address it cannot use fails this page only."""
        assert out.clinician is not None
        console = self.console_url
        try:
            message = page_email(
                to=out.clinician.email or "",
                sender=self.sender,
                subject=page_subject(
                    level=page.level, case_id=page.case_id, reference=page.reference
                ),
                text=page.text,
                ack_url=f"{console}/ack/{out.handle}" if console else None,
                console_url=pages.case_link(console, page.case_id) if console else None,
            )
        except (ValueError, TypeError, AttributeError) as exc:  # an address it cannot use
            return Delivery(Outcome.FAILED, error=f"not a usable address: {type(exc).__name__}")
        return await self.mailer.send(message)

"""The daily e-mail digest of a clinic's open cases (the low queue's reminder): at the clinic's
`[clinics.paging] digest_time`, once a day across every instance (`claim_digest`), to every
active clinician of the clinic with an address. Run from the dispatcher's rounds."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, time
from zoneinfo import ZoneInfo

from bot.channels.email.message import page_email
from bot.channels.email.smtp import Mailer
from bot.context import AppContext
from bot.i18n import C_, Cn_
from bot.messaging.delivery import Outcome
from bot.messaging.pages import case_link, level_name
from bot.services import deliveries
from bot.services.case_queue import CaseCard, open_case_cards
from storage.clinics import claim_digest
from storage.invites import clinicians_of_clinic

log = logging.getLogger(__name__)


def due_day(now: datetime, *, at: time, zone: ZoneInfo) -> str | None:
    """The clinic-local date whose digest is due at `now`, if its time has come."""
    local = now.astimezone(zone)
    return local.date().isoformat() if local.time() >= at else None


def digest_text(cards: list[CaseCard], *, clinic_name: str, console_url: str | None) -> str:
    count = Cn_(
        "{clinic}: {count} open case(s) in Aftercare.",
        "{clinic}: {count} open case(s) in Aftercare.",
        len(cards),
    )
    lines = [count.format(clinic=clinic_name, count=len(cards)), ""]
    for card in cards:
        case = card.case
        said = (
            C_("• case #{id} {level} {ref}, opened {opened} UTC, acknowledged{link}")
            if case.acknowledged_at
            else C_("• case #{id} {level} {ref}, opened {opened} UTC, not acknowledged{link}")
        )
        link = f" {case_link(console_url, case.id)}" if console_url and case.id else ""
        lines.append(
            said.format(
                id=case.id,
                level=level_name(case.level),
                ref=card.patient.ref,
                opened=f"{case.opened_at:%d %b %H:%M}",
                link=link,
            )
        )
    if not cards:
        lines.append(C_("No open cases."))
    lines += [
        "",
        C_("This digest does not replace pages: high and moderate cases page on call."),
    ]
    return "\n".join(lines)


def digest_subject(clinic_name: str, count: int) -> str:
    return Cn_(
        "[Aftercare] {clinic}: {count} open case(s), daily digest",
        "[Aftercare] {clinic}: {count} open case(s), daily digest",
        count,
    ).format(clinic=clinic_name, count=count)


class Digests:
    """Sends each clinic's digest once a day; remembers which day it last saw sent."""

    def __init__(self, ctx: AppContext, mailer: Mailer | None) -> None:
        self.ctx, self.mailer = ctx, mailer
        self.done: dict[str, str] = {}  # clinic id -> local date already sent (by anyone)

    async def run_due(self, now: datetime) -> int:
        if self.mailer is None:
            return 0
        sent = 0
        for clinic in self.ctx.clinics.clinics:
            at = clinic.paging.digest_time
            day = due_day(now, at=at, zone=clinic.zone) if at is not None else None
            if day is None or self.done.get(clinic.id) == day:
                continue
            self.done[clinic.id] = day
            async with self.ctx.db.transaction() as session:
                if not await claim_digest(session, clinic_id=clinic.id, day=day):
                    continue  # another instance (or an earlier run) sent it
                cards = await open_case_cards(session, clinic=clinic)
                staff = [
                    c
                    for c in await clinicians_of_clinic(session, clinic_id=clinic.id)
                    if c.active and c.email
                ]
            sent += await self._send(clinic.id, clinic.name, cards, [c.email or "" for c in staff])
        return sent

    async def _send(self, clinic_id: str, name: str, cards: list[CaseCard], to: list[str]) -> int:
        assert self.mailer is not None
        text = digest_text(cards, clinic_name=name, console_url=self.ctx.settings.console_url)
        subject = digest_subject(name, len(cards))
        results = await asyncio.gather(
            *(
                self.mailer.send(
                    page_email(
                        to=address,
                        sender=self.ctx.settings.smtp_from,
                        subject=subject,
                        text=text,
                        ack_url=None,
                        console_url=self.ctx.settings.console_url,
                    )
                )
                for address in to
            )
        )
        delivered = sum(r.outcome is Outcome.SENT for r in results)
        async with self.ctx.db.transaction() as session:
            await deliveries.record_digest(
                session,
                clinic_id=clinic_id,
                cases=len(cards),
                recipients=len(to),
                delivered=delivered,
                now=self.ctx.clock.now(),
            )
        log.info("digest.sent clinic=%s cases=%d delivered=%d", clinic_id, len(cards), delivered)
        return delivered

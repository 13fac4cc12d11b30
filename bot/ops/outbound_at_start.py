"""At start-up (`aftercare run`, the demo): the clinic file's URLs and the SMTP relay checked
against the outbound rules (`bot/domain/outbound.py`, `bot/services/paging/outbound.py`).

A clinic file URL refused as written, or an SMTP relay refused at all (its host is the
operator's own setting, and its DNS too), stops the start with one line naming the setting. A
clinic URL whose name resolves inside, or any name that does not resolve now, is a warning: a
start must not depend on a clinic's DNS, and every send checks again."""

from __future__ import annotations

import logging

from bot.channels.email.channel import mailer_for
from bot.clinic_config import ClinicsConfig
from bot.domain.delivery import Outcome
from bot.services.paging.outbound import SAVE_RESOLVE_SECONDS, clinic_file_problems
from bot.settings import Settings

log = logging.getLogger(__name__)


async def outbound_problems(settings: Settings, clinics: ClinicsConfig) -> str | None:
    """The problem that must stop the start (the first, and how many more), if any; the
    warnings are logged."""
    errors, warnings = await clinic_file_problems(clinics, settings.outbound_policy())
    mailer = mailer_for(settings)
    relay = await mailer.refusal(timeout=SAVE_RESOLVE_SECONDS) if mailer is not None else None
    if relay is not None:
        said = f"AFTERCARE_SMTP_URL: {relay.error}"
        (errors if relay.outcome is Outcome.FAILED else warnings).append(said)
    for warning in warnings:
        log.warning("outbound.at_start %s", warning)
    if not errors:
        return None
    more = f" (and {len(errors) - 1} more problems)" if len(errors) > 1 else ""
    return errors[0] + more

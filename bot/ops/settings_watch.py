"""Every instance uses a clinic's newest settings within a few seconds of a save.

A save (from any instance's console) bumps `clinic.settings_version` in the same transaction
as the new version; each instance polls those numbers (one small read every
`AFTERCARE_SETTINGS_POLL_SECONDS`) and loads the versions it does not use yet. Re-planning
was already done by the save's own transaction, so picking a version up only swaps the
settings every handler and dispatcher round reads through `AppContext.clinic`.
"""

from __future__ import annotations

import logging

from bot.clinic_config import ConfigError
from bot.context import AppContext
from bot.services.clinic.instruments import refresh_installed
from bot.services.clinic.settings import stored_version
from storage.clinics import settings_versions
from storage.engine import describe_failure

log = logging.getLogger(__name__)


async def refresh_settings(ctx: AppContext) -> list[str]:
    """Take every newer settings version; the ids of the clinics that changed. Never raises:
    a failed look is logged and the next one tries again (the settings in use stay)."""
    taken: list[str] = []
    try:
        async with ctx.db.transaction() as session:
            newest = await settings_versions(session)
            for clinic in ctx.clinics.clinics:
                version = newest.get(clinic.id, 0)
                if version <= ctx.settings_versions.get(clinic.id, 0):
                    continue
                try:
                    stored = await stored_version(session, clinic_id=clinic.id, version=version)
                except ConfigError as exc:  # one unreadable version must not stop the others
                    log.error("settings.unusable clinic=%s version=%d %s", clinic.id, version, exc)
                    continue
                if stored is not None and ctx.use_clinic(stored, version):
                    taken.append(clinic.id)
                    log.info("settings.applied clinic=%s version=%d", clinic.id, version)
            await refresh_installed(session)  # an instrument installed on another instance
    except Exception as exc:
        log.warning("settings.refresh_failed problem=%s", describe_failure(exc))
    return taken

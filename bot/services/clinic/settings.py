"""A clinic's settings, versioned in the database and edited live.

Which wins, the clinic file or the console, is the clinic's `managed_by`:

- ``file`` (the default): the file wins at every start; a changed file is stored as a new
  version (so history and every instance see it) and the console shows the settings read-only.
- ``console``: the file only creates the clinic (its first version); afterwards the newest
  version in the database wins and the file's settings for that clinic are ignored (a start
  with a different file says so in the log). `aftercare config export --clinic ID` writes the
  current settings back as TOML.

A save checks the version it was based on (two admins saving at once cannot both win), stores a
new version, re-plans every unsent check-in when the plan's shape changed, and audits it, in
one transaction. Every instance polls the versions (`bot/ops/settings_watch.py`) and uses a new
one within a few seconds.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from bot.clinic_config import ClinicConfig, ClinicsConfig
from bot.services.clinic.settings_replan import Preview as Preview
from bot.services.clinic.settings_replan import patients_to_replan, replan
from bot.services.clinic.settings_replan import preview as preview
from bot.services.clinic.settings_replan import replan_clinic as replan_clinic
from bot.services.clinic.settings_shape import Change, as_json, changes_between, from_json
from storage import audit
from storage.clinics import (
    ClinicRow,
    add_settings_version,
    get_clinic,
    protocols_in_use,
    settings_history,
    settings_version,
    sync_clinics,
)
from storage.invites import clinicians_of_clinic
from storage.models import ClinicSettings
from storage.states import Actor, ActorKind, ManagedBy, SettingsSource

log = logging.getLogger(__name__)


class SettingsError(Exception):
    """A save that cannot be done; the message says why, for the person who tried."""


class SettingsConflict(SettingsError):
    """Someone saved a newer version since this one was read."""


@dataclass(frozen=True)
class Saved:
    clinic: ClinicConfig
    version: int
    replanned: int  # patients whose unsent check-ins were re-planned
    changes: list[Change]


@dataclass(frozen=True)
class Effective:
    """The clinics as they apply right now, and each one's settings version."""

    clinics: ClinicsConfig
    versions: dict[str, int]


async def effective_clinics(
    session: AsyncSession, *, file: ClinicsConfig, now: datetime, apply_file: bool = True
) -> tuple[Effective, list[str]]:
    """At start: mirror the file's clinics, decide each one's settings (see the module's
    docstring), store the file's settings as a version where they apply, and return the
    clinics whose check-in plan changed (to be re-planned).

    With `apply_file=False` (every CLI command but `run` and `demo`) a clinic that has stored
    settings keeps them, whatever the file says: an operator's command run with another copy
    of the file must not change the running bot's settings. Only a clinic new to the database
    is created from the file."""
    await audit.hold_chain(session)  # before the clinics' rows and the re-plan, as `save`
    chosen: list[ClinicConfig] = []
    versions: dict[str, int] = {}
    from_file: list[ClinicConfig] = []
    for clinic in file.clinics:
        stored = await _newest(session, clinic.id)
        current = (
            from_json(stored.settings, where=f"clinic {clinic.id} v{stored.version}")
            if stored is not None
            else None
        )
        keep = current is not None and (
            not apply_file or clinic.managed_by == current.managed_by == ManagedBy.CONSOLE
        )
        if current is not None and stored is not None and keep:
            if apply_file and as_json(current) != as_json(clinic):
                log.warning(
                    "settings.file_ignored clinic=%s version=%d: the clinic is managed in the "
                    "console; its settings in %s are not used (aftercare config export writes "
                    "the ones in use)",
                    clinic.id,
                    stored.version,
                    file.source,
                )
            chosen.append(current)
            versions[clinic.id] = stored.version
            continue
        chosen.append(clinic)
        from_file.append(clinic)
    mirrored = chosen if apply_file else from_file
    replan = await sync_clinics(
        session,
        clinics=[ClinicRow(c.id, c.name, c.timezone, c.plan_fingerprint()) for c in mirrored],
        now=now,
    )
    for clinic in from_file:
        adopted = await _store_file_version(session, clinic, now)
        if adopted is not None:  # another instance stored a version meanwhile: that one
            chosen = [adopted[0] if c.id == clinic.id else c for c in chosen]
            versions[clinic.id] = adopted[1]
        else:
            row = await get_clinic(session, clinic_id=clinic.id)
            assert row is not None
            versions[clinic.id] = row.settings_version
    await session.flush()
    return Effective(file.model_copy(update={"clinics": chosen}), versions), replan


async def record_loaded(
    session: AsyncSession, *, file: ClinicsConfig, effective: Effective, now: datetime
) -> None:
    """The audit's note of a start: which clinic file was read, and the versions in force."""
    await audit.append(
        session,
        at=now,
        actor=Actor.of(ActorKind.SYSTEM),
        event="config.loaded",
        detail={
            "source": file.source,
            "clinics": [c.id for c in file.clinics],
            "versions": effective.versions,
        },
    )


async def _newest(session: AsyncSession, clinic_id: str) -> ClinicSettings | None:
    row = await get_clinic(session, clinic_id=clinic_id)
    if row is None or row.settings_version == 0:
        return None
    return await settings_version(session, clinic_id=clinic_id, version=row.settings_version)


async def _store_file_version(
    session: AsyncSession, clinic: ClinicConfig, now: datetime
) -> tuple[ClinicConfig, int] | None:
    """Store the file's settings as the clinic's newest version unless they already are; None
    when they are in place, else the version another instance stored first (to be used)."""
    row = await get_clinic(session, clinic_id=clinic.id)
    assert row is not None
    row.managed_by = ManagedBy(clinic.managed_by)
    stored = await _newest(session, clinic.id)
    if stored is not None and json.loads(stored.settings) == as_json(clinic):
        return None
    version = row.settings_version + 1
    if await add_settings_version(
        session,
        row=_version_row(clinic, version, SettingsSource.FILE, Actor.of(ActorKind.CONFIG), now),
        expected_version=row.settings_version,
    ):
        row.settings_version = version
        return None
    await session.refresh(row)
    newest = await _newest(session, clinic.id)
    if newest is None:
        return None
    return from_json(newest.settings, where=f"clinic {clinic.id} v{newest.version}"), newest.version


def _version_row(
    clinic: ClinicConfig, version: int, source: SettingsSource, actor: Actor, now: datetime
) -> ClinicSettings:
    return ClinicSettings(
        clinic_id=clinic.id,
        version=version,
        settings=json.dumps(as_json(clinic), sort_keys=True),
        source=source,
        saved_at=now,
        saved_by=actor,
    )


async def save(
    session: AsyncSession,
    *,
    clinic: ClinicConfig,
    based_on: int,
    actor: Actor,
    now: datetime,
    source: SettingsSource = SettingsSource.CONSOLE,
) -> Saved:
    """Store `clinic` as the newest version (if `based_on` is still the newest), re-plan unsent
    check-ins when the plan's shape changed, and audit it."""
    # The chain's lock before the clinic's row and the check-ins it moves: the order every
    # writer keeps, so the dispatcher or a secret's rotation cannot wait on us in a cycle.
    await audit.hold_chain(session)
    row = await get_clinic(session, clinic_id=clinic.id)
    if row is None:
        raise SettingsError(f"There is no clinic {clinic.id!r}.")
    if row.managed_by != ManagedBy.CONSOLE:
        raise SettingsError(
            "This clinic's settings come from the clinic file, which wins at every start; "
            'change them there (or set managed_by = "console" in the file).'
        )
    previous = await settings_version(session, clinic_id=clinic.id, version=row.settings_version)
    if previous is None or row.settings_version != based_on:
        raise SettingsConflict(
            "Someone saved these settings since you opened them. Reload to see their version; "
            "nothing was saved."
        )
    before = from_json(previous.settings, where=f"clinic {clinic.id} v{previous.version}")
    clinic = clinic.model_copy(update={"managed_by": ManagedBy.CONSOLE.value})
    missing = sorted(await protocols_in_use(session, clinic_id=clinic.id) - set(clinic.protocols))
    if missing:
        raise SettingsError(
            f"Protocol {', '.join(missing)} is still used by patients or active infusions; "
            "these settings must keep it."
        )
    changes = changes_between(before, clinic)
    if not changes:
        return Saved(clinic, row.settings_version, 0, [])
    version = row.settings_version + 1
    if not await add_settings_version(
        session, row=_version_row(clinic, version, source, actor, now), expected_version=based_on
    ):
        raise SettingsConflict("Someone saved these settings a moment ago; nothing was saved.")
    row.settings_version = version
    patients = await patients_to_replan(session, clinic=clinic)  # the preview's rule too
    replanned = await replan(session, patients=patients, clinic=clinic, now=now, actor=actor)
    row.name, row.timezone, row.plan_fingerprint, row.updated_at = (
        clinic.name,
        clinic.timezone,
        clinic.plan_fingerprint(),
        now,
    )
    await audit.append(
        session,
        at=now,
        actor=actor,
        event="settings.saved",
        clinic_id=clinic.id,
        detail={
            "version": version,
            "source": source,
            "changed": [change.path for change in changes][:50],
            "replanned_patients": replanned,
        },
    )
    await session.flush()
    return Saved(clinic, version, replanned, changes)


async def restore(
    session: AsyncSession,
    *,
    clinic_id: str,
    version: int,
    based_on: int,
    actor: Actor,
    now: datetime,
) -> Saved:
    """Save an earlier version again, as the newest."""
    old = await settings_version(session, clinic_id=clinic_id, version=version)
    if old is None:
        raise SettingsError(f"There is no version {version} of these settings.")
    clinic = from_json(old.settings, where=f"clinic {clinic_id} v{version}")
    return await save(
        session,
        clinic=clinic,
        based_on=based_on,
        actor=actor,
        now=now,
        source=SettingsSource.RESTORE,
    )


@dataclass(frozen=True)
class SettingsAccess:
    """What the console may do with a clinic's settings (and its rotation), for one viewer."""

    managed_by: ManagedBy
    is_admin: bool

    @property
    def in_console(self) -> bool:
        """The console's saved versions win (else the clinic file does, read-only here)."""
        return self.managed_by is ManagedBy.CONSOLE

    @property
    def editable(self) -> bool:
        """This viewer may change them in the console: an admin of a console-managed clinic."""
        return self.is_admin and self.in_console


async def access(session: AsyncSession, *, clinic_id: str, is_admin: bool) -> SettingsAccess:
    return SettingsAccess(await managed_by(session, clinic_id=clinic_id), is_admin)


async def managed_by(session: AsyncSession, *, clinic_id: str) -> ManagedBy:
    """Which wins for the clinic's settings (see the module's docstring)."""
    row = await get_clinic(session, clinic_id=clinic_id)
    return row.managed_by if row is not None else ManagedBy.FILE


async def saved_by_names(session: AsyncSession, *, clinic_id: str) -> dict[str, str]:
    """The clinic's clinicians by actor (`clinician:ID`), for naming who saved a version."""
    return {
        f"clinician:{c.id}": c.name
        for c in await clinicians_of_clinic(session, clinic_id=clinic_id)
    }


async def admin_names(session: AsyncSession, *, clinic_id: str) -> list[str]:
    """Who may change the clinic's settings: its active admins, by name."""
    return [c.name for c in await clinicians_of_clinic(session, clinic_id=clinic_id) if c.is_admin]


async def history(
    session: AsyncSession, *, clinic_id: str, limit: int = 50
) -> list[ClinicSettings]:
    return await settings_history(session, clinic_id=clinic_id, limit=limit)


async def stored_version(
    session: AsyncSession, *, clinic_id: str, version: int
) -> ClinicConfig | None:
    row = await settings_version(session, clinic_id=clinic_id, version=version)
    return None if row is None else from_json(row.settings, where=f"clinic {clinic_id} v{version}")

"""The clinics' webhook signing secrets: made by Aftercare, shown once, kept sealed, rotated with
an overlap; and the secrets that sign a clinic's webhook event now.

A clinic's secret is `whsec_` and 43 random URL-safe characters (`secrets.token_urlsafe`),
stored only sealed (`secret_box`, AFTERCARE_SECRET_KEY) with its last four characters as a
hint. Creating one while the clinic has one rotates: the old one goes on signing beside the new
one for OVERLAP (events carry a `v1` for each), or until an admin ends the overlap; a second
rotation ends the first one's overlap at once, so at most two secrets sign. Every creation,
rotation and ending is audited, never with the secret.

The legacy AFTERCARE_PAGE_WEBHOOK_SECRET signs only for clinics that never had a secret of their
own (one shared secret lets any clinic's receiver accept another clinic's events, so start-up
warns of it). A clinic with secrets that cannot be read (AFTERCARE_SECRET_KEY unset or changed)
is not signed with the shared one instead: its events go unsigned and every one is logged.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from bot.clinic_config import ClinicConfig
from bot.i18n import NC_
from bot.services.paging.secret_box import SecretBox, Unreadable
from bot.settings import Settings
from storage import audit
from storage.models import WebhookSecret
from storage.states import Actor
from storage.webhook_secrets import (
    add_webhook_secret,
    clinics_with_webhook_secrets,
    live_webhook_secrets,
    live_webhook_secrets_of_cases,
    lock_clinic,
)

log = logging.getLogger(__name__)

OVERLAP = timedelta(hours=24)
SECRET_PREFIX = "whsec_"
HINT_LENGTH = 4
NO_KEY = NC_(  # said with C_() where a clinician reads it (the console's signing page)
    "Signing secrets cannot be created on this server yet: its operator must set "
    "AFTERCARE_SECRET_KEY (a key printed by `aftercare webhook new-key`), which keeps them "
    "encrypted, and restart Aftercare."
)


class SigningUnavailable(Exception):
    """No AFTERCARE_SECRET_KEY: no secret can be sealed."""


class SigningConflict(Exception):
    """The clinic's secrets changed since the form was shown."""


@dataclass(frozen=True)
class SecretInfo:
    """What may be shown of a secret: never the secret."""

    id: int
    hint: str
    created_at: datetime
    created_by: Actor
    expires_at: datetime | None  # None: the current one

    @property
    def masked(self) -> str:
        return f"{SECRET_PREFIX}••••••••{self.hint}"


@dataclass(frozen=True)
class SigningState:
    """A clinic's signing as its admins see it."""

    secrets: list[SecretInfo]  # the live ones, newest first
    can_create: bool  # AFTERCARE_SECRET_KEY is set
    legacy: bool  # AFTERCARE_PAGE_WEBHOOK_SECRET is set

    @property
    def current(self) -> SecretInfo | None:
        return next((s for s in self.secrets if s.expires_at is None), None)

    @property
    def retiring(self) -> list[SecretInfo]:
        return [s for s in self.secrets if s.expires_at is not None]

    @property
    def based_on(self) -> int:
        """What a form must send back to create or rotate: the current secret's id, or 0."""
        return self.current.id if self.current else 0


@dataclass(frozen=True)
class Issued:
    """A new secret, to be shown once and never again."""

    secret: str
    info: SecretInfo
    replaced: SecretInfo | None  # the one rotated out, signing until its `expires_at`

    def __repr__(self) -> str:
        return f"Issued(id={self.info.id}, replaced={self.replaced})"


@dataclass(frozen=True)
class Signing:
    """What signs one event: its clinic's secrets now, newest first (empty: unsigned)."""

    clinic_id: str
    secrets: tuple[str, ...]

    def __repr__(self) -> str:
        return f"Signing(clinic_id={self.clinic_id!r}, secrets={len(self.secrets)})"


def _info(row: WebhookSecret) -> SecretInfo:
    assert row.id is not None
    return SecretInfo(row.id, row.hint, row.created_at, row.created_by, row.expires_at)


async def state(
    session: AsyncSession, *, clinic_id: str, settings: Settings, now: datetime
) -> SigningState:
    rows = await live_webhook_secrets(session, clinic_id=clinic_id, now=now)
    return SigningState(
        secrets=[_info(row) for row in rows],
        can_create=settings.secret_key is not None,
        legacy=settings.page_webhook_secret is not None,
    )


async def issue(
    session: AsyncSession,
    *,
    clinic_id: str,
    based_on: int,
    box: SecretBox | None,
    actor: Actor,
    now: datetime,
    overlap: timedelta = OVERLAP,
) -> Issued:
    """A new secret for the clinic, sealed and audited (`webhook_secret.created`, or
    `webhook_secret.rotated` when it replaces one, which signs beside it for `overlap`).
    `based_on` is the current secret's id the admin saw (0: none); SigningConflict if it is
    no longer current, SigningUnavailable without AFTERCARE_SECRET_KEY."""
    if box is None:
        raise SigningUnavailable(NO_KEY)
    if not await lock_clinic(session, clinic_id=clinic_id):
        raise SigningConflict(f"no clinic {clinic_id!r}")
    live = await live_webhook_secrets(session, clinic_id=clinic_id, now=now)
    current = next((row for row in live if row.expires_at is None), None)
    if (current.id if current else 0) != based_on:
        raise SigningConflict(
            "The clinic's signing secret changed since this page was shown; nothing was changed."
        )
    ended = [row for row in live if row.expires_at is not None]
    for row in ended:  # a rotation during an overlap ends the older overlap at once
        row.expires_at = now
    if current is not None:
        current.expires_at = now + overlap
    plain = SECRET_PREFIX + secrets.token_urlsafe(32)
    row = await add_webhook_secret(
        session,
        row=WebhookSecret(
            clinic_id=clinic_id,
            sealed=box.seal(plain),
            hint=plain[-HINT_LENGTH:],
            created_at=now,
            created_by=actor,
        ),
    )
    await audit.append(
        session,
        at=now,
        actor=actor,
        event="webhook_secret.rotated" if current else "webhook_secret.created",
        clinic_id=clinic_id,
        detail={
            "id": row.id,
            "replaced": current.id if current else None,
            "replaced_until": (
                current.expires_at.isoformat() if current and current.expires_at else None
            ),
            "ended": [r.id for r in ended],
        },
    )
    return Issued(plain, _info(row), _info(current) if current else None)


async def end_overlap(
    session: AsyncSession, *, clinic_id: str, actor: Actor, now: datetime
) -> list[int]:
    """Stop the secrets being rotated out from signing now (`webhook_secret.overlap_ended`);
    the ids ended, none when there was no overlap."""
    await lock_clinic(session, clinic_id=clinic_id)
    live = await live_webhook_secrets(session, clinic_id=clinic_id, now=now)
    ending = [row for row in live if row.expires_at is not None]
    for row in ending:
        row.expires_at = now
    ids = [row.id for row in ending if row.id is not None]
    if ids:
        await audit.append(
            session,
            at=now,
            actor=actor,
            event="webhook_secret.overlap_ended",
            clinic_id=clinic_id,
            detail={"ended": ids},
        )
    return ids


async def signing_for_cases(
    session: AsyncSession,
    *,
    case_ids: Iterable[int],
    box: SecretBox | None,
    legacy: str | None,
    now: datetime,
) -> dict[int, Signing]:
    """For each case, what signs its clinic's webhook events now: the clinic's live secrets
    (newest first); the legacy shared secret only for a clinic that has none; nothing when
    neither can be had (logged)."""
    found = await live_webhook_secrets_of_cases(session, case_ids=case_ids, now=now)
    out: dict[int, Signing] = {}
    for case_id, (clinic_id, rows) in found.items():
        opened = [plain for row in rows if (plain := _open(box, row)) is not None]
        if not rows and legacy is not None:
            opened = [legacy]
        out[case_id] = Signing(clinic_id, tuple(opened))
    return out


def _open(box: SecretBox | None, row: WebhookSecret) -> str | None:
    if box is not None:
        try:
            return box.open(row.sealed)
        except Unreadable:
            pass
    log.error(
        "webhook.secret_unreadable clinic=%s secret=%s: %s",
        row.clinic_id,
        row.id,
        "AFTERCARE_SECRET_KEY is unset" if box is None else "sealed under another key",
    )
    return None


async def startup_problems(
    session: AsyncSession, *, clinics: Iterable[ClinicConfig], settings: Settings, now: datetime
) -> list[str]:
    """What an operator must hear at start-up about webhook signing (one line each)."""
    hooked = sorted(c.id for c in clinics if c.paging.webhook_url)
    if not hooked:
        return []
    own = await clinics_with_webhook_secrets(session, now=now)
    without = [c for c in hooked if c not in own]
    problems = []
    if settings.secret_key is None and own:
        problems.append(
            "AFTERCARE_SECRET_KEY is unset: the signing secrets of clinics "
            f"{', '.join(sorted(own))} cannot be read, so their webhook events go out unsigned"
        )
    elif settings.secret_key is None:
        problems.append(
            "AFTERCARE_SECRET_KEY is unset: clinics cannot create webhook signing secrets "
            "(`aftercare webhook new-key` prints a key)"
        )
    if without and settings.page_webhook_secret is not None:
        problems.append(
            "AFTERCARE_PAGE_WEBHOOK_SECRET signs the webhook of clinics "
            f"{', '.join(without)}: one secret shared by clinics lets one clinic's events be "
            "replayed to another's receiver; give each its own (console: Settings, Webhook "
            "signing) and then unset it"
        )
    elif without:
        problems.append(
            f"the webhook events of clinics {', '.join(without)} go out unsigned: give each a "
            "signing secret (console: Settings, Webhook signing)"
        )
    return problems

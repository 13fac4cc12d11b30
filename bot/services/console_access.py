"""Who may use the clinic console: single-use sign-in links from `/console`, and sessions.

Links and session tokens are random; only their SHA-256 is stored (as for invites). A link
is valid 10 minutes and once; a session ends after 12 hours without a page view or action,
7 days after sign-in at the latest, at sign-out, or when an admin ends it. A session works as
one clinician registration (one clinic); a clinician of several clinics switches between them.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy.ext.asyncio import AsyncSession

from storage import audit
from storage.console import (
    add_link,
    add_session,
    clinician_named,
    end_registration_sessions,
    end_sessions,
    link_by_hash,
    mark_seen,
    registrations,
    session_by_hash,
    use_link,
)
from storage.models import Clinician, ConsoleLink, ConsoleSession
from storage.states import Actor, SessionEnd, clinician_actor

LINK_VALID_FOR = timedelta(minutes=10)
IDLE_EXPIRY = timedelta(hours=12)
ABSOLUTE_EXPIRY = timedelta(days=7)
TOUCH_EVERY = timedelta(minutes=1)  # last_seen_at is written at most this often
TOKEN_BYTES = 32


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


class LinkProblem(StrEnum):
    """Why a sign-in link signs nobody in; each has its own page."""

    UNKNOWN = "unknown"  # forged or mistyped
    USED = "used"
    EXPIRED = "expired"
    NOT_A_CLINICIAN = "not_a_clinician"  # deactivated since the link was sent


@dataclass(frozen=True)
class Viewer:
    """The signed-in clinician of one request: the registration the session works as, and
    every registration of the same person (a clinician of several clinics chooses)."""

    session_id: int
    clinician: Clinician
    registrations: tuple[Clinician, ...]
    ends_at: datetime  # at the latest (7 days after sign-in)
    seen_at: datetime  # the session's last activity as stored

    @property
    def expires_at(self) -> datetime:
        return min(self.ends_at, self.seen_at + IDLE_EXPIRY)

    def seen_due(self, now: datetime) -> bool:
        """Whether a request at `now` is to be written down as activity (at most once in
        TOUCH_EVERY, so most requests only read)."""
        return now - self.seen_at >= TOUCH_EVERY

    @property
    def clinic_id(self) -> str:
        return self.clinician.clinic_id

    @property
    def actor(self) -> Actor:
        return clinician_actor(self.clinician.id)


async def issue_link(
    session: AsyncSession, *, clinician: Clinician, now: datetime, minted_by: Actor | None = None
) -> str:
    """A fresh sign-in link token for this clinician (shown once, stored as a hash). From
    `/console` the clinician asks for it; `minted_by` names someone else who minted it (the
    operator's `aftercare console link`), and the audit log says so."""
    assert clinician.id is not None
    token = secrets.token_urlsafe(TOKEN_BYTES)
    await add_link(
        session,
        link=ConsoleLink(
            token_hash=token_hash(token),
            clinician_id=clinician.id,
            telegram_user_id=clinician.telegram_user_id,
            created_at=now,
            expires_at=now + LINK_VALID_FOR,
        ),
    )
    await audit.append(
        session,
        at=now,
        actor=minted_by or clinician_actor(clinician.id),
        event="console.link_issued",
        clinic_id=clinician.clinic_id,
        detail=None if minted_by is None else {"minted_by": minted_by, "clinician": clinician.id},
    )
    return token


class OperatorLinkRefused(Exception):
    """No link minted: no one, or more than one, active clinician of that name in the clinic."""


def signin_url(base: str, token: str) -> str:
    """The sign-in page of a link token under the console's public URL (as `/console` sends)."""
    return f"{base.rstrip('/')}/signin/{token}"


async def operator_link(
    session: AsyncSession, *, clinic_id: str, name: str, now: datetime, minted_by: Actor
) -> tuple[Clinician, str]:
    """A link minted without Telegram (`aftercare console link`, the offline demo), by the rules
    of `/console`: only for an active clinician registered at that clinic; audited as minted
    by `minted_by`. OperatorLinkRefused when the name is unknown, deactivated or ambiguous."""
    found = await clinician_named(session, clinic_id=clinic_id, name=name)
    if not found:
        raise OperatorLinkRefused(
            f"no active clinician {name!r} in clinic {clinic_id} (not registered, or "
            "deactivated); nothing was minted"
        )
    if len(found) > 1:
        raise OperatorLinkRefused(
            f"{len(found)} active clinicians of clinic {clinic_id} are named {name!r}; "
            "nothing was minted"
        )
    token = await issue_link(session, clinician=found[0], now=now, minted_by=minted_by)
    return found[0], token


async def check_link(
    session: AsyncSession, *, token: str, now: datetime
) -> ConsoleLink | LinkProblem:
    """The link if it would sign someone in now (nothing is changed), else why not."""
    link = await link_by_hash(session, token_hash=token_hash(token))
    if link is None:
        return LinkProblem.UNKNOWN
    if link.used_at is not None:
        return LinkProblem.USED
    if link.expires_at <= now:
        return LinkProblem.EXPIRED
    if not await registrations(session, telegram_user_id=link.telegram_user_id):
        return LinkProblem.NOT_A_CLINICIAN
    return link


async def redeem_link(
    session: AsyncSession, *, token: str, now: datetime
) -> tuple[str, ConsoleSession] | LinkProblem:
    """Use the link (once) and open a session; the new session token and its row, or why not."""
    link = await check_link(session, token=token, now=now)
    if isinstance(link, LinkProblem):
        return link
    assert link.id is not None
    if not await use_link(session, link_id=link.id, now=now):
        return LinkProblem.USED  # another request used it a moment ago
    people = await registrations(session, telegram_user_id=link.telegram_user_id)
    if not people:
        return LinkProblem.NOT_A_CLINICIAN
    chosen = next((c for c in people if c.id == link.clinician_id), people[0])
    assert chosen.id is not None
    secret = secrets.token_urlsafe(TOKEN_BYTES)
    row = await add_session(
        session,
        row=ConsoleSession(
            token_hash=token_hash(secret),
            telegram_user_id=link.telegram_user_id,
            clinician_id=chosen.id,
            created_at=now,
            last_seen_at=now,
            expires_at=now + ABSOLUTE_EXPIRY,
        ),
    )
    await audit.append(
        session,
        at=now,
        actor=clinician_actor(chosen.id),
        event="console.signed_in",
        clinic_id=chosen.clinic_id,
        detail={"session": row.id},
    )
    return secret, row


async def viewer_of(
    session: AsyncSession, *, token: str, now: datetime, touch: bool = True
) -> Viewer | None:
    """The clinician behind a session cookie, or None (unknown, ended, idle, expired, or the
    clinician was deactivated). `touch` counts this request as activity for the idle expiry."""
    row = await session_by_hash(session, token_hash=token_hash(token))
    if row is None or row.id is None or row.ended_at is not None:
        return None
    if row.expires_at <= now or row.last_seen_at + IDLE_EXPIRY <= now:
        return None
    people = tuple(await registrations(session, telegram_user_id=row.telegram_user_id))
    current = next((c for c in people if c.id == row.clinician_id), None)
    if current is None:
        return None
    if touch and now - row.last_seen_at >= TOUCH_EVERY:
        row.last_seen_at = now
    return Viewer(row.id, current, people, ends_at=row.expires_at, seen_at=row.last_seen_at)


async def note_seen(session: AsyncSession, *, viewer: Viewer, now: datetime) -> Viewer:
    """Write down a request's activity on the viewer's session (read with `touch=False`)."""
    if not await mark_seen(session, session_id=viewer.session_id, now=now):
        return viewer  # ended (or seen later) meanwhile: its own next lookup says so
    return replace(viewer, seen_at=now)


async def switch_clinic(
    session: AsyncSession, *, token: str, clinician_id: int, now: datetime
) -> Viewer | None:
    """Work as another registration of the same person; None if it is not theirs."""
    # The chain before the session's row (the lookup may count the request as activity, a
    # write): the order of every writer, as a deactivation ending this session keeps.
    await audit.hold_chain(session)
    viewer = await viewer_of(session, token=token, now=now)
    if viewer is None or clinician_id not in {c.id for c in viewer.registrations}:
        return None
    row = await session_by_hash(session, token_hash=token_hash(token))
    assert row is not None
    row.clinician_id = clinician_id
    chosen = next(c for c in viewer.registrations if c.id == clinician_id)
    await audit.append(
        session,
        at=now,
        actor=clinician_actor(clinician_id),
        event="console.clinic_chosen",
        clinic_id=chosen.clinic_id,
        detail={"session": row.id},
    )
    return await viewer_of(session, token=token, now=now)


async def sign_out(session: AsyncSession, *, token: str, now: datetime) -> bool:
    """End this browser's session; False if it was not live."""
    await audit.hold_chain(session)  # before the session's row: the order of every writer
    row = await session_by_hash(session, token_hash=token_hash(token))
    if row is None or row.ended_at is not None:
        return False
    row.ended_at, row.ended_by = now, SessionEnd.SIGN_OUT
    clinic = await _clinic_of(session, row)
    await audit.append(
        session,
        at=now,
        actor=clinician_actor(row.clinician_id),
        event="console.signed_out",
        clinic_id=clinic,
        detail={"session": row.id},
    )
    return True


async def end_all_sessions(
    session: AsyncSession, *, clinician: Clinician, actor: Actor, now: datetime, by: SessionEnd
) -> int:
    """End every live console session of this clinician's Telegram account, in every clinic
    (`/console logout`: the person's own); how many ended."""
    await audit.hold_chain(session)  # before the sessions' rows: the order of every writer
    ended = await end_sessions(session, telegram_user_id=clinician.telegram_user_id, now=now, by=by)
    await _sessions_ended(session, clinician, actor, now, by, ended, scope="everywhere")
    return ended


async def end_clinic_sessions(
    session: AsyncSession, *, clinician: Clinician, actor: Actor, now: datetime, by: SessionEnd
) -> int:
    """End the live console sessions working as this registration only (an admin of its
    clinic, or its deactivation): the same person's sessions in another clinic go on."""
    await audit.hold_chain(session)  # before the sessions' rows: the order of every writer
    assert clinician.id is not None
    ended = await end_registration_sessions(session, clinician_id=clinician.id, now=now, by=by)
    await _sessions_ended(session, clinician, actor, now, by, ended, scope="clinic")
    return ended


async def _sessions_ended(
    session: AsyncSession,
    clinician: Clinician,
    actor: Actor,
    now: datetime,
    by: SessionEnd,
    ended: int,
    *,
    scope: str,
) -> None:
    await audit.append(
        session,
        at=now,
        actor=actor,
        event="console.sessions_ended",
        clinic_id=clinician.clinic_id,
        detail={"clinician": clinician.id, "ended": ended, "by": by, "scope": scope},
    )


async def _clinic_of(session: AsyncSession, row: ConsoleSession) -> str | None:
    people = await registrations(session, telegram_user_id=row.telegram_user_id)
    return next((c.clinic_id for c in people if c.id == row.clinician_id), None)

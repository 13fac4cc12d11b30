"""Webhooks signed per clinic, end to end: secrets made and rotated by the service, kept sealed,
events posted by the outbox over real HTTP to a local receiver that checks each one with the
procedure the README gives receivers (copied below, standard library only).

Real database (SQLite, and PostgreSQL when configured), real HTTP; the clock is a fixed one the
test moves, so an overlap of a day takes no time.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.fernet import Fernet
from pydantic import SecretStr
from sqlalchemy import select
from sqlmodel import col

from bot.channels.outbox import PageEvents
from bot.channels.webhook.body import signature_matches
from bot.clinic_config import ClinicsConfig, PagingConfig
from bot.context import AppContext
from bot.domain.levels import Level
from bot.services.paging import signing
from bot.services.paging.outbox import enqueue_followups, enqueue_trigger
from bot.services.paging.secret_box import SecretBox
from bot.settings import Settings
from storage.cases import get_case
from storage.clinics import ClinicRow, sync_clinics
from storage.engine import Database
from storage.models import AuditEvent, Case, Patient, WebhookSecret
from storage.states import CLI, CaseTrigger, PatientStatus
from tests.auxil.harness import TOKEN, make_clinics, rehearsal_clinic
from tests.auxil.receiver import Received, Receiver

KEY = Fernet.generate_key().decode()
LEGACY = "legacy-shared-secret"

# --- the README's receiver procedure, word for word -----------------------------------------
TOLERANCE = 300  # seconds


def verify(
    raw_body: bytes, header: str, secret: str, clinic_id: str, now: float | None = None
) -> bool:
    """True if X-Aftercare-Signature signs raw_body for this clinic, recently."""
    t, signatures = None, []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t" and value.isdigit():
            t = int(value)
        elif key == "v1":
            signatures.append(value.encode())
    if t is None or abs((time.time() if now is None else now) - t) > TOLERANCE:
        return False
    signed = f"{t}.".encode() + raw_body
    expected = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest().encode()
    if not any(hmac.compare_digest(expected, s) for s in signatures):
        return False
    return json.loads(raw_body).get("clinic") == clinic_id


# ---------------------------------------------------------------------------------------------


class FixedClock:
    def __init__(self) -> None:
        self.at = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)

    def now(self) -> datetime:
        return self.at

    def advance(self, delta: timedelta) -> None:
        self.at += delta

    @property
    def unix(self) -> int:
        return int(self.at.timestamp())


@dataclass
class Hooks:
    ctx: AppContext
    clock: FixedClock
    receiver: Receiver

    def outbox(self, **settings: object) -> PageEvents:
        ctx = self.ctx
        if settings:
            ctx = AppContext(
                settings=self.ctx.settings.model_copy(update=settings),
                clinics=self.ctx.clinics,
                db=self.ctx.db,
                clock=self.clock,
                instance_id="one",
            )
        return PageEvents(ctx, lease=timedelta(seconds=60), backoff=lambda _: timedelta(0))

    async def issue(self, clinic_id: str, *, key: str | None = KEY) -> signing.Issued:
        async with self.ctx.db.transaction() as session:
            state = await signing.state(
                session, clinic_id=clinic_id, settings=self.ctx.settings, now=self.clock.now()
            )
            return await signing.issue(
                session,
                clinic_id=clinic_id,
                based_on=state.based_on,
                box=SecretBox([key]) if key else None,
                actor=CLI,
                now=self.clock.now(),
            )

    async def trigger(self, clinic_id: str, ref: str = "P-1") -> Case:
        """A high case of the clinic with its webhook trigger queued."""
        now = self.clock.now()
        async with self.ctx.db.transaction() as session:
            patient = Patient(
                clinic_id=clinic_id,
                ref=ref,
                timezone="UTC",
                status=PatientStatus.ACTIVE,
                consented_at=now,
                created_at=now,
            )
            session.add(patient)
            await session.flush()
            assert patient.id is not None
            case = Case(
                clinic_id=clinic_id,
                patient_id=patient.id,
                level=Level.HIGH,
                trigger=CaseTrigger.CHECKIN,
                reason="C-SSRS item 4 = Yes",
                opened_at=now,
                ladder_started_at=now,
            )
            session.add(case)
            await session.flush()
            queued = await enqueue_trigger(
                session,
                case=case,
                clinic=self.ctx.clinic(clinic_id),
                channel="webhook",
                routing_key=None,
                summary=f"HIGH priority — case #{case.id}",
                reference=ref,
                text=f"HIGH priority — case #{case.id}",
                ack_url=None,
                now=now,
            )
            assert queued is not None
        return case

    async def acknowledge(self, case: Case) -> None:
        async with self.ctx.db.transaction() as session:
            row = await get_case(session, case_id=case.id or 0)
            assert row is not None
            now = self.clock.now()
            assert await enqueue_followups(session, case=row, action="acknowledge", now=now)


def _clinics(receiver: Receiver) -> ClinicsConfig:
    base = make_clinics(
        rehearsal_clinic(clinic_id="north") + rehearsal_clinic(clinic_id="south", name="South")
    )
    clinics = [
        c.model_copy(update={"paging": PagingConfig(webhook_url=f"{receiver.url}/hooks/{c.id}")})
        for c in base.clinics
    ]
    return base.model_copy(update={"clinics": clinics})


async def _hooks(db: Database, receiver: Receiver, **settings: object) -> Hooks:
    clinics = _clinics(receiver)
    values: dict[str, object] = {
        "secret_key": SecretStr(KEY),
        "outbound_allow": "127.0.0.0/8",  # the local receiver (the outbound-URL guard)
        "outbound_allow_http": True,
        **settings,
    }
    config = Settings(
        _env_file=None,  # type: ignore[call-arg]
        telegram_token=TOKEN,
        database_url="sqlite+aiosqlite:///unused.db",
        **values,  # type: ignore[arg-type]
    )
    clock = FixedClock()
    ctx = AppContext(settings=config, clinics=clinics, db=db, clock=clock, instance_id="one")
    async with db.transaction() as session:
        rows = [ClinicRow(c.id, c.name, c.timezone, c.plan_fingerprint()) for c in clinics.clinics]
        await sync_clinics(session, clinics=rows, now=clock.now())
    return Hooks(ctx, clock, receiver)


def _header(request: Received) -> str:
    header = request.header("X-Aftercare-Signature")
    assert header is not None
    return header


def _v1(request: Received) -> list[str]:
    return [p[3:] for p in _header(request).split(",") if p.startswith("v1=")]


async def test_each_clinic_signs_with_its_own_secret_and_its_receiver_verifies_it(
    db: Database,
) -> None:
    async with Receiver() as receiver:
        hooks = await _hooks(db, receiver)
        north, south = await hooks.issue("north"), await hooks.issue("south")
        await hooks.trigger("north")
        await hooks.trigger("south", ref="P-2")
        assert await hooks.outbox().run_due() == 2
    [to_north], [to_south] = receiver.on("/hooks/north"), receiver.on("/hooks/south")
    now = hooks.clock.unix
    assert to_north.json()["clinic"] == "north" and to_south.json()["clinic"] == "south"
    assert _header(to_north).startswith(f"t={now},v1=")
    assert verify(to_north.body, _header(to_north), north.secret, "north", now=now)
    assert verify(to_south.body, _header(to_south), south.secret, "south", now=now)
    assert signature_matches(
        to_north.body, north.secret, _header(to_north), clinic_id="north", now=now
    )
    # south's event, replayed to north's receiver: north's secret does not verify it
    assert not verify(to_south.body, _header(to_south), north.secret, "north", now=now)
    assert not signature_matches(
        to_south.body, north.secret, _header(to_south), clinic_id="north", now=now
    )
    # nor does an old capture, five minutes and a second later
    assert not verify(to_north.body, _header(to_north), north.secret, "north", now=now + 301)
    assert north.secret.startswith("whsec_") and len(north.secret) == 6 + 43
    # kept sealed, never in the audit log
    async with db.transaction() as session:
        sealed = (await session.scalars(select(WebhookSecret.sealed))).all()
        audited = [(e.event, e.detail) for e in (await session.scalars(select(AuditEvent))).all()]
    assert len(sealed) == 2 and not any(north.secret in s or south.secret in s for s in sealed)
    assert SecretBox([KEY]).open(sealed[0]) in {north.secret, south.secret}
    assert [e for e, _ in audited if e.startswith("webhook_secret.")] == [
        "webhook_secret.created"
    ] * 2
    assert not any(north.secret[6:] in d or south.secret[6:] in d for _, d in audited)


async def test_a_rotation_signs_with_both_until_the_overlap_ends(db: Database) -> None:
    async with Receiver() as receiver:
        hooks = await _hooks(db, receiver)
        t0 = hooks.clock.unix
        old = await hooks.issue("north")
        new = await hooks.issue("north")  # a rotation
        assert new.replaced is not None and new.replaced.id == old.info.id
        assert new.replaced.expires_at == hooks.clock.now() + signing.OVERLAP
        case = await hooks.trigger("north")
        await hooks.outbox().run_due()
        hooks.clock.advance(signing.OVERLAP - timedelta(seconds=1))
        await hooks.acknowledge(case)
        await hooks.outbox().run_due()  # still in the overlap
        hooks.clock.advance(timedelta(seconds=1))  # the overlap is over
        await hooks.trigger("north", ref="P-2")
        await hooks.outbox().run_due()
    during, last_second, after = receiver.on("/hooks/north")
    end = t0 + int(signing.OVERLAP.total_seconds())
    assert _header(after).startswith(f"t={end},")
    assert len(_v1(during)) == 2 and len(_v1(last_second)) == 2 and len(_v1(after)) == 1
    for secret in (new.secret, old.secret):  # a receiver on either secret accepts it
        assert verify(during.body, _header(during), secret, "north", now=t0)
    assert (
        _v1(during)[0]
        == hmac.new(
            new.secret.encode(), f"{t0}.".encode() + during.body, hashlib.sha256
        ).hexdigest()
    )  # the newest first
    assert verify(last_second.body, _header(last_second), old.secret, "north", now=end - 1)
    assert verify(after.body, _header(after), new.secret, "north", now=end)
    assert not verify(after.body, _header(after), old.secret, "north", now=end)
    async with db.transaction() as session:
        events = (
            await session.scalars(
                select(AuditEvent).where(col(AuditEvent.event).startswith("webhook_secret."))
            )
        ).all()
    assert [(e.event, json.loads(e.detail)["replaced"]) for e in events] == [
        ("webhook_secret.created", None),
        ("webhook_secret.rotated", old.info.id),
    ]


async def test_ending_the_overlap_stops_the_old_secret_at_once(db: Database) -> None:
    async with Receiver() as receiver:
        hooks = await _hooks(db, receiver)
        first = await hooks.issue("north")
        second = await hooks.issue("north")
        third = await hooks.issue("north")  # a rotation during an overlap ends the older one
        async with db.transaction() as session:
            state = await signing.state(
                session, clinic_id="north", settings=hooks.ctx.settings, now=hooks.clock.now()
            )
        assert [s.id for s in state.secrets] == [third.info.id, second.info.id]
        await hooks.trigger("north")
        await hooks.outbox().run_due()
        async with db.transaction() as session:
            ended = await signing.end_overlap(
                session, clinic_id="north", actor=CLI, now=hooks.clock.now()
            )
            again = await signing.end_overlap(
                session, clinic_id="north", actor=CLI, now=hooks.clock.now()
            )
        assert ended == [second.info.id] and again == []
        await hooks.trigger("north", ref="P-2")
        await hooks.outbox().run_due()
    both, only = receiver.on("/hooks/north")
    now = hooks.clock.unix
    assert len(_v1(both)) == 2 and len(_v1(only)) == 1
    assert verify(both.body, _header(both), second.secret, "north", now=now)
    assert not verify(both.body, _header(both), first.secret, "north", now=now)
    assert verify(only.body, _header(only), third.secret, "north", now=now)
    assert not verify(only.body, _header(only), second.secret, "north", now=now)


async def test_a_retry_is_signed_afresh_over_the_same_body(db: Database) -> None:
    async with Receiver([503, 202]) as receiver:
        hooks = await _hooks(db, receiver)
        issued = await hooks.issue("north")
        await hooks.trigger("north")
        outbox = hooks.outbox()
        await outbox.run_due()
        first_at = hooks.clock.unix
        hooks.clock.advance(timedelta(minutes=10))
        await outbox.run_due()
    failed, sent = receiver.on("/hooks/north")
    assert failed.body == sent.body
    assert _header(failed).startswith(f"t={first_at},") and _header(sent).startswith(
        f"t={first_at + 600},"
    )
    assert verify(sent.body, _header(sent), issued.secret, "north", now=hooks.clock.unix)
    # the first attempt's signature, replayed now, is too old
    assert not verify(failed.body, _header(failed), issued.secret, "north", now=hooks.clock.unix)


async def test_a_stale_form_or_no_key_creates_nothing(db: Database) -> None:
    async with Receiver() as receiver:
        hooks = await _hooks(db, receiver)
        await hooks.issue("north")
        async with db.transaction() as session:
            with pytest.raises(signing.SigningConflict):
                await signing.issue(
                    session,
                    clinic_id="north",
                    based_on=0,  # the page showed no secret: someone made one since
                    box=SecretBox([KEY]),
                    actor=CLI,
                    now=hooks.clock.now(),
                )
            with pytest.raises(signing.SigningUnavailable, match="AFTERCARE_SECRET_KEY"):
                await signing.issue(
                    session,
                    clinic_id="south",
                    based_on=0,
                    box=None,
                    actor=CLI,
                    now=hooks.clock.now(),
                )
    async with db.transaction() as session:
        assert len((await session.scalars(select(WebhookSecret))).all()) == 1


async def test_without_a_key_the_legacy_secret_signs_and_start_up_says_so(
    db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    async with Receiver() as receiver:
        hooks = await _hooks(db, receiver, secret_key=None, page_webhook_secret=SecretStr(LEGACY))
        await hooks.trigger("north")
        await hooks.outbox().run_due()
        async with db.transaction() as session:
            problems = await signing.startup_problems(
                session,
                clinics=hooks.ctx.clinics.clinics,
                settings=hooks.ctx.settings,
                now=hooks.clock.now(),
            )
        caplog.set_level(logging.WARNING, logger="bot.channels.outbox")
        await hooks.trigger("south", ref="P-2")
        await hooks.outbox(page_webhook_secret=None).run_due()
    [signed], [unsigned] = receiver.on("/hooks/north"), receiver.on("/hooks/south")
    assert verify(signed.body, _header(signed), LEGACY, "north", now=hooks.clock.unix)
    assert unsigned.header("X-Aftercare-Signature") is None
    assert "page_event.unsigned" in caplog.text  # never silently unsigned
    assert any("AFTERCARE_SECRET_KEY is unset" in p for p in problems)
    assert any(
        "AFTERCARE_PAGE_WEBHOOK_SECRET signs the webhook of clinics north, south" in p
        for p in problems
    )


async def test_a_clinic_with_its_own_secrets_never_falls_back_to_the_shared_one(
    db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    other = Fernet.generate_key().decode()
    async with Receiver() as receiver:
        hooks = await _hooks(db, receiver, page_webhook_secret=SecretStr(LEGACY))
        issued = await hooks.issue("north")
        await hooks.trigger("north")
        caplog.set_level(logging.ERROR, logger="bot.services.paging.signing")
        await hooks.outbox(secret_key=SecretStr(other)).run_due()  # the key was changed
        await hooks.trigger("north", ref="P-2")
        await hooks.outbox(secret_key=SecretStr(f"{other},{KEY}")).run_due()  # both keys
    unreadable, readable = receiver.on("/hooks/north")
    assert unreadable.header("X-Aftercare-Signature") is None
    assert "webhook.secret_unreadable clinic=north" in caplog.text
    assert issued.secret not in caplog.text
    assert verify(readable.body, _header(readable), issued.secret, "north", now=hooks.clock.unix)
    assert not verify(readable.body, _header(readable), LEGACY, "north", now=hooks.clock.unix)

"""The outbox of page events: queued in the database, claimed under a lease, posted over real HTTP
to a local receiver, retried with backoff, recorded, audited and counted.

Real database (SQLite, and PostgreSQL when configured), real HTTP; the clock is a fixed one the
test moves, so a backoff of minutes takes no time.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from pydantic import SecretStr
from sqlalchemy import select
from sqlmodel import col

from bot.channels.outbox import PageEvents
from bot.clinic_config import ClinicConfig, ClinicsConfig, PagingConfig
from bot.context import AppContext
from bot.dispatch.dispatcher import Dispatcher
from bot.domain.levels import Level
from bot.messaging.delivery import Outcome
from bot.services.paging.outbox import enqueue_followups, enqueue_trigger, routing_key_for
from bot.settings import Settings
from sandbox import BotApiSandbox
from storage.cases import claim_due_page_events, get_case
from storage.clinics import ClinicRow, sync_clinics
from storage.engine import Database
from storage.models import AuditEvent, Case, Clinician, PageEvent, Patient
from storage.states import CaseTrigger, PatientStatus
from tests.auxil.harness import LOCAL_ALLOW, TOKEN, make_clinics, rehearsal_clinic
from tests.auxil.receiver import Receiver
from tests.auxil.units import unit

SECRET = "webhook-secret-for-tests"
EVENTS, HOOK = "/v2/enqueue", "/hooks/aftercare"
SHORT = timedelta(seconds=2)


class FixedClock:
    def __init__(self) -> None:
        self.at = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)

    def now(self) -> datetime:
        return self.at

    def advance(self, delta: timedelta) -> None:
        self.at += delta


@dataclass
class Outbox:
    ctx: AppContext
    clock: FixedClock
    clinic: ClinicConfig
    receiver: Receiver

    def worker(self, **options: object) -> PageEvents:
        options.setdefault("backoff", lambda attempt: SHORT)
        return PageEvents(self.ctx, lease=timedelta(seconds=60), **options)  # type: ignore[arg-type]

    def other_instance(self, instance_id: str) -> AppContext:
        return replace(self.ctx, instance_id=instance_id)


def _clinics(receiver: Receiver, base: ClinicsConfig) -> ClinicsConfig:
    paging = PagingConfig(
        events_url=f"{receiver.url}{EVENTS}",
        routing_key="CLINIC-KEY",
        routing_keys={Level.HIGH: "HIGH-KEY"},
        webhook_url=f"{receiver.url}{HOOK}",
    )
    clinic = base.clinics[0].model_copy(update={"paging": paging})
    return base.model_copy(update={"clinics": [clinic]})


async def _outbox(db: Database, receiver: Receiver, *, secret: str | None = SECRET) -> Outbox:
    clinics = _clinics(receiver, make_clinics(rehearsal_clinic()))
    settings = Settings(
        _env_file=None,
        telegram_token=TOKEN,
        database_url="sqlite+aiosqlite:///unused.db",
        page_webhook_secret=SecretStr(secret) if secret else None,
        outbound_allow=LOCAL_ALLOW,  # the receiver is on this machine, over http
        outbound_allow_http=True,
    )
    clock = FixedClock()
    ctx = AppContext(settings=settings, clinics=clinics, db=db, clock=clock, instance_id="one")
    async with db.transaction() as session:
        rows = [ClinicRow(c.id, c.name, c.timezone, c.plan_fingerprint()) for c in clinics.clinics]
        await sync_clinics(session, clinics=rows, now=clock.now())
    return Outbox(ctx, clock, clinics.clinics[0], receiver)


async def _case(o: Outbox, *, ref: str = "P-1", level: Level = Level.HIGH) -> Case:
    now = o.clock.now()
    async with o.ctx.db.transaction() as session:
        patient = Patient(
            clinic_id=o.clinic.id,
            ref=ref,
            timezone="UTC",
            baseline_mood=6,
            status=PatientStatus.ACTIVE,
            consented_at=now,
            created_at=now,
        )
        session.add(patient)
        await session.flush()
        assert patient.id is not None
        case = Case(
            clinic_id=o.clinic.id,
            patient_id=patient.id,
            level=level,
            trigger=CaseTrigger.CHECKIN,
            reason="C-SSRS item 4 = Yes",
            opened_at=now,
            ladder_started_at=now,
        )
        session.add(case)
        await session.flush()
    return case


async def _trigger(
    o: Outbox, case: Case, channel: str = "pager", routing_key: str | None = "R-1"
) -> PageEvent | None:
    async with o.ctx.db.transaction() as session:
        row = await get_case(session, case_id=case.id or 0)
        assert row is not None
        return await enqueue_trigger(
            session,
            case=row,
            clinic=o.clinic,
            channel=channel,
            routing_key=routing_key,
            summary=f"HIGH priority — case #{case.id} (P-1)",
            reference="P-1",
            text=f"HIGH priority — case #{case.id}\nPatient P-1",
            ack_url="https://console.example/console/ack/tok",
            now=o.clock.now(),
        )


async def _followups(o: Outbox, case: Case, action: str) -> int:
    async with o.ctx.db.transaction() as session:
        row = await get_case(session, case_id=case.id or 0)
        assert row is not None
        return await enqueue_followups(session, case=row, action=action, now=o.clock.now())


async def _events(o: Outbox) -> list[PageEvent]:
    async with o.ctx.db.transaction() as session:
        return list((await session.scalars(select(PageEvent).order_by(col(PageEvent.id)))).all())


async def _audit(o: Outbox, prefix: str = "page_event.") -> list[tuple[str, dict[str, object]]]:
    async with o.ctx.db.transaction() as session:
        rows = await session.scalars(
            select(AuditEvent)
            .where(col(AuditEvent.event).startswith(prefix))
            .order_by(col(AuditEvent.id))
        )
        return [(r.event, json.loads(r.detail)) for r in rows.all()]


def _count(o: Outbox, name: str, **labels: str) -> float:
    value = o.ctx.metrics.registry.get_sample_value(name, labels)
    return value or 0.0


async def test_trigger_acknowledge_resolve_reach_the_service_once_each(db: Database) -> None:
    async with Receiver() as receiver:
        o = await _outbox(db, receiver)
        case = await _case(o)
        event = await _trigger(o, case, routing_key="R-1")
        assert event is not None and event.id is not None
        assert await _trigger(o, case, routing_key="R-1") is None  # a later rung: no second one

        outcomes = await o.worker().send_now([event.id])
        assert outcomes == {event.id: outcomes[event.id]}
        assert outcomes[event.id].outcome is Outcome.SENT

        assert await _followups(o, case, "acknowledge") == 1
        assert await _followups(o, case, "acknowledge") == 0  # a second tap adds nothing
        worker = o.worker()
        assert await worker.run_due() == 1
        assert await _followups(o, case, "resolve") == 1
        assert await _followups(o, case, "resolve") == 0
        assert await _followups(o, case, "acknowledge") == 0  # resolved already
        assert await worker.run_due() == 1
        assert await worker.run_due() == 0

    bodies = [r.json() for r in receiver.on(EVENTS)]
    assert len(receiver.requests) == 3
    assert [b["event_action"] for b in bodies] == ["trigger", "acknowledge", "resolve"]
    assert {b["dedup_key"] for b in bodies} == {f"aftercare-case-{case.id}"}
    assert {b["routing_key"] for b in bodies} == {"R-1"}
    payload = bodies[0]["payload"]
    assert payload == {
        "summary": f"HIGH priority — case #{case.id} (P-1)",
        "source": "aftercare",
        "severity": "critical",
    }
    assert bodies[0]["links"] == [
        {"href": "https://console.example/console/ack/tok", "text": "Acknowledge"}
    ]
    assert all("payload" not in b for b in bodies[1:])
    # the pager's events are not signed (only the clinic's webhook is), but carry their id
    assert all(r.header("X-Aftercare-Signature") is None for r in receiver.requests)
    rows = await _events(o)
    assert [r.header("X-Aftercare-Event-Id") for r in receiver.requests] == [
        str(r.id) for r in rows
    ]
    assert [(r.status, r.attempts) for r in rows] == [("sent", 1)] * 3
    assert all(r.sent_at == o.clock.now() and r.lease_owner is None for r in rows)
    audited = await _audit(o)
    assert [e for e, _ in audited] == ["page_event.sent"] * 3
    assert audited[0][1] == {
        "id": rows[0].id,
        "channel": "pager",
        "action": "trigger",
        "attempts": 1,
        "error": None,
    }
    assert _count(o, "aftercare_pages_total", channel="pager", outcome="sent") == 1
    followups = "aftercare_page_followups_total"
    assert _count(o, followups, channel="pager", action="acknowledge", outcome="sent") == 1
    assert _count(o, followups, channel="pager", action="resolve", outcome="sent") == 1


async def test_a_raised_case_triggers_again(db: Database) -> None:
    async with Receiver() as receiver:
        o = await _outbox(db, receiver)
        case = await _case(o)
        assert await _trigger(o, case) is not None
        assert await _trigger(o, case, routing_key="R-2") is not None  # another key: its own
        assert await _trigger(o, case) is None
        o.clock.advance(timedelta(minutes=10))
        async with o.ctx.db.transaction() as session:
            row = await get_case(session, case_id=case.id or 0)
            assert row is not None
            row.level, row.ladder_started_at = Level.HIGH, o.clock.now()  # as raise_case does
        assert await _trigger(o, case) is not None
        assert await _trigger(o, case) is None
    assert [e.routing_key for e in await _events(o)] == ["R-1", "R-2", "R-1"]


async def test_nothing_is_queued_without_a_key_or_a_webhook(db: Database) -> None:
    async with Receiver() as receiver:
        o = await _outbox(db, receiver)
        case = await _case(o)
        assert await _trigger(o, case, routing_key=None) is None
        o.clinic = o.clinic.model_copy(
            update={"paging": o.clinic.paging.model_copy(update={"webhook_url": None})}
        )
        assert await _trigger(o, case, channel="webhook") is None
        assert await _events(o) == []


async def test_429_and_503_are_retried_with_backoff_then_sent(db: Database) -> None:
    async with Receiver([(429, {"Retry-After": "30"}), 503, 202]) as receiver:
        o = await _outbox(db, receiver)
        event = await _trigger(o, await _case(o))
        assert event is not None
        worker = o.worker()
        start = o.clock.now()
        assert await worker.run_due() == 1
        [row] = await _events(o)
        assert (row.status, row.attempts, row.lease_owner) == ("pending", 1, None)
        assert row.next_attempt_at == start + timedelta(seconds=30)  # the receiver's Retry-After
        assert row.error is not None and row.error.startswith("HTTP 429")

        o.clock.advance(timedelta(seconds=29))
        assert await worker.run_due() == 0  # not yet
        o.clock.advance(timedelta(seconds=1))
        assert await worker.run_due() == 1  # 503, no Retry-After: the backoff given
        [row] = await _events(o)
        assert (row.status, row.attempts) == ("pending", 2)
        assert row.next_attempt_at == o.clock.now() + SHORT

        o.clock.advance(SHORT)
        assert await worker.run_due() == 1
        [row] = await _events(o)
        assert (row.status, row.attempts, row.sent_at) == ("sent", 3, o.clock.now())
        assert row.error is None
    assert len(receiver.requests) == 3
    assert len({r.body for r in receiver.requests}) == 1  # the same event each time
    assert [d["attempts"] for _, d in await _audit(o)] == [3]


async def test_a_final_failure_after_the_last_attempt_is_audited(db: Database) -> None:
    async with Receiver(default=503) as receiver:
        o = await _outbox(db, receiver)
        case = await _case(o)
        event = await _trigger(o, case)
        assert event is not None
        worker = o.worker(max_attempts=3)
        for _ in range(5):
            await worker.run_due()
            o.clock.advance(SHORT)
    assert len(receiver.requests) == 3
    [row] = await _events(o)
    assert (row.status, row.attempts, row.sent_at) == ("failed", 3, None)
    assert await _audit(o) == [
        (
            "page_event.failed",
            {
                "id": row.id,
                "channel": "pager",
                "action": "trigger",
                "attempts": 3,
                "error": "HTTP 503",
            },
        )
    ]
    assert _count(o, "aftercare_pages_total", channel="pager", outcome="failed") == 1
    # a trigger that never arrived: nothing to acknowledge, and a later rung may trigger again
    assert await _followups(o, case, "acknowledge") == 0
    assert await _trigger(o, case) is not None


async def test_a_400_fails_at_once(db: Database) -> None:
    async with Receiver([400]) as receiver:
        o = await _outbox(db, receiver)
        event = await _trigger(o, await _case(o))
        assert event is not None and event.id is not None
        outcomes = await o.worker().send_now([event.id])
        o.clock.advance(timedelta(hours=1))
        assert await o.worker().run_due() == 0
    assert outcomes[event.id].outcome is Outcome.FAILED
    assert len(receiver.requests) == 1
    [row] = await _events(o)
    assert (row.status, row.attempts) == ("failed", 1)
    assert row.error is not None and "scripted 400" in row.error  # the receiver's words, kept
    [(name, detail)] = await _audit(o)
    assert (name, detail["error"]) == ("page_event.failed", "HTTP 400")  # ...but not audited


async def test_two_workers_never_send_one_event_twice(db: Database) -> None:
    async with Receiver(delay=0.02) as receiver:
        o = await _outbox(db, receiver)
        ids = []
        for n in range(12):
            event = await _trigger(o, await _case(o, ref=f"P-{n}"), channel="webhook")
            assert event is not None and event.id is not None
            ids.append(event.id)
        one = o.worker(batch=3)
        two = PageEvents(o.other_instance("two"), lease=timedelta(seconds=60), batch=3)
        # the pager's fast path for the first four, and both instances' rounds, all at once
        await asyncio.gather(
            o.worker().send_now(ids[:4]),
            *(w.run_due() for _ in range(3) for w in (one, two)),
        )
        while await one.run_due() or await two.run_due():
            pass
    sent = [r.header("X-Aftercare-Event-Id") or "" for r in receiver.requests]
    assert sorted(sent, key=int) == [str(i) for i in ids]  # each once
    assert {e.status for e in await _events(o)} == {"sent"}
    assert len(await _audit(o)) == 12


async def test_a_claim_holds_an_event_until_its_lease_ends(db: Database) -> None:
    async with Receiver() as receiver:
        o = await _outbox(db, receiver)
        event = await _trigger(o, await _case(o))
        assert event is not None
        now = o.clock.now()
        lease = timedelta(seconds=60)
        claims = []
        for owner, at in (("one", now), ("two", now), ("two", now + lease + SHORT)):
            async with o.ctx.db.transaction() as session:
                rows = await claim_due_page_events(
                    session, now=at, owner=owner, lease_until=now + lease, limit=10
                )
                claims.append([(r.id, r.lease_owner) for r in rows])
    # the second claim finds it held; once "one" is presumed dead, "two" takes it
    assert claims == [[(event.id, "one")], [], [(event.id, "two")]]


async def test_acknowledge_waits_for_its_trigger(db: Database) -> None:
    async with Receiver([503]) as receiver:
        o = await _outbox(db, receiver)
        case = await _case(o)
        assert await _trigger(o, case) is not None
        worker = o.worker()
        assert await worker.run_due() == 1  # 503: the trigger waits for its retry
        assert await _followups(o, case, "acknowledge") == 1  # queued now, due now
        assert await worker.run_due() == 0  # ...but not before its trigger
        o.clock.advance(SHORT)
        assert await worker.run_due() == 1
        assert await worker.run_due() == 1
    actions = [r.json()["event_action"] for r in receiver.requests]
    assert actions == ["trigger", "trigger", "acknowledge"]


async def test_the_webhook_is_signed_over_the_raw_body(db: Database) -> None:
    """Here with the legacy shared secret (the clinic has none of its own): the same scheme,
    `t=<now>,v1=<HMAC of "<t>.<body>">`; per-clinic secrets: tests/channels/test_signing.py."""
    async with Receiver() as receiver:
        o = await _outbox(db, receiver)
        case = await _case(o)
        event = await _trigger(o, case, channel="webhook", routing_key="ignored")
        assert event is not None and event.id is not None and event.routing_key is None
        await o.worker().send_now([event.id])
        unsigned = replace(
            o.ctx, settings=o.ctx.settings.model_copy(update={"page_webhook_secret": None})
        )
        assert await _followups(o, case, "acknowledge") == 1
        await PageEvents(unsigned, lease=timedelta(seconds=60)).run_due()
    signed, plain = receiver.on(HOOK)
    at = int(o.clock.now().timestamp())
    payload = f"{at}.".encode() + signed.body
    expected = hmac.new(SECRET.encode(), payload, hashlib.sha256).hexdigest()
    assert signed.header("X-Aftercare-Signature") == f"t={at},v1={expected}"
    assert signed.header("X-Aftercare-Event-Id") == str(event.id)
    assert signed.json() == {
        "clinic": o.clinic.id,
        "event": "case.trigger",
        "action": "trigger",
        "case_id": case.id,
        "dedup_key": f"aftercare-case-{case.id}",
        "level": "high",
        "reference": "P-1",
        "text": f"HIGH priority — case #{case.id}\nPatient P-1",
        "ack_url": "https://console.example/console/ack/tok",
    }
    assert plain.header("X-Aftercare-Signature") is None  # no secret set: not signed
    assert plain.json()["action"] == "acknowledge" and plain.json()["reference"] == "P-1"
    assert plain.json()["clinic"] == o.clinic.id
    assert _count(o, "aftercare_pages_total", channel="webhook", outcome="sent") == 1


async def test_followups_need_a_trigger_and_go_once_per_target(db: Database) -> None:
    async with Receiver() as receiver:
        o = await _outbox(db, receiver)
        never = await _case(o, ref="P-1")
        assert await _followups(o, never, "acknowledge") == 0
        assert await _followups(o, never, "resolve") == 0

        case = await _case(o, ref="P-2")
        for channel, key in (
            ("pager", "R-1"),
            ("pager", "R-2"),
            ("pager", "R-1"),
            ("webhook", None),
        ):
            await _trigger(o, case, channel=channel, routing_key=key)
        assert await _followups(o, case, "acknowledge") == 3
        assert await _followups(o, case, "acknowledge") == 0
        assert await _followups(o, case, "resolve") == 3
        assert await _followups(o, case, "resolve") == 0
        while await o.worker().run_due():
            pass
    per_target = [
        (r.path, r.json().get("routing_key"), r.json().get("action") or r.json()["event_action"])
        for r in receiver.requests
    ]
    # the per-target order (trigger, acknowledge, resolve) is kept; each target gets each once
    for path, key in ((EVENTS, "R-1"), (EVENTS, "R-2"), (HOOK, None)):
        assert [a for p, k, a in per_target if (p, k) == (path, key)] == [
            "trigger",
            "acknowledge",
            "resolve",
        ]
    assert sorted(per_target, key=str) == sorted(
        [
            (EVENTS, key, action)
            for key in ("R-1", "R-2")
            for action in ("trigger", "acknowledge", "resolve")
        ]
        + [(HOOK, None, action) for action in ("trigger", "acknowledge", "resolve")],
        key=str,
    )
    assert {r.json().get("dedup_key") for r in receiver.requests} == {f"aftercare-case-{case.id}"}


def test_routing_key_for_prefers_the_clinician_then_the_level_then_the_clinic() -> None:
    clinic = _clinics(Receiver(), make_clinics(rehearsal_clinic())).clinics[0]
    now = datetime(2025, 3, 1, tzinfo=UTC)
    own = Clinician(
        clinic_id=clinic.id,
        name="A",
        telegram_user_id=1,
        chat_id=1,
        created_at=now,
        pager_key="MINE",
    )
    plain = Clinician(clinic_id=clinic.id, name="B", telegram_user_id=2, chat_id=2, created_at=now)
    assert routing_key_for(clinic, "high", own) == "MINE"
    assert routing_key_for(clinic, "high", plain) == "HIGH-KEY"
    assert routing_key_for(clinic, Level.MODERATE, plain) == "CLINIC-KEY"
    bare = clinic.model_copy(update={"paging": PagingConfig()})
    assert routing_key_for(bare, "high", plain) is None


async def test_the_dispatcher_sends_due_events_every_round(
    db: Database, sandbox: BotApiSandbox
) -> None:
    async with Receiver([503]) as receiver:
        clinics = _clinics(receiver, make_clinics(rehearsal_clinic()))
        async with unit(sandbox, db, clinics=clinics) as u:
            o = Outbox(u.ctx, FixedClock(), clinics.clinics[0], receiver)
            o.clock.at = u.clock.now()
            event = await _trigger(o, await _case(o))
            assert event is not None
            dispatcher = Dispatcher(u.ctx, u.bot)
            report = await dispatcher.tick()
            assert report.failed_phases == []
            assert len(receiver.requests) == 1  # 503: retried in a later round
            u.clock.advance(timedelta(minutes=10))  # past any backoff
            await dispatcher.tick()
    assert len(receiver.requests) == 2
    [row] = await _events(o)
    assert (row.status, row.attempts) == ("sent", 2)

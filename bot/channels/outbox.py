"""The durable outbox: claim due page events under a lease, post them side by side, record.

Serves every channel that needs retries (`outbox_formats.OUTBOX_FORMATS`). Each event goes to
its URL as the JSON stored with it (`PageEvent.body`, byte for byte), with
`X-Aftercare-Event-Id` so that a receiver can drop a repeat, plus its channel's own headers (the
clinic's webhook: `X-Aftercare-Signature`, `t=<now>,v1=<HMAC-SHA256 of "<now>.<those bytes>">`
per live secret of the clinic, computed at each attempt: `bot/channels/webhook/body.py`,
`services/paging/signing.py`). A lease, not a lock held across the network: an instance that
dies mid-send leaves its events to the next claim once the lease ends, so a crash may repeat an
event (the receiver de-duplicates on the dedup key and the event id), never lose one. The
dispatcher runs `PageEvents.run_due` every round; an outbox channel claims a rung's triggers in
the rung's own transaction (`hold`) and posts them as soon as it commits (`send_held`), with no
transaction in between. `OutboxChannel` is the pager's side of an outbox channel.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import ssl
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from dataclasses import replace as replaced
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from bot.channels.base import Outgoing, RungPage
from bot.channels.event_format import EVENT_ID_HEADER
from bot.channels.outbox_formats import OUTBOX_FORMATS
from bot.channels.pinned import post_pinned
from bot.context import AppContext
from bot.domain.channels import ChannelKind
from bot.domain.outbound import OutboundPolicy
from bot.messaging.delivery import Delivery, Outcome, backoff
from bot.services.paging.outbound import SEND_RESOLVE_SECONDS, Blocked, Unresolved, check_url
from bot.services.paging.outbox import enqueue_trigger, record_outcome
from bot.services.paging.secret_box import SecretBox
from bot.services.paging.signing import signing_for_cases
from storage.cases import claim_due_page_events
from storage.models import PageEvent
from storage.states import PAGER, PageEventAction, PageEventStatus

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 6
TIMEOUT_SECONDS = 10.0
CONCURRENCY = 8
USER_AGENT = "Aftercare page events"


MAX_RETRY_AFTER = timedelta(minutes=5)  # a receiver cannot park a page longer than this


def retry_after(value: str | None, *, now: datetime | None = None) -> timedelta | None:
    """A Retry-After header: seconds, or an HTTP date, at most MAX_RETRY_AFTER; None when
    absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return min(MAX_RETRY_AFTER, timedelta(seconds=min(int(value), 10**6)))
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, OverflowError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return min(MAX_RETRY_AFTER, max(timedelta(0), when - (now or datetime.now(UTC))))


@functools.cache
def _tls() -> ssl.SSLContext:
    """httpx's default TLS settings (its CA bundle, SSL_CERT_FILE honoured), built once: building
    them loads the whole bundle, ~20 ms of CPU that a page would otherwise wait for at each post.
    A context is only configuration; every post still opens its own connection."""
    return httpx.create_ssl_context()


async def post_json(
    url: str,
    body: bytes,
    *,
    headers: dict[str, str],
    outbound: OutboundPolicy,
    timeout: float = TIMEOUT_SECONDS,  # noqa: ASYNC109 - httpx's, for each phase of the request
) -> Delivery:
    """POST `body` as JSON. 2xx: SENT; 429, 5xx, a timeout or a connection error: RETRY (with
    the receiver's Retry-After when it gives one); any other status: FAILED. Never raises for
    HTTP or network trouble. `error` reads "HTTP 503" or "ConnectError", then " — " and what
    the receiver said (kept on the row, never audited).

    First the URL is resolved and checked against `outbound` (`services/paging/outbound.py`;
    DNS may have changed since it was saved): refused, FAILED with "refused: <why>" and nothing
    sent; a name that does not resolve, RETRY. The connection goes only to the addresses
    checked (`bot/channels/pinned.py`)."""
    sent_headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT, **headers}
    try:
        checked = await check_url(url, outbound, timeout=min(timeout, SEND_RESOLVE_SECONDS))
        client = httpx.AsyncClient(timeout=timeout, follow_redirects=False, verify=_tls())
        async with client:
            response = await post_pinned(client, url, checked, content=body, headers=sent_headers)
    except Blocked as exc:
        return Delivery(Outcome.FAILED, error=f"refused: {exc.refusal.reason}")
    except Unresolved as exc:
        return Delivery(Outcome.RETRY, error=f"unresolved: {exc}")
    except httpx.TimeoutException as exc:
        return Delivery(Outcome.RETRY, error=f"{type(exc).__name__} — timed out after {timeout}s")
    except (httpx.TransportError, OSError) as exc:
        return Delivery(Outcome.RETRY, error=f"{type(exc).__name__} — {exc}")
    except (httpx.HTTPError, httpx.InvalidURL, ValueError, OverflowError) as exc:
        return Delivery(Outcome.FAILED, error=f"{type(exc).__name__} — {exc}")
    status = response.status_code
    if 200 <= status < 300:
        return Delivery(Outcome.SENT)
    said = " ".join(response.text.split())[:300]
    error = f"HTTP {status}" + (f" — {said}" if said else "")
    if status == 429 or status >= 500:
        wait = retry_after(response.headers.get("Retry-After"))
        return Delivery(Outcome.RETRY, error=error, retry_after=wait)
    return Delivery(Outcome.FAILED, error=error)


@dataclass(frozen=True)
class _Claimed:
    """What a send needs of a claimed row (read under the claim, used after its commit)."""

    id: int
    channel: ChannelKind
    action: PageEventAction
    url: str
    body: bytes
    attempts: int
    case_id: int
    secrets: tuple[str, ...] = field(default=(), repr=False)  # what signs it (webhook)

    @classmethod
    def of(cls, event: PageEvent) -> _Claimed:
        assert event.id is not None
        return cls(
            event.id,
            event.channel,
            event.action,
            event.url,
            event.body.encode(),
            event.attempts,
            event.case_id,
        )


class PageEvents:
    """Sends due page events; one per instance, shared by the dispatcher and the pager."""

    def __init__(
        self,
        ctx: AppContext,
        *,
        lease: timedelta,
        batch: int = 50,
        max_attempts: int = MAX_ATTEMPTS,
        timeout: float = TIMEOUT_SECONDS,
        backoff: Callable[[int], timedelta] = backoff,
    ) -> None:
        self.ctx, self.lease, self.batch = ctx, lease, batch
        self.max_attempts, self.timeout, self.backoff = max_attempts, timeout, backoff
        self.slots = asyncio.Semaphore(CONCURRENCY)
        self.box = SecretBox.of(ctx.settings)
        self.outbound = ctx.settings.outbound_policy()
        _tls()  # built at start-up, not during the first page

    async def run_due(self) -> int:
        """Claim a batch of due events, send them side by side and record each outcome;
        returns how many were claimed (a full batch: more may be waiting)."""
        now = self.ctx.clock.now()
        async with self.ctx.db.transaction() as session:
            rows = await claim_due_page_events(
                session,
                now=now,
                owner=self.ctx.instance_id,
                lease_until=now + self.lease,
                limit=self.batch,
            )
            claimed = await self._signed([_Claimed.of(row) for row in rows], session, now)
        await self._send(claimed)
        return len(claimed)

    async def send_now(self, event_ids: list[int]) -> dict[int, Delivery]:
        """Send these events at once (a rung's triggers, just committed), recorded as the worker
        records them; each id maps to its outcome. An event not claimable now (another instance
        holds it, it is already final, or an earlier event of its target is pending) maps to
        NOT_SENT and is left to the dispatcher's rounds."""
        now = self.ctx.clock.now()
        async with self.ctx.db.transaction() as session:
            claimed = await self.hold(session, event_ids, now=now)
        return await self.send_held(claimed, event_ids)

    async def hold(
        self, session: AsyncSession, event_ids: Sequence[int], *, now: datetime
    ) -> list[_Claimed]:
        """Claim these events in `session` for this instance, under a lease, with what signs
        them: in the transaction that queued them (a rung's triggers), so that the send after its
        commit needs no transaction of its own. The lease, not a lock: none is claimable
        elsewhere once committed, and a crash leaves them to the rounds when it ends. An event not
        claimable (another instance holds it, it is final, or an earlier event of its target is
        pending) is not among them."""
        claimed: list[_Claimed] = []
        for event_id in dict.fromkeys(event_ids):
            rows = await claim_due_page_events(
                session,
                now=now,
                owner=self.ctx.instance_id,
                lease_until=now + self.lease,
                limit=1,
                only_id=event_id,
            )
            claimed += [_Claimed.of(row) for row in rows]
        return await self._signed(claimed, session, now)

    async def send_held(
        self, claimed: Sequence[_Claimed], event_ids: Sequence[int]
    ) -> dict[int, Delivery]:
        """Post events claimed by `hold` (committed), record each outcome; each of `event_ids`
        maps to its outcome, NOT_SENT for one not held (left to the dispatcher's rounds)."""
        results = await self._send(list(claimed))
        elsewhere = Delivery(Outcome.NOT_SENT, error="not claimable now: left to the dispatcher")
        return {event_id: results.get(event_id, elsewhere) for event_id in event_ids}

    async def _signed(
        self, claimed: list[_Claimed], session: AsyncSession, now: datetime
    ) -> list[_Claimed]:
        """The claimed events with the secrets that sign them, read under the claim."""
        signed = [e for e in claimed if OUTBOX_FORMATS[ChannelKind(e.channel)].signed]
        if not signed:
            return claimed
        legacy = self.ctx.settings.page_webhook_secret
        signing = await signing_for_cases(
            session,
            case_ids=[e.case_id for e in signed],
            box=self.box,
            legacy=legacy.get_secret_value() if legacy is not None else None,
            now=now,
        )
        return [
            replaced(e, secrets=signing[e.case_id].secrets) if e.case_id in signing else e
            for e in claimed
        ]

    def _headers(self, event: _Claimed) -> dict[str, str]:
        """This attempt's headers: signed now (a retry is signed afresh, over the same body)."""
        kind = OUTBOX_FORMATS[ChannelKind(event.channel)]
        at = int(self.ctx.clock.now().timestamp())
        own = kind.headers(event_id=event.id, body=event.body, secrets=event.secrets, at=at)
        if kind.signed and not event.secrets:
            log.warning("page_event.unsigned id=%s channel=%s", event.id, event.channel)
        return {EVENT_ID_HEADER: str(event.id), **own}

    async def _post(self, event: _Claimed) -> Delivery:
        """One event's try; anything unexpected is that event's failure, never the batch's."""
        async with self.slots:
            try:
                return await post_json(
                    event.url,
                    event.body,
                    headers=self._headers(event),
                    outbound=self.outbound,
                    timeout=self.timeout,
                )
            except Exception as exc:
                log.exception("page_event.post_crashed id=%s", event.id)
                return Delivery(Outcome.FAILED, error=f"{type(exc).__name__}")

    async def _send(self, claimed: list[_Claimed]) -> dict[int, Delivery]:
        if not claimed:
            return {}
        deliveries = await asyncio.gather(*(self._post(event) for event in claimed))
        now = self.ctx.clock.now()
        finished: list[tuple[_Claimed, str]] = []
        async with self.ctx.db.transaction() as session:
            for event, delivery in zip(claimed, deliveries, strict=True):
                wait = delivery.retry_after or self.backoff(event.attempts)
                row = await record_outcome(
                    session,
                    event_id=event.id,
                    outcome=delivery.outcome,
                    error=delivery.error,
                    retry_at=now + wait,
                    max_attempts=self.max_attempts,
                    now=now,
                    actor=PAGER,
                )
                if row is not None and row.status is not PageEventStatus.PENDING:
                    finished.append((event, row.status))
        for event, delivery in zip(claimed, deliveries, strict=True):
            if delivery.outcome is not Outcome.SENT:
                log.warning(
                    "page_event.%s id=%s channel=%s action=%s attempt=%d error=%s",
                    delivery.outcome.value,
                    event.id,
                    event.channel,
                    event.action,
                    event.attempts + 1,
                    (delivery.error or "").split(" — ", 1)[0],
                )
        for event, status in finished:
            if event.action is PageEventAction.TRIGGER:
                self.ctx.metrics.pages.labels(channel=event.channel, outcome=status).inc()
            else:
                self.ctx.metrics.page_followups.labels(
                    channel=event.channel, action=event.action, outcome=status
                ).inc()
        return {event.id: delivery for event, delivery in zip(claimed, deliveries, strict=True)}


class OutboxChannel:
    """The pager's side of a channel whose pages are outbox events: `prepare` queues a trigger
    per target in the claim's transaction, `send` posts it at once (the outbox retries what
    does not go through). A subclass names its `kind` and its `routing_keys`."""

    kind: ChannelKind

    def __init__(self, outbox: PageEvents) -> None:
        self.outbox = outbox

    def routing_keys(self, page: RungPage) -> list[str | None]:
        """The targets of this rung on this channel (None: the channel's one target)."""
        return [None]

    def unavailable(self, page: RungPage) -> str | None:
        """Why this rung has nowhere to go on this channel, if it has not."""
        return None

    async def prepare(
        self, session: AsyncSession, page: RungPage, *, now: datetime
    ) -> list[Outgoing]:
        """A trigger per target (a target triggered since the ladder started adds nothing);
        the summary only, never the patient's words."""
        if (why := self.unavailable(page)) is not None:
            log.info(
                "page.channel_unavailable case=%s channel=%s: %s", page.case_id, self.kind, why
            )
            return []
        queued: list[int] = []
        for key in self.routing_keys(page):
            event = await enqueue_trigger(
                session,
                case=page.case,
                clinic=page.clinic,
                channel=self.kind,
                routing_key=key,
                summary=page.summary,
                reference=f"case #{page.case_id}",
                text=page.summary,  # a third party's: no patient words, names or quotes
                ack_url=None,
                now=now,
            )
            if event is not None and event.id is not None:
                queued.append(event.id)
        # Claimed here, in the rung's transaction: the send after its commit posts at once.
        held = {event.id: event for event in await self.outbox.hold(session, queued, now=now)}
        return [Outgoing(self.kind, None, str(i), held=held.get(i)) for i in queued]

    async def send(self, page: RungPage, outs: Sequence[Outgoing]) -> list[Delivery]:
        """Post the rung's events now, in one record; recorded, counted and retried by the
        outbox. Not a page to a person: a 2xx says nothing about who heard it. An event held in
        the rung's transaction is posted as held; one that was not is claimed first."""
        ids = [int(out.handle) for out in outs]
        held = [out.held for out in outs if isinstance(out.held, _Claimed)]
        rest = [int(out.handle) for out in outs if not isinstance(out.held, _Claimed)]
        sent = await self.outbox.send_held(held, [e.id for e in held]) if held else {}
        if rest:
            sent |= await self.outbox.send_now(rest)
        return [sent[event_id] for event_id in ids]

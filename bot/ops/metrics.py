"""Prometheus metrics: counters kept in-process, queue gauges read from the database on scrape."""

from __future__ import annotations

from datetime import datetime

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from bot.domain.levels import Level
from storage.audit import GENESIS
from storage.audit import head as audit_head
from storage.engine import Database
from storage.inbox import counts as inbox_counts
from storage.views.stats import due_checkins, oldest_unacknowledged, open_escalations

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class Metrics:
    """One registry per running bot (so tests and several apps in one process stay apart)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.checkins_sent = Counter(
            "aftercare_checkins_sent", "Check-in prompts delivered", registry=r
        )
        self.checkins_answered = Counter(
            "aftercare_answers_recorded", "Check-in answers stored", registry=r
        )
        self.checkins_missed = Counter(
            "aftercare_checkins_missed", "Check-ins closed with no answer", registry=r
        )
        self.send_errors = Counter(
            "aftercare_send_errors", "Bot API sends that failed, by kind", ["kind"], registry=r
        )
        self.time_to_acknowledge = Histogram(
            "aftercare_time_to_acknowledge_seconds",
            "From a case's ladder start to its acknowledgement, on any channel, by level",
            ["level"],
            buckets=(30, 60, 120, 300, 600, 1800, 3600, 4 * 3600, 12 * 3600, 86400),
            registry=r,
        )
        self._outreach_histograms(r)
        self.pages = Counter(
            "aftercare_pages", "Pages by channel and outcome", ["channel", "outcome"], registry=r
        )
        self.page_followups = Counter(
            "aftercare_page_followups",
            "Acknowledge and resolve events for paging services and webhooks, by final outcome",
            ["channel", "action", "outcome"],
            registry=r,
        )
        self.checkins_due = Gauge(
            "aftercare_checkins_due", "Check-ins due and not yet sent", registry=r
        )
        self.escalations_open = Gauge(
            "aftercare_escalations_open", "Unacknowledged escalations", ["level"], registry=r
        )
        self.oldest_unacknowledged = Gauge(
            "aftercare_oldest_unacknowledged_seconds",
            "Age of the oldest unacknowledged escalation (0 when none)",
            registry=r,
        )
        self.updates_processed = Counter(
            "aftercare_updates_processed", "Telegram updates processed from the inbox", registry=r
        )
        self.updates_retried = Counter(
            "aftercare_updates_retried",
            "Inbox updates that failed a try for a reason of their own and wait to be retried",
            registry=r,
        )
        self.updates_parked = Counter(
            "aftercare_updates_parked",
            "Inbox updates set aside after failing every try (see `aftercare intake show`)",
            registry=r,
        )
        self.intake_unavailable = Counter(
            "aftercare_intake_unavailable",
            "Times updates could not be stored or processed because the database was down",
            registry=r,
        )
        self.inbox = Gauge(
            "aftercare_inbox_updates",
            "Updates in the inbox waiting to be processed (pending) or set aside (parked)",
            ["status"],
            registry=r,
        )
        self.dispatcher_lag = Gauge(
            "aftercare_dispatcher_lag_seconds", "Time since the dispatcher last ticked", registry=r
        )
        self.audit_head_id = Gauge(
            "aftercare_audit_head_id", "Id of the newest audit row (0 when none)", registry=r
        )
        self.audit_head_info = Gauge(
            "aftercare_audit_head_info",
            "1, labelled with the newest audit row's hash (for `aftercare audit verify --head`)",
            ["hash"],
            registry=r,
        )

    def _outreach_histograms(self, r: CollectorRegistry) -> None:
        """Reaching the patient (CLINICAL.md §10), by level."""
        outreach_buckets = (60, 300, 900, 1800, 3600, 4 * 3600, 12 * 3600, 86400, 3 * 86400)
        self.time_to_first_attempt = Histogram(
            "aftercare_time_to_first_attempt_seconds",
            "From a case's first page to its first contact attempt, by level",
            ["level"],
            buckets=outreach_buckets,
            registry=r,
        )
        self.time_to_reached = Histogram(
            "aftercare_time_to_reached_seconds",
            "From a case's first page to the patient reached, by level",
            ["level"],
            buckets=outreach_buckets,
            registry=r,
        )
        self.answer_to_reached = Histogram(
            "aftercare_answer_to_reached_seconds",
            "From the concerning answer (the case opened) to the patient reached, by level",
            ["level"],
            buckets=outreach_buckets,
            registry=r,
        )

    def observe_outreach(
        self,
        *,
        level: str,
        opened_at: datetime,
        first_paged_at: datetime | None,
        first_attempt_at: datetime | None = None,
        reached_at: datetime | None = None,
    ) -> None:
        """A case's first contact attempt and/or the patient reached, just recorded."""
        if first_paged_at is not None and first_attempt_at is not None:
            waited = (first_attempt_at - first_paged_at).total_seconds()
            self.time_to_first_attempt.labels(level=level).observe(max(waited, 0.0))
        if reached_at is not None:
            if first_paged_at is not None:
                waited = (reached_at - first_paged_at).total_seconds()
                self.time_to_reached.labels(level=level).observe(max(waited, 0.0))
            waited = (reached_at - opened_at).total_seconds()
            self.answer_to_reached.labels(level=level).observe(max(waited, 0.0))

    async def render(self, db: Database, *, now: datetime, last_tick_at: datetime | None) -> bytes:
        """Refresh the gauges from the database and return the exposition text."""
        async with db.transaction() as session:
            due = await due_checkins(session, now=now)
            by_level = await open_escalations(session)
            oldest = await oldest_unacknowledged(session)
            head = await audit_head(session)
            inbox = await inbox_counts(session)
        self.checkins_due.set(due)
        for level in (Level.LOW, Level.MODERATE, Level.HIGH):
            self.escalations_open.labels(level=level.value).set(by_level.get(level.value, 0))
        self.oldest_unacknowledged.set((now - oldest).total_seconds() if oldest else 0)
        for status, count in inbox.items():
            self.inbox.labels(status=status.value).set(count)
        self.audit_head_id.set(head.id if head else 0)
        self.audit_head_info.clear()
        self.audit_head_info.labels(hash=head.hash if head else GENESIS).set(1)
        lag = (now - last_tick_at).total_seconds() if last_tick_at else float("inf")
        self.dispatcher_lag.set(lag)
        return generate_latest(self.registry)

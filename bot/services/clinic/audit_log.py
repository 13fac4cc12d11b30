"""A clinic's view of the audit log: its events filtered and a page at a time, with readable
actors and details; and the check of the whole hash chain, itself audited (`audit.verified`).

The log holds every clinic's events in one chain, so the check is chain-wide; the list shows
only the viewer's clinic's events (written for it, or about one of its patients).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from storage import audit
from storage.engine import Database
from storage.models import AuditEvent
from storage.patients import patient_by_ref
from storage.states import Actor, ActorKind
from storage.views import audit_log as queries

PAGE_SIZE = 100
FIELDS = ("patient", "actor", "event", "start", "end")
MAX_TEXT = 64
VERIFIED = "audit.verified"


@dataclass(frozen=True)
class Filters:
    """The filter form as typed (kept as typed to show it back)."""

    patient: str = ""
    actor: str = ""
    event: str = ""
    start: str = ""
    end: str = ""

    @classmethod
    def read(cls, values: Mapping[str, str]) -> Filters:
        return cls(**{name: str(values.get(name, "")).strip()[:MAX_TEXT] for name in FIELDS})

    def query(self) -> dict[str, str]:
        """The non-empty filters, for the "older" link."""
        return {name: getattr(self, name) for name in FIELDS if getattr(self, name)}


@dataclass(frozen=True)
class LogRow:
    event: AuditEvent
    actor: str  # readable: a clinician's name, a patient's reference, or the actor as stored
    patient_ref: str | None
    detail: str  # pretty-printed JSON


@dataclass(frozen=True)
class LogPage:
    rows: list[LogRow]
    older: int | None  # the cursor of the next (older) page, if there is one
    kinds: list[str]
    clinicians: dict[int, str]
    errors: dict[str, str] = field(default_factory=dict)


def _day(text: str) -> date:
    return date.fromisoformat(text)


def _bounds(
    filters: Filters, zone: ZoneInfo, errors: dict[str, str]
) -> tuple[datetime | None, datetime | None]:
    """The dates as [start of `start`, end of `end`) in the clinic's zone, in UTC."""
    start = end = None
    for name in ("start", "end"):
        text = getattr(filters, name)
        if not text:
            continue
        try:
            day = _day(text)
        except ValueError:
            errors[name] = "Not a date: write it as YYYY-MM-DD."
            continue
        try:
            if name == "end":
                day += timedelta(days=1)
            moment = datetime.combine(day, time(0), zone).astimezone(UTC)
        except OverflowError:  # the first or last day the calendar has
            errors[name] = "That date is too far in the past or future: check the year."
            continue
        start, end = (moment, end) if name == "start" else (start, moment)
    if start is not None and end is not None and end <= start:
        errors["end"] = "The end is before the start."
    return start, end


def _actor(
    text: str, clinicians: Mapping[int, str], errors: dict[str, str]
) -> tuple[str | None, str | None]:
    """(exact actor, actor kind) to filter on; a clinician's name finds their actor."""
    if not text:
        return None, None
    try:
        actor = Actor(text.lower())
    except ValueError:
        named = [cid for cid, name in clinicians.items() if name.casefold() == text.casefold()]
        if len(named) == 1:
            return str(Actor.of(ActorKind.CLINICIAN, named[0])), None
        errors["actor"] = (
            f"Several clinicians are called {text}: choose one by its clinician:ID."
            if named
            else "No such actor: write e.g. clinician:12, patient:3, dispatcher or system, "
            "or a clinician's name."
        )
        return None, None
    return (str(actor), None) if actor.ident is not None else (None, actor.kind.value)


def pretty(detail: str) -> str:
    try:
        return json.dumps(json.loads(detail), indent=2, sort_keys=True, ensure_ascii=False)
    except ValueError:
        return detail


def _label(actor: Actor, clinicians: Mapping[int, str], refs: Mapping[int, str]) -> str:
    ident = actor.ident
    if ident is not None and actor.kind is ActorKind.CLINICIAN and ident in clinicians:
        return f"{clinicians[ident]} ({actor})"
    if ident is not None and actor.kind is ActorKind.PATIENT and ident in refs:
        return f"patient {refs[ident]}"
    return str(actor)


async def log_page(
    session: AsyncSession,
    *,
    clinic_id: str,
    zone: ZoneInfo,
    filters: Filters,
    before: int | None = None,
    size: int = PAGE_SIZE,
) -> LogPage:
    """One page of the clinic's events, newest first; errors by field for bad filters (and
    then no rows)."""
    errors: dict[str, str] = {}
    clinicians = await queries.clinician_names(session, clinic_id=clinic_id)
    kinds = await queries.event_kinds(session)
    patient_id = None
    if filters.patient:
        patient = await patient_by_ref(session, clinic_id=clinic_id, ref=filters.patient)
        if patient is None:
            errors["patient"] = "No patient with this reference in your clinic."
        patient_id = patient.id if patient else None
    actor, actor_kind = _actor(filters.actor, clinicians, errors)
    if filters.event and filters.event not in kinds:
        errors["event"] = "No such event in the log."
    start, end = _bounds(filters, zone, errors)
    if errors:
        return LogPage(rows=[], older=None, kinds=kinds, clinicians=clinicians, errors=errors)
    keep = queries.EventFilter(
        patient_id=patient_id,
        actor=actor,
        actor_kind=actor_kind,
        event=filters.event or None,
        start=start,
        end=end,
    )
    events = await queries.clinic_events(
        session, clinic_id=clinic_id, keep=keep, before_id=before, limit=size + 1
    )
    older = events[size - 1].id if len(events) > size else None
    events = events[:size]
    ids = {e.patient_id for e in events if e.patient_id is not None}
    ids |= {
        e.actor.ident
        for e in events
        if e.actor.kind is ActorKind.PATIENT and e.actor.ident is not None
    }
    refs = await queries.patient_refs(session, clinic_id=clinic_id, ids=ids)
    rows = [
        LogRow(
            event=e,
            actor=_label(e.actor, clinicians, refs),
            patient_ref=refs.get(e.patient_id) if e.patient_id is not None else None,
            detail=pretty(e.detail),
        )
        for e in events
    ]
    return LogPage(rows=rows, older=older, kinds=kinds, clinicians=clinicians)


@dataclass(frozen=True)
class Verification:
    ok: bool
    checked: int
    head_hash: str | None = None  # the last row's hash, when the chain is intact
    first_bad_id: int | None = None
    problem: str | None = None


async def verify_chain(
    db: Database, *, clinic_id: str, actor: Actor, now: datetime
) -> Verification:
    """Walk the whole chain (a short transaction per batch, so writers wait little), then
    record that it was checked and what was found."""
    result = await audit.verify_database(db)
    async with db.transaction() as session:
        head = (
            await audit.hash_of(session, result.checked) if result.ok and result.checked else None
        )
        await audit.append(
            session,
            at=now,
            actor=actor,
            event=VERIFIED,
            clinic_id=clinic_id,
            detail={
                "ok": result.ok,
                "checked": result.checked,
                "first_bad_id": result.first_bad_id,
            },
        )
    return Verification(
        ok=result.ok,
        checked=result.checked,
        head_hash=head,
        first_bad_id=result.first_bad_id,
        problem=result.problem,
    )

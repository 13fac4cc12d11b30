"""Caring contacts (CLINICAL.md §12): a patient's track, its start, its end, what was sent.

The lifecycle of `CaringTrack` and `CaringMessage` changes only here:

- A track starts when a moderate or high case is resolved (`on_case_resolved`, in the resolve's
  own transaction) and when an infusion series ends (`start_series_ended`, the dispatcher: no
  infusion for `series_end_days`, once per series; a track started since the last infusion,
  say after a case, is left to run). One active track per patient: a newer start marks the
  older REPLACED and drops its pending messages.
- Paused while a case of the patient is open or acknowledged, and while their check-ins are
  stopped (/stop): the claim does not take those messages (`storage/caring/queries`). A due
  message waits; once the case is resolved it goes at its minute in the next send window.
- `/resume` continues the track with its future messages only: those that fell due while the
  patient was stopped are dropped (`on_resume`), so nobody gets a burst of old messages.
- Unreachable (Telegram refused, §6): the track is stopped, its pending messages dropped.
- A clinic stops a track from the console (`stop_track`): STOPPED, pending messages dropped.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from bot.clinic_config import ClinicConfig
from bot.domain import caring
from bot.domain.levels import Level
from storage import audit
from storage.caring import queries
from storage.models import Case, Patient
from storage.models.care import CaringMessage, CaringTrack
from storage.patients import get_patient
from storage.states import DISPATCHER, Actor, CaringStatus, PatientStatus

CASE_RESOLVED = "case_resolved"
SERIES_ENDED = "series_ended"
SERIES_LOOKBACK = timedelta(days=7)  # a series that ended longer ago than this starts nothing
log = logging.getLogger(__name__)
REPLY_WITHIN = timedelta(days=7)  # a message this soon after a caring one is a reply to it


async def start_track(
    session: AsyncSession,
    *,
    patient: Patient,
    clinic: ClinicConfig,
    reason: str,
    now: datetime,
    actor: Actor,
) -> CaringTrack | None:
    """Start the clinic's track for an active patient, replacing any active one."""
    settings = clinic.caring
    if not settings.enabled or patient.status != PatientStatus.ACTIVE or patient.id is None:
        return None
    try:  # settings whose quiet hours cover the whole window have no time to send: say so,
        # never fail the caller (a case's resolution starts tracks in its own transaction)
        caring.plan_track(
            track_id=0,
            started_at=now,
            schedule=settings.offsets(),
            zone=ZoneInfo(patient.timezone),
            window=settings.window(),
            quiet=clinic.quiet(),
        )
    except ValueError as exc:
        log.warning("caring.not_started clinic=%s problem=%s", patient.clinic_id, exc)
        return None
    await audit.hold_chain(session)  # the chain before the patient's rows (audit.hold_chain)
    replaced = await queries.active_tracks(session, patient_id=patient.id)
    track = CaringTrack(
        patient_id=patient.id,
        clinic_id=patient.clinic_id,
        schedule=settings.schedule,
        reason=reason,
        status=CaringStatus.ACTIVE,
        started_at=now,
    )
    track = await queries.add_track(session, track=track)
    assert track.id is not None
    for older in replaced:
        older.status, older.ended_at = CaringStatus.REPLACED, now
    await queries.drop_pending(
        session,
        track_ids=[t.id for t in replaced if t.id is not None],
        error=f"replaced by track {track.id}",
    )
    due = caring.plan_track(
        track_id=track.id,
        started_at=now,
        schedule=settings.offsets(),
        zone=ZoneInfo(patient.timezone),
        window=settings.window(),
        quiet=clinic.quiet(),
    )
    await queries.add_messages(session, track=track, messages_due=due)
    await audit.append(
        session,
        at=now,
        actor=actor,
        event="caring.started",
        clinic_id=patient.clinic_id,
        patient_id=patient.id,
        detail={
            "track": track.id,
            "schedule": settings.schedule,
            "reason": reason,
            "messages": len(due),
            "replaced": [t.id for t in replaced],
        },
    )
    return track


async def on_case_resolved(
    session: AsyncSession, *, case: Case, clinic: ClinicConfig, now: datetime, actor: Actor
) -> CaringTrack | None:
    """A resolved moderate or high case starts a track (CLINICAL.md §12); a low one does not."""
    if Level(case.level).rank < Level.MODERATE.rank:
        return None
    patient = await get_patient(session, patient_id=case.patient_id)
    if patient is None:
        return None
    return await start_track(
        session, patient=patient, clinic=clinic, reason=CASE_RESOLVED, now=now, actor=actor
    )


async def start_series_ended(session: AsyncSession, *, clinic: ClinicConfig, now: datetime) -> int:
    """Tracks for the clinic's patients whose last infusion ended `series_end_days` ago."""
    if not clinic.caring.enabled:
        return 0
    before = now - timedelta(days=clinic.caring.series_end_days)
    started = 0
    for patient_id, _ in await queries.series_ended(
        session, clinic_id=clinic.id, ended_before=before, ended_after=before - SERIES_LOOKBACK
    ):
        patient = await get_patient(session, patient_id=patient_id)
        if patient is not None and await start_track(
            session, patient=patient, clinic=clinic, reason=SERIES_ENDED, now=now, actor=DISPATCHER
        ):
            started += 1
    return started


async def _end_track(
    session: AsyncSession, track: CaringTrack, *, now: datetime, error: str
) -> int:
    track.status, track.ended_at = CaringStatus.STOPPED, now
    assert track.id is not None
    return await queries.drop_pending(session, track_ids=[track.id], error=error)


async def stop_track(
    session: AsyncSession, *, patient: Patient, now: datetime, actor: Actor
) -> int:
    """The clinic stops a patient's active track (the console); how many messages were dropped."""
    assert patient.id is not None
    await audit.hold_chain(session)  # before the track's rows, as caring_sends.record
    dropped = 0
    for track in await queries.active_tracks(session, patient_id=patient.id):
        dropped += await _end_track(session, track, now=now, error="stopped by the clinic")
        await audit.append(
            session,
            at=now,
            actor=actor,
            event="caring.stopped",
            clinic_id=patient.clinic_id,
            patient_id=patient.id,
            detail={"track": track.id, "dropped": dropped},
        )
    return dropped


async def _end_tracks(session: AsyncSession, *, patient_id: int, now: datetime, error: str) -> int:
    dropped = 0
    for track in await queries.active_tracks(session, patient_id=patient_id):
        dropped += await _end_track(session, track, now=now, error=error)
    return dropped


async def on_unreachable(session: AsyncSession, *, patient_id: int, now: datetime) -> int:
    """Telegram refused the patient: nothing more is sent; the track stops."""
    return await _end_tracks(session, patient_id=patient_id, now=now, error="patient unreachable")


async def on_erased(session: AsyncSession, *, patient_id: int, now: datetime) -> int:
    """The patient was erased: nothing more is ever sent; the track stops."""
    return await _end_tracks(session, patient_id=patient_id, now=now, error="patient erased")


async def on_resume(session: AsyncSession, *, patient_id: int, now: datetime) -> int:
    """Resumed after /stop: the track goes on with its future messages only."""
    tracks = await queries.active_tracks(session, patient_id=patient_id)
    return await queries.drop_pending(
        session,
        track_ids=[t.id for t in tracks if t.id is not None],
        error="fell due while the patient's messages were stopped",
        due_before=now,
    )


async def finish_if_done(session: AsyncSession, *, track_id: int, now: datetime) -> None:
    """A track with nothing pending is DONE."""
    track = await queries.get_track(session, track_id=track_id)
    if track is None or track.status != CaringStatus.ACTIVE:
        return
    if await queries.pending_count(session, track_id=track_id) == 0:
        track.status, track.ended_at = CaringStatus.DONE, now


async def is_caring_reply(session: AsyncSession, *, patient_id: int, now: datetime) -> bool:
    """Whether a message now answers a caring message (one sent within REPLY_WITHIN)."""
    sent = await queries.last_sent_at(session, patient_id=patient_id)
    return sent is not None and now - sent <= REPLY_WITHIN


@dataclass(frozen=True)
class TrackView:
    """A patient's latest track as the console shows it: the next message and those sent."""

    track: CaringTrack
    next: CaringMessage | None
    sent: list[CaringMessage]
    pending: int

    @property
    def active(self) -> bool:
        return self.track.status == CaringStatus.ACTIVE


async def track_of(session: AsyncSession, *, patient_id: int) -> TrackView | None:
    """The patient's current (or last) track, its next pending message and the ones sent."""
    track = await queries.latest_track(session, patient_id=patient_id)
    if track is None or track.id is None:
        return None
    messages = await queries.messages_of(session, track_id=track.id)
    pending = [m for m in messages if m.status == CaringStatus.PENDING]
    return TrackView(
        track=track,
        next=min(pending, key=lambda m: m.due_at) if pending else None,
        sent=[m for m in messages if m.status == CaringStatus.SENT],
        pending=len(pending),
    )

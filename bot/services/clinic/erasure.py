"""Erasing a patient on request (GDPR Art. 17) or when the clinic no longer treats them, and the
legal hold that forbids it (issue 31). Erasure removes the patient's words and contacts
everywhere in the live database (`storage.privacy.erasure`), forgets their chat, stops
everything that would be sent to them, and keeps the structured rows the clinic must keep
(answers, levels, cases and their times) under the pseudonymous reference. An `ERASED`
tombstone in the audit log says who, when and on what legal basis; audit rows hold no free
text, so the chain verifies afterwards. Refused, with the reason, for a patient under legal
hold, one with a case not yet resolved (resolve it first: erasing must not hide a risk), one
already erased, or one with a check-in in progress (what it reveals is seen first). The
patient is told by the front end once the erasure has committed."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from sqlalchemy.ext.asyncio import AsyncSession

from bot.clinic_config import ClinicConfig
from bot.i18n import C_, NC_
from bot.i18n.resolve import patient_language
from bot.services import checkin_states
from bot.services.reaching import caring
from storage import audit
from storage.cases import has_unresolved_case
from storage.checkins import open_checkins
from storage.crypto.keyring import INBOX_OWNER
from storage.engine import Database
from storage.models import Patient
from storage.patients import erased_patient_ids, get_patient, lock_patient, patient_by_ref
from storage.privacy.erasure import erase_words_and_contacts
from storage.states import SERVICE, Actor, PatientStatus

EVENT = "patient.erased"
log = logging.getLogger(__name__)


class LegalBasis(StrEnum):
    """Why the patient is erased (recorded in the tombstone)."""

    REQUEST = "patient_request"  # the patient asked (GDPR Art. 17(1))
    NO_LONGER_TREATED = (
        "no_longer_treated"  # the clinic's care of them ended; nothing requires keeping
    )
    RETENTION = "retention"  # the clinic's retention period ran out


BASES = {
    LegalBasis.REQUEST: NC_("The patient asked for their data to be erased"),
    LegalBasis.NO_LONGER_TREATED: NC_("The clinic no longer treats the patient"),
    LegalBasis.RETENTION: NC_("The clinic's retention period ran out"),
}


class ErasureRefused(Exception):
    """Nothing was erased; the message says why (safe to show the clinician)."""


@dataclass(frozen=True)
class Erased:
    patient: Patient
    chat_id: int | None  # the chat to tell, forgotten by now
    language: str  # the language they are spoken to in, to tell them in
    counts: dict[str, int]
    key_destroyed: bool = False  # their data key shredded (after the commit)


async def _locked_patient(session: AsyncSession, clinic: ClinicConfig, ref: str) -> Patient:
    found = await patient_by_ref(session, clinic_id=clinic.id, ref=ref)
    if found is None or found.id is None:
        raise ErasureRefused(C_("No patient {ref} in this clinic.").format(ref=ref[:64]))
    await lock_patient(session, patient_id=found.id)
    row = await get_patient(session, patient_id=found.id)
    assert row is not None
    return row


async def _erase_row(
    session: AsyncSession, row: Patient, *, basis: str, actor: Actor, now: datetime
) -> dict[str, int]:
    """Erase the locked patient `row`: unsent check-ins cancelled, caring contacts dropped, words
    and contacts blanked, the row marked ERASED, and the `patient.erased` audit row; the counts."""
    assert row.id is not None
    cancelled = await checkin_states.cancel_unsent(session, patient_id=row.id, now=now)
    dropped = await caring.on_erased(session, patient_id=row.id, now=now)
    counts = await erase_words_and_contacts(session, patient=row)
    row.status, row.erased_at = PatientStatus.ERASED, now
    session.add(row)
    await audit.append(
        session,
        at=now,
        actor=actor,
        event=EVENT,
        clinic_id=row.clinic_id,
        patient_id=row.id,
        detail={
            "basis": basis,
            "erased": counts,
            "cancelled_checkins": cancelled,
            "dropped_caring": dropped,
        },
    )
    return counts


async def erase_patient(
    session: AsyncSession,
    *,
    clinic: ClinicConfig,
    ref: str,
    basis: LegalBasis,
    actor: Actor,
    now: datetime,
) -> Erased:
    """Erase the patient `ref` of `clinic` in the caller's transaction (see the module)."""
    row = await _locked_patient(session, clinic, ref)
    assert row.id is not None
    if row.status == PatientStatus.ERASED:
        raise ErasureRefused(C_("{ref} was erased already.").format(ref=row.ref))
    if row.legal_hold:
        raise ErasureRefused(
            C_(
                "{ref} is under a legal hold: nothing of theirs may be erased until it is lifted."
            ).format(ref=row.ref)
        )
    if await has_unresolved_case(session, patient_id=row.id):
        raise ErasureRefused(
            C_(
                "{ref} has a case that is not resolved: resolve it first, so that erasing "
                "cannot hide a risk."
            ).format(ref=row.ref)
        )
    if await open_checkins(session, patient_id=row.id):
        raise ErasureRefused(
            C_(
                "{ref} has a check-in in progress: erase once it has closed, so that what "
                "their answers reveal is seen first."
            ).format(ref=row.ref)
        )
    chat_id, language = row.chat_id, patient_language(row, clinic.language)
    counts = await _erase_row(session, row, basis=basis.value, actor=actor, now=now)
    return Erased(patient=row, chat_id=chat_id, language=language, counts=counts)


async def erase(
    db: Database,
    *,
    clinic: ClinicConfig,
    ref: str,
    basis: LegalBasis,
    actor: Actor,
    now: datetime,
) -> Erased:
    """`erase_patient` in a transaction of its own, then the patient's data key destroyed. The
    key outliving a committed erasure (the keyring unreachable) is logged and left to
    `shred_pending`, run at start-up and by every retention run: the live rows hold no words
    by then. Refused without the keyring (AFTERCARE_DATA_KEY unset): a key would outlive it."""
    if db.keyring is None:
        raise ErasureRefused(
            C_("AFTERCARE_DATA_KEY is not set here: the patient's data key could not be destroyed.")
        )
    async with db.transaction() as session:
        erased = await erase_patient(
            session, clinic=clinic, ref=ref, basis=basis, actor=actor, now=now
        )
    assert erased.patient.id is not None
    try:
        destroyed = await shred_keys(db, patient_ids=[erased.patient.id], now=now) > 0
    except Exception as exc:
        log.error(
            "patient %s erased; destroying the data key failed (%s): retried by "
            "the next retention run",
            erased.patient.ref,
            type(exc).__name__,
        )
        destroyed = False
    return replace(erased, key_destroyed=destroyed)


async def shred_keys(db: Database, *, patient_ids: Iterable[int], now: datetime) -> int:
    """Destroy the data keys of erased patients, after the erasure committed (crypto-shredding:
    their sealed words then open nowhere, backups included); how many keys were destroyed.
    A failure here leaves the key to `shred_pending`, which retries every erased patient's."""
    if db.keyring is None:
        return 0
    return sum([await db.keyring.shred(pid, now=now) for pid in patient_ids])


async def shred_pending(db: Database, *, now: datetime) -> int:
    """Shred the key of every erased patient whose key survived (a crash between the erasure's
    commit and its shredding, or a keyring restored from an older backup)."""
    if db.keyring is None:
        return 0
    async with db.transaction() as session:
        erased = await erased_patient_ids(session)
    done = await db.keyring.shredded()
    return await shred_keys(db, patient_ids=sorted(set(erased) - done), now=now)


async def erase_restored(db: Database, *, now: datetime) -> int:
    """Erase again every patient whose data key is destroyed but whose row is not erased: a
    backup of the data from before their erasure was restored. Their rows hold nothing
    readable; nothing more may be sent to them. Run at start-up; audited (`patient.erased`,
    basis `erased_before_restore`); how many."""
    if db.keyring is None:
        return 0
    async with db.transaction() as session:
        erased = set(await erased_patient_ids(session))
    again = sorted(await db.keyring.shredded() - erased - {INBOX_OWNER})
    done = 0
    for pid in again:
        async with db.transaction() as session:
            await lock_patient(session, patient_id=pid)
            row = await get_patient(session, patient_id=pid)
            if row is None or row.status == PatientStatus.ERASED:
                continue  # a tombstone of a patient this copy never had
            await _erase_row(session, row, basis="erased_before_restore", actor=SERVICE, now=now)
            done += 1
    return done


async def start_keys(db: Database, *, now: datetime) -> None:
    """At start-up: every key unwraps (or one line names the KEK missing), a key an interrupted
    erasure left is destroyed, a patient erased since a restored backup is erased again."""
    if db.keyring is None:
        return
    await db.keyring.open()
    await shred_pending(db, now=now)
    if erased := await erase_restored(db, now=now):
        log.warning("%d patients erased again: the data was restored from before", erased)
    if db.dialect == "postgresql" and db.keyring.url == db.url:
        log.warning(
            "the patients' data keys are kept in the data's own database: a dump of it holds "
            "them (wrapped); set AFTERCARE_KEYRING_URL to a second database so that an erasure "
            "reaches backups (README, Privacy)"
        )


async def set_legal_hold(
    session: AsyncSession,
    *,
    clinic: ClinicConfig,
    ref: str,
    hold: bool,
    actor: Actor,
    now: datetime,
) -> Patient:
    """Place or lift a patient's legal hold (audited); a no-op change is still answered."""
    row = await _locked_patient(session, clinic, ref)
    if row.status == PatientStatus.ERASED and hold:
        raise ErasureRefused(C_("{ref} was erased already.").format(ref=row.ref))
    if row.legal_hold != hold:
        row.legal_hold = hold
        session.add(row)
        await audit.append(
            session,
            at=now,
            actor=actor,
            event="patient.legal_hold" if hold else "patient.legal_hold_lifted",
            clinic_id=row.clinic_id,
            patient_id=row.id,
            detail={},
        )
    return row

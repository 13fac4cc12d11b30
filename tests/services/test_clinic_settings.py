"""A clinic's settings in the database: who wins (file or console), versions, saving with a
conflict check, re-planning, restore, preview, and the TOML export."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from bot.clinic_config import ClinicConfig, ClinicsConfig, parse_clinics
from bot.services.clinic import settings as clinic_settings
from bot.services.clinic.settings_shape import as_toml, changes_between
from bot.services.infusions import record_infusion
from storage.engine import Database
from storage.models import AuditEvent, Checkin, ClinicSettings, Patient
from storage.states import Actor, ActorKind, CheckinStatus, PatientStatus
from tests.auxil.harness import clinic_file

NOW = datetime(2026, 5, 4, 12, 0, tzinfo=UTC)
ADMIN = Actor.of(ActorKind.CLINICIAN, 7)


async def _start(db: Database, file: ClinicsConfig) -> clinic_settings.Effective:
    async with db.transaction() as session:
        effective, _ = await clinic_settings.effective_clinics(session, file=file, now=NOW)
    return effective


async def _versions(db: Database) -> list[ClinicSettings]:
    async with db.transaction() as session:
        return list((await session.scalars(select(ClinicSettings).order_by("version"))).all())


def _offsets(clinic: ClinicConfig) -> list[timedelta]:
    return list(clinic.protocols["standard"].offsets)


async def test_a_file_managed_clinic_follows_the_file_and_keeps_each_version(db: Database) -> None:
    first = await _start(db, clinic_file())
    again = await _start(db, clinic_file())
    assert first.versions == again.versions == {"north": 1}
    changed = await _start(db, clinic_file(offsets='["PT6H"]'))
    assert changed.versions == {"north": 2}
    assert _offsets(changed.clinics.clinic("north")) == [timedelta(hours=6)]
    rows = await _versions(db)
    assert [(r.version, r.source) for r in rows] == [(1, "file"), (2, "file")]
    assert json.loads(rows[0].settings)["protocols"]["standard"]["offsets"] == ["PT4H", "P1D"]


async def test_a_file_managed_clinic_cannot_be_saved_from_the_console(db: Database) -> None:
    effective = await _start(db, clinic_file())
    edited = effective.clinics.clinic("north").model_copy(update={"name": "Renamed"})
    async with db.transaction() as session:
        with pytest.raises(clinic_settings.SettingsError, match="clinic file"):
            await clinic_settings.save(session, clinic=edited, based_on=1, actor=ADMIN, now=NOW)
    assert len(await _versions(db)) == 1


async def test_a_console_managed_clinic_keeps_its_saved_settings_over_the_file(
    db: Database,
) -> None:
    effective = await _start(db, clinic_file("console"))
    north = effective.clinics.clinic("north")
    edited = north.model_copy(
        update={
            "protocols": {
                "standard": north.protocols["standard"].model_copy(
                    update={"offsets": [timedelta(hours=2)], "red_flags_at": timedelta(hours=2)}
                )
            }
        }
    )
    async with db.transaction() as session:
        saved = await clinic_settings.save(session, clinic=edited, based_on=1, actor=ADMIN, now=NOW)
    assert saved.version == 2
    assert [c.path for c in saved.changes] == [
        "protocols.standard.offsets",
        "protocols.standard.red_flags_at",
    ]
    restarted = await _start(db, clinic_file("console", offsets='["PT8H"]'))  # the file changed too
    assert restarted.versions == {"north": 2}
    assert _offsets(restarted.clinics.clinic("north")) == [timedelta(hours=2)]
    # switching the clinic back to the file: the file wins again, as a new version
    back = await _start(db, clinic_file("file", offsets='["PT8H"]'))
    assert back.versions == {"north": 3}
    assert _offsets(back.clinics.clinic("north")) == [timedelta(hours=8)]


async def test_a_save_based_on_an_older_version_is_refused(db: Database) -> None:
    effective = await _start(db, clinic_file("console"))
    north = effective.clinics.clinic("north")
    async with db.transaction() as session:
        await clinic_settings.save(
            session, clinic=north.model_copy(update={"name": "A"}), based_on=1, actor=ADMIN, now=NOW
        )
    async with db.transaction() as session:
        with pytest.raises(clinic_settings.SettingsConflict):
            await clinic_settings.save(
                session,
                clinic=north.model_copy(update={"name": "B"}),
                based_on=1,
                actor=ADMIN,
                now=NOW,
            )
    rows = await _versions(db)
    assert [json.loads(r.settings)["name"] for r in rows] == ["North", "A"]


async def _patient_with_infusion(db: Database, clinic: ClinicConfig) -> Patient:
    async with db.transaction() as session:
        patient = Patient(
            clinic_id="north", ref="P1", timezone="UTC", status="active", chat_id=1, created_at=NOW
        )
        session.add(patient)
        await session.flush()
        await record_infusion(
            session,
            patient=patient,
            clinic=clinic,
            ended_at=NOW,
            protocol=None,
            now=NOW,
            actor="cli",
        )
    return patient


async def test_saving_a_new_schedule_replans_unsent_checkins_and_is_audited(db: Database) -> None:
    effective = await _start(db, clinic_file("console"))
    north = effective.clinics.clinic("north")
    await _patient_with_infusion(db, north)
    edited = north.model_copy(
        update={
            "protocols": {
                "standard": north.protocols["standard"].model_copy(
                    update={
                        "offsets": [timedelta(hours=6), timedelta(hours=24)],
                        "red_flags_at": timedelta(hours=6),
                    }
                )
            }
        }
    )
    async with db.transaction() as session:
        preview = await clinic_settings.preview(
            session, before=north, after=edited, protocol="standard", infusion_at=NOW
        )
    assert preview.patients_replanned == 1
    assert [p.due_at - NOW for p in preview.before][:2] == [timedelta(hours=4), timedelta(hours=24)]
    assert [p.due_at - NOW for p in preview.after][:2] == [timedelta(hours=6), timedelta(hours=24)]
    later = NOW + timedelta(minutes=5)
    async with db.transaction() as session:
        saved = await clinic_settings.save(
            session, clinic=edited, based_on=1, actor=ADMIN, now=later
        )
    assert saved.replanned == 1
    async with db.transaction() as session:
        rows = (
            await session.scalars(select(Checkin).where(Checkin.status == CheckinStatus.SCHEDULED))
        ).all()
        event = await session.scalar(select(AuditEvent).where(AuditEvent.event == "settings.saved"))
    offsets = sorted(r.offset_seconds for r in rows if r.offset_seconds is not None)
    assert offsets == [6 * 3600, 24 * 3600]
    assert event is not None and str(event.actor) == "clinician:7"
    assert json.loads(event.detail)["changed"] == [
        "protocols.standard.offsets",
        "protocols.standard.red_flags_at",
    ]
    # a change that does not touch the plan re-plans nobody
    async with db.transaction() as session:
        renamed = await clinic_settings.save(
            session,
            clinic=saved.clinic.model_copy(update={"name": "North 2"}),
            based_on=2,
            actor=ADMIN,
            now=later,
        )
    assert (renamed.version, renamed.replanned) == (3, 0)


async def test_restore_saves_an_old_version_again(db: Database) -> None:
    effective = await _start(db, clinic_file("console"))
    north = effective.clinics.clinic("north")
    async with db.transaction() as session:
        await clinic_settings.save(
            session,
            clinic=north.model_copy(update={"name": "Other"}),
            based_on=1,
            actor=ADMIN,
            now=NOW,
        )
    async with db.transaction() as session:
        restored = await clinic_settings.restore(
            session, clinic_id="north", version=1, based_on=2, actor=ADMIN, now=NOW
        )
        third = await clinic_settings.stored_version(session, clinic_id="north", version=3)
    assert restored.version == 3 and third is not None
    assert third.name == "North"
    assert [(r.version, r.source) for r in await _versions(db)][-1] == (3, "restore")


def test_the_toml_export_loads_back_as_the_same_clinic() -> None:
    clinic = parse_clinics(
        """
[[clinics]]
id = "north"
name = "North \\"Clinic\\""
timezone = "Europe/Berlin"
contact_phone = "+49 30"
managed_by = "console"
quiet_hours = false

[clinics.protocols.standard]
offsets = ["PT4H", "PT1H30M"]
red_flags_at = false

[clinics.escalation]
low = [
  { after = "PT0S", notify = ["queue"] },
  { after = "next_business_day", notify = ["primary"] },
]

[[clinics.oncall.rotation]]
clinician = "Dr Ada"
days = [1, 3]
start = "08:00"
end = "20:00"
""",
        source="t",
    ).clinic("north")
    assert clinic.quiet_hours is None and clinic.protocols["standard"].red_flags_at is None
    text = as_toml(clinic)
    again = parse_clinics(text, source="export").clinic("north")
    assert again == clinic
    assert changes_between(clinic, again) == []


async def test_a_protocol_still_in_use_cannot_be_dropped_by_a_restore(db: Database) -> None:
    effective = await _start(db, clinic_file("console"))
    north = effective.clinics.clinic("north")
    with_slow = north.model_copy(
        update={"protocols": {**north.protocols, "slow": north.protocols["standard"]}}
    )
    async with db.transaction() as session:
        await clinic_settings.save(session, clinic=with_slow, based_on=1, actor=ADMIN, now=NOW)
        patient = Patient(
            clinic_id="north", ref="P1", timezone="UTC", status="active", chat_id=1, created_at=NOW
        )
        session.add(patient)
        await session.flush()
        await record_infusion(
            session,
            patient=patient,
            clinic=with_slow,
            ended_at=NOW,
            protocol="slow",
            now=NOW,
            actor="cli",
        )
    async with db.transaction() as session:
        with pytest.raises(clinic_settings.SettingsError, match="slow is still used"):
            await clinic_settings.restore(
                session, clinic_id="north", version=1, based_on=2, actor=ADMIN, now=NOW
            )
    assert [r.version for r in await _versions(db)] == [1, 2]


async def test_a_new_schedule_leaves_stopped_patients_alone(db: Database) -> None:
    effective = await _start(db, clinic_file("console"))
    north = effective.clinics.clinic("north")
    patient = await _patient_with_infusion(db, north)
    async with db.transaction() as session:
        stopped = await session.get(Patient, patient.id)
        assert stopped is not None
        stopped.status = PatientStatus.OPTED_OUT
        for row in (await session.scalars(select(Checkin))).all():
            row.status = CheckinStatus.CANCELLED
    edited = north.model_copy(
        update={
            "checkins": north.checkins.model_copy(update={"reminder_after": timedelta(minutes=30)})
        }
    )
    async with db.transaction() as session:
        saved = await clinic_settings.save(session, clinic=edited, based_on=1, actor=ADMIN, now=NOW)
        scheduled = (
            await session.scalars(select(Checkin).where(Checkin.status == CheckinStatus.SCHEDULED))
        ).all()
    assert saved.replanned == 0 and scheduled == []


async def test_cli_commands_use_the_stored_settings_and_never_store_their_file(
    db: Database,
) -> None:
    await _start(db, clinic_file())  # the running bot's file: version 1
    async with db.transaction() as session:
        other, replan = await clinic_settings.effective_clinics(
            session, file=clinic_file(offsets='["PT9H"]'), now=NOW, apply_file=False
        )
    assert replan == [] and other.versions == {"north": 1}
    assert _offsets(other.clinics.clinic("north")) == [timedelta(hours=4), timedelta(hours=24)]
    assert len(await _versions(db)) == 1

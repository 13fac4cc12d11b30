"""One clinic with something on every console page: an admin, a clinician, a second clinic the
admin also belongs to, a patient with an open case, three answered check-ins, an infusion and
an on-call shift (the browser sweep and the pseudo-locale test read the same pages)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select

from bot.services.infusions import record_infusion
from bot.services.oncall import add_shift
from storage.models import Case, Clinician, Infusion, OnCallShift, Patient
from tests.auxil.console import ConsoleBot, join, patient_with_case
from tests.console.test_patients_routes import _history


@dataclass(frozen=True)
class Seeded:
    patient: Patient
    case: Case
    infusion: Infusion
    shift: OnCallShift
    ben: Clinician


async def seed_every_page(
    app: ConsoleBot, *, admin: int, ben: int, second_admin: int | None = None
) -> Seeded:
    """ "Admin Ada" (user `admin`, also of clinic south as `second_admin`, or as herself) and
    "Dr Ben" (user `ben`) of north; patient P-042 with a high case, its history, an infusion
    that ended an hour ago and Dr Ben's shift from 2 to 14 hours from now."""
    ctx = app.bot.ctx
    await join(app, admin, "Admin Ada")
    await join(app, ben, "Dr Ben")
    await join(app, second_admin or admin, "Admin Ada", clinic="south")  # a second clinic
    patient, case = await patient_with_case(app, "P-042")
    await _history(app, patient)
    now = ctx.clock.now()
    async with ctx.db.transaction() as session:
        clinic = ctx.clinic("north")
        await record_infusion(
            session,
            patient=patient,
            clinic=clinic,
            ended_at=now - timedelta(hours=1),
            protocol=None,
            now=now,
            actor="cli",
        )
        await add_shift(
            session,
            clinic=clinic,
            clinician_name="Dr Ben",
            starts_at=now + timedelta(hours=2),
            ends_at=now + timedelta(hours=14),
            now=now,
            actor="cli",
        )
    async with ctx.db.transaction() as session:
        infusion = (await session.scalars(select(Infusion).order_by(Infusion.id))).all()[-1]
        shift = (await session.scalars(select(OnCallShift))).first()
        doctor = (await session.scalars(select(Clinician).where(Clinician.name == "Dr Ben"))).one()
    assert shift is not None
    return Seeded(patient=patient, case=case, infusion=infusion, shift=shift, ben=doctor)

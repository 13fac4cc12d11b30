"""What a record allows, as the services say it (the console's templates only read it)."""

from __future__ import annotations

import pytest

from bot.services.patients import PatientActions, patient_actions
from storage.states import InfusionStatus, PatientStatus


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (PatientStatus.INVITED, PatientActions(False, True, False, False, True)),
        (PatientStatus.ACTIVE, PatientActions(True, True, True, False, False)),
        (PatientStatus.OPTED_OUT, PatientActions(True, False, False, True, False)),
        (PatientStatus.UNREACHABLE, PatientActions(True, False, False, True, False)),
    ],
)
def test_what_the_clinic_may_do_with_a_patients_monitoring(
    status: PatientStatus, expected: PatientActions
) -> None:
    assert patient_actions(status) == expected
    assert patient_actions(status.value) == expected  # type: ignore[arg-type]  # a bare string
    # the services' own rules agree: infusions are refused exactly when resume is offered
    assert status.is_stopped is expected.resume is not expected.record_infusion


def test_only_an_active_infusion_may_be_moved_or_cancelled() -> None:
    assert InfusionStatus.ACTIVE.may_change
    assert not InfusionStatus.CANCELLED.may_change

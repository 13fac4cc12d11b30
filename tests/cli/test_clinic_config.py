"""The clinic file: CLINICAL.md defaults, the example file, and clear errors naming the key."""

from __future__ import annotations

from datetime import time, timedelta
from pathlib import Path

import pytest

from bot.clinic_config import ConfigError, default_clinics, load_clinics, parse_clinics
from bot.domain.levels import Level

ROOT = Path(__file__).resolve().parents[2]
MINIMAL = """
[[clinics]]
id = "north"
name = "North"
timezone = "Europe/London"
contact_phone = "+44 20 0000"
"""


def test_defaults_are_the_clinical_defaults() -> None:
    clinic = parse_clinics(MINIMAL, source="t.toml").clinics[0]
    protocol = clinic.protocols["standard"]
    assert protocol.offsets == [timedelta(hours=4), timedelta(hours=24)]
    assert (protocol.daily_time, protocol.daily_days) == (time(10, 0), 7)
    assert protocol.red_flags_at == timedelta(hours=4)
    assert clinic.checkins.reminder_after == timedelta(hours=1)
    assert clinic.checkins.missed_after == timedelta(hours=4)
    assert (clinic.thresholds.mood_floor, clinic.thresholds.mood_drop) == (2, 3)
    assert clinic.thresholds.mood_drop_checkins == 2
    high = clinic.escalation.high
    assert [s.after for s in high] == [timedelta(0), timedelta(minutes=5), timedelta(minutes=10)]
    assert [s.notify for s in high] == [["primary"], ["primary", "backup"], ["everyone"]]
    assert [s.after for s in clinic.escalation.moderate] == [timedelta(0), timedelta(hours=4)]
    assert clinic.escalation.low[1].after == "next_business_day"
    assert clinic.escalation.human_contact_within == timedelta(hours=12)
    assert clinic.non_response.consecutive_missed == 2
    assert clinic.non_response.risk_lookback == timedelta(days=7)
    assert clinic.alerts_include_name is False
    assert clinic.invite_valid_for == timedelta(days=7)
    card = clinic.crisis.card
    for resource in ("988", "838255", "741741", "911", "not an emergency service"):
        assert resource in card
    assert "not watched around the clock" in card


def test_example_file_validates_and_matches_the_builtin_defaults() -> None:
    example = load_clinics(ROOT / "clinic.example.toml").clinics[0]
    builtin = default_clinics().clinics[0]
    for section in ("checkins", "thresholds", "escalation", "non_response", "quiet_hours"):
        assert getattr(example, section) == getattr(builtin, section), section
    assert example.protocols["standard"] == builtin.protocols["standard"]
    assert example.crisis.card.strip() == builtin.crisis.card.strip()


def test_seconds_offsets_are_allowed_for_rehearsal() -> None:
    text = MINIMAL + '[clinics.protocols.standard]\noffsets = ["PT30S", "PT1M"]\n'
    protocol = parse_clinics(text, source="t.toml").clinics[0].protocol()
    assert protocol.offsets == (timedelta(seconds=30), timedelta(minutes=1))


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (
            '[clinics.protocols.standard]\noffsets = ["4 hours"]\n',
            "t.toml: clinics[0].protocols.standard.offsets[0]:",
        ),
        (
            '[clinics.protocols.standard]\noffsets = ["-PT4H"]\n',
            "t.toml: clinics[0].protocols.standard.offsets: offsets must be positive",
        ),
        ("[clinics.thresholds]\nmood_floor = 11\n", "t.toml: clinics[0].thresholds.mood_floor:"),
        ("[clinics.thresholds]\nmood_flor = 1\n", "t.toml: clinics[0].thresholds.mood_flor: Extra"),
        ('[clinics.checkins]\nreminder_after = "PT5H"\n', "reminder_after < missed_after"),
        (
            '[clinics.escalation]\nhigh = [{ after = "PT1M", notify = ["primary"] }]\n',
            "clinics[0].escalation.high: a ladder's first step must have after",
        ),
        (
            '[clinics.escalation]\nhigh = [{ after = "PT0S", notify = ["pager"] }]\n',
            "clinics[0].escalation.high[0].notify[0]:",
        ),
    ],
)
def test_invalid_values_name_file_key_and_problem(extra: str, expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_clinics(MINIMAL + extra, source="t.toml")
    assert expected in str(caught.value)
    assert "\n" not in str(caught.value)


def test_phone_country_code_is_unset_by_default_and_checked() -> None:
    assert parse_clinics(MINIMAL, source="t.toml").clinics[0].phone_country_code is None
    set_to = parse_clinics(MINIMAL + 'phone_country_code = "+44"\n', source="t.toml")
    assert set_to.clinics[0].phone_country_code == "+44"
    with pytest.raises(ConfigError, match=r"clinics\[0\]\.phone_country_code: a country"):
        parse_clinics(MINIMAL + 'phone_country_code = "44"\n', source="t.toml")


def test_unknown_timezone_and_missing_fields() -> None:
    with pytest.raises(
        ConfigError, match=r"clinics\[0\].timezone: unknown IANA time zone 'Mars/Base'"
    ):
        parse_clinics(MINIMAL.replace("Europe/London", "Mars/Base"), source="t.toml")
    with pytest.raises(ConfigError, match=r"clinics\[0\].contact_phone: Field required"):
        parse_clinics(MINIMAL.replace('contact_phone = "+44 20 0000"', ""), source="t.toml")


def test_duplicate_ids_bad_toml_and_missing_protocol() -> None:
    with pytest.raises(ConfigError, match="repeated: north"):
        parse_clinics(MINIMAL + MINIMAL, source="t.toml")
    with pytest.raises(ConfigError, match=r"t\.toml: not valid TOML"):
        parse_clinics("[[clinics]\nid=", source="t.toml")
    with pytest.raises(ConfigError, match="default_protocol 'daily' is not one of the protocols"):
        parse_clinics(
            MINIMAL.replace("contact_phone", 'default_protocol = "daily"\ncontact_phone'),
            source="t.toml",
        )
    with pytest.raises(ConfigError, match=r"t.toml: clinics: List should have at least 1 item"):
        parse_clinics("clinics = []", source="t.toml")


def test_missing_file_falls_back_to_builtin_clinic_with_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = load_clinics(tmp_path / "absent.toml")
    assert [c.id for c in config.clinics] == ["default"]
    assert "built-in default clinic" in caplog.text
    assert config.clinics[0].escalation.high[0].notify == ["primary"]
    assert Level.HIGH.rank > Level.MODERATE.rank > Level.LOW.rank > Level.NONE.rank

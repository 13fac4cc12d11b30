"""Envelope encryption's pure parts: KEKs from the environment, wrapping a patient's data key,
sealing a value bound to its field (issue 31)."""

from __future__ import annotations

import pytest

from bot.crypto.envelope import (
    PREFIX,
    Unreadable,
    is_sealed,
    new_data_key,
    open_sealed,
    owner_of,
    seal,
    unwrap,
    wrap,
)
from bot.crypto.keys import KeyProblem, new_entry, parse


def test_keys_parse_newest_first_and_never_show_a_key() -> None:
    first, second = new_entry("k2"), new_entry("k1")
    keys = parse(f" {first} , {second} ")
    assert keys.newest == "k2" and sorted(keys.keys) == ["k1", "k2"]
    assert all(len(k) == 32 for k in keys.keys.values())
    assert first.split(":", 1)[1] not in repr(keys)


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        ("", "is empty"),
        ("nocolon", "is not ID:KEY"),
        ("bad id!:AAAA", "is not ID:KEY"),
        ("k1:%%%%", "not URL-safe base64"),
        ("k1:AAAA", "is 3 bytes, not 32"),
    ],
)
def test_a_malformed_key_is_refused_saying_why(raw: str, says: str) -> None:
    with pytest.raises(KeyProblem, match=says) as refused:
        parse(raw)
    assert "AAAA" not in str(refused.value)


def test_a_key_id_listed_twice_is_refused() -> None:
    entry = new_entry("k1")
    with pytest.raises(KeyProblem, match="listed twice"):
        parse(f"{entry},{entry}")


def test_a_missing_kek_is_named() -> None:
    keys = parse(new_entry("k2"))
    with pytest.raises(KeyProblem, match=r"'k1'.*keys rotate"):
        keys.key("k1")


def test_a_data_key_unwraps_only_for_its_patient_under_its_kek() -> None:
    kek, other = parse(new_entry("a")).keys["a"], parse(new_entry("b")).keys["b"]
    data_key = new_data_key()
    wrapped = wrap(kek, data_key, patient_id=7)
    assert data_key not in wrapped
    assert unwrap(kek, wrapped, patient_id=7) == data_key
    with pytest.raises(Unreadable):
        unwrap(kek, wrapped, patient_id=8)  # moved to another patient's row
    with pytest.raises(Unreadable):
        unwrap(other, wrapped, patient_id=7)


def test_a_sealed_value_opens_only_with_its_key_and_field() -> None:
    key = new_data_key()
    sealed = seal(key, "I keep thinking about it ✓", field="case.quote", owner=7)
    assert sealed.startswith(PREFIX) and is_sealed(sealed) and not is_sealed("plain")
    assert "thinking" not in sealed
    assert open_sealed(key, sealed, field="case.quote") == "I keep thinking about it ✓"
    same = "same"
    assert seal(key, same, field="f", owner=7) != seal(
        key, same, field="f", owner=7
    )  # a fresh nonce each
    with pytest.raises(Unreadable):
        open_sealed(key, sealed, field="patient.emergency_contact")  # copied to another column
    with pytest.raises(Unreadable):
        open_sealed(new_data_key(), sealed, field="case.quote")  # the key was shredded
    with pytest.raises(Unreadable):
        open_sealed(key, sealed[:-4] + "AAAA", field="case.quote")  # altered
    with pytest.raises(Unreadable):
        open_sealed(key, "plain text", field="case.quote")
    assert owner_of(sealed) == 7 and sealed.startswith("ac1:7:")
    with pytest.raises(Unreadable):  # the owner rewritten: the tag binds it
        open_sealed(key, "ac1:8:" + sealed.removeprefix("ac1:7:"), field="case.quote")

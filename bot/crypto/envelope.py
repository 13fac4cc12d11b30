"""AES-GCM (the `cryptography` package) for the two layers of envelope encryption:
- a patient's data key wrapped under a KEK: `wrap` / `unwrap`, bound to the patient's id;
- a value sealed under the patient's data key: `seal` / `open_sealed`, bound to what it is
  (e.g. "case.quote"), so a sealed value copied into another column or another patient's row
  does not open.
A sealed value is text, `ac1:OWNER:` + URL-safe base64 of nonce ‖ ciphertext ‖ tag, where OWNER
is the patient whose data key seals it (so a reader finds the key without another query); it
fits the Text columns that held the plain value and an unsealed value is told apart at a glance
(the resumable migration of an existing database seals only what does not start with `ac1:`)."""

from __future__ import annotations

import base64
import binascii
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from bot.crypto.keys import KEY_BYTES

PREFIX = "ac1:"
_NONCE = 12


class Unreadable(Exception):
    """A sealed value that does not open: its key was shredded, or it was altered or moved."""


def new_data_key() -> bytes:
    return AESGCM.generate_key(bit_length=KEY_BYTES * 8)


def _aad(kind: str, subject: str) -> bytes:
    return f"aftercare:{kind}:{subject}".encode()


def wrap(kek: bytes, data_key: bytes, *, patient_id: int) -> bytes:
    nonce = os.urandom(_NONCE)
    return nonce + AESGCM(kek).encrypt(nonce, data_key, _aad("patient-key", str(patient_id)))


def unwrap(kek: bytes, wrapped: bytes, *, patient_id: int) -> bytes:
    try:
        return AESGCM(kek).decrypt(
            wrapped[:_NONCE], wrapped[_NONCE:], _aad("patient-key", str(patient_id))
        )
    except InvalidTag:
        raise Unreadable(f"patient {patient_id}'s key does not unwrap under this KEK") from None


def is_sealed(value: str | None) -> bool:
    return value is not None and value.startswith(PREFIX)


def owner_of(value: str) -> int:
    """The patient whose data key seals `value` (Unreadable when it is not a sealed value)."""
    owner, sep, _rest = value[len(PREFIX) :].partition(":")
    if not is_sealed(value) or not sep or not owner.isdigit():
        raise Unreadable("not a sealed value")
    return int(owner)


def seal(data_key: bytes, plain: str, *, field: str, owner: int) -> str:
    nonce = os.urandom(_NONCE)
    aad = _aad("value", f"{field}:{owner}")
    sealed = nonce + AESGCM(data_key).encrypt(nonce, plain.encode("utf-8"), aad)
    return f"{PREFIX}{owner}:{base64.urlsafe_b64encode(sealed).decode('ascii')}"


def open_sealed(data_key: bytes, value: str, *, field: str) -> str:
    owner = owner_of(value)
    try:
        raw = base64.urlsafe_b64decode(value[len(PREFIX) + len(str(owner)) + 1 :])
        aad = _aad("value", f"{field}:{owner}")
        plain = AESGCM(data_key).decrypt(raw[:_NONCE], raw[_NONCE:], aad)
    except (binascii.Error, ValueError, InvalidTag):
        raise Unreadable(f"a {field} value does not open") from None
    return plain.decode("utf-8")

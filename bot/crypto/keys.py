"""The key-encryption keys (KEKs) from the environment: `AFTERCARE_DATA_KEY` holds one or more
`ID:KEY` pairs, comma-separated, newest first; KEY is 32 random bytes in URL-safe base64
(`aftercare keys new` prints a pair). The first wraps every new patient key; every one listed
unwraps, so a key can be rotated (`aftercare keys rotate` re-wraps under the first) and the old
one dropped once nothing is wrapped under it."""

from __future__ import annotations

import base64
import binascii
import os
import re
from dataclasses import dataclass

KEY_BYTES = 32  # AES-256
_ID = re.compile(r"[A-Za-z0-9_-]{1,16}")


class KeyProblem(ValueError):
    """AFTERCARE_DATA_KEY cannot be used; the message says why without showing any key."""


@dataclass(frozen=True)
class KeyEncryptionKeys:
    """The KEKs by id; `newest` wraps, any unwraps."""

    newest: str
    keys: dict[str, bytes]

    def key(self, key_id: str) -> bytes:
        try:
            return self.keys[key_id]
        except KeyError:
            raise KeyProblem(
                f"a patient key is wrapped under key {key_id!r}, which AFTERCARE_DATA_KEY does "
                "not list: add it back (after the newest) until `aftercare keys rotate` has run"
            ) from None

    def __repr__(self) -> str:  # never a key in a log or a traceback
        return f"KeyEncryptionKeys(newest={self.newest!r}, ids={sorted(self.keys)!r})"


def parse(raw: str) -> KeyEncryptionKeys:
    """`ID:KEY[,ID:KEY…]` → the keys; KeyProblem naming the entry (by position and id only)."""
    keys: dict[str, bytes] = {}
    order: list[str] = []
    entries = [e.strip() for e in raw.split(",") if e.strip()]
    if not entries:
        raise KeyProblem("AFTERCARE_DATA_KEY is empty: run `aftercare keys new` for one")
    for n, entry in enumerate(entries, start=1):
        key_id, sep, encoded = entry.partition(":")
        if not sep or not _ID.fullmatch(key_id):
            raise KeyProblem(
                f"entry {n} of AFTERCARE_DATA_KEY is not ID:KEY (ID: 1-16 letters, digits, _ or -)"
            )
        if key_id in keys:
            raise KeyProblem(f"key id {key_id!r} is listed twice in AFTERCARE_DATA_KEY")
        keys[key_id] = _decode(encoded, key_id)
        order.append(key_id)
    return KeyEncryptionKeys(newest=order[0], keys=keys)


def _decode(encoded: str, key_id: str) -> bytes:
    try:
        text = encoded.strip()
        key = base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)
    except (binascii.Error, ValueError):
        raise KeyProblem(f"key {key_id!r} in AFTERCARE_DATA_KEY is not URL-safe base64") from None
    if len(key) != KEY_BYTES:
        raise KeyProblem(
            f"key {key_id!r} in AFTERCARE_DATA_KEY is {len(key)} bytes, not {KEY_BYTES}"
        )
    return key


def new_entry(key_id: str) -> str:
    """A fresh `ID:KEY` entry (32 bytes from the operating system's random source)."""
    if not _ID.fullmatch(key_id):
        raise KeyProblem("a key id is 1-16 letters, digits, _ or -")
    return f"{key_id}:{base64.urlsafe_b64encode(os.urandom(KEY_BYTES)).decode().rstrip('=')}"

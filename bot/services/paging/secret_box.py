"""Secrets kept encrypted at rest, for what must be read back (an HMAC needs its secret): Fernet
(AES-128-CBC with HMAC-SHA256, `cryptography`) under the operator's AFTERCARE_SECRET_KEY.
Several keys, comma-separated, let the operator change keys: the first encrypts, any decrypts
(MultiFernet)."""

from __future__ import annotations

from collections.abc import Sequence

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from bot.settings import Settings


class Unreadable(Exception):
    """Sealed under a key this box does not hold (or altered)."""


class SecretBox:
    def __init__(self, keys: Sequence[str]) -> None:
        self._fernet = MultiFernet([Fernet(key.strip()) for key in keys])

    @classmethod
    def of(cls, settings: Settings) -> SecretBox | None:
        """The box of AFTERCARE_SECRET_KEY; None while it is unset."""
        if settings.secret_key is None:
            return None
        return cls(settings.secret_key.get_secret_value().split(","))

    def seal(self, plain: str) -> str:
        return self._fernet.encrypt(plain.encode("utf-8")).decode("ascii")

    def open(self, sealed: str) -> str:
        try:
            return self._fernet.decrypt(sealed.encode("ascii")).decode("utf-8")
        except (InvalidToken, UnicodeError) as exc:
            raise Unreadable("sealed under another AFTERCARE_SECRET_KEY, or altered") from exc

    def __repr__(self) -> str:
        return "SecretBox(…)"


def new_key() -> str:
    """A fresh key for AFTERCARE_SECRET_KEY."""
    return Fernet.generate_key().decode("ascii")

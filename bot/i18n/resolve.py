"""Which language a patient is spoken to in (issue 29): the first of the patient's own
setting, the clinic's default, Telegram's `language_code` (its first two letters) and English
that a check-in can be offered in. Pure: the caller passes what is offered."""

from __future__ import annotations

from collections.abc import Collection
from typing import Protocol

from bot.domain.instruments import cssrs_languages
from bot.i18n import SOURCE, catalogued, normalize
from bot.i18n.names import language_label
from bot.i18n.pseudo import PSEUDO
from bot.instrument_files.check import offered

CLINICIANS = SOURCE  # clinicians and pages are always spoken to in the clinic's language: English


def resolve(
    patient_setting: str | None,
    clinic_default: str | None,
    telegram_code: str | None,
    *,
    offered: Collection[str],
) -> str:
    """The first of patient setting → clinic default → Telegram's language → English that is
    in `offered` (a language without Aftercare's texts and an installed C-SSRS is skipped)."""
    telegram = normalize(telegram_code[:2]) if telegram_code else None
    for candidate in (normalize(patient_setting), normalize(clinic_default), telegram):
        if candidate is not None and candidate in offered:
            return candidate
    return SOURCE


def offered_languages() -> tuple[str, ...]:
    """The languages a check-in can be offered in: English, and each with both Aftercare's texts
    and an installed C-SSRS (the rule is `bot.instrument_files.check.offered`)."""
    return offered(cssrs_languages(), catalogued())


class Speaker(Protocol):
    """A patient as far as their language goes (`storage.models.Patient`)."""

    @property
    def language(self) -> str | None: ...

    @property
    def telegram_language(self) -> str | None: ...


def patient_language(
    patient: Speaker | None, clinic_default: str | None, telegram_code: str | None = None
) -> str:
    """The language to speak to `patient` in now; `telegram_code` from the update at hand when
    there is one, else the one last seen."""
    return resolve(
        patient.language if patient is not None else None,
        clinic_default,
        telegram_code or (patient.telegram_language if patient is not None else None),
        offered=offered_languages(),
    )


def menu_languages() -> tuple[str, ...]:
    """The languages that get their own command menu (`setMyCommands` with `language_code`):
    each catalogue but English (the default menu) and the pseudo-locale, which has no code of
    its own in Telegram ("en" would replace the English menu)."""
    return tuple(lang for lang in catalogued() if lang not in (SOURCE, PSEUDO))


DEFAULT = "default"  # the clinic's default, for a patient without a setting of their own


def chosen_language(text: str, *, offered: Collection[str]) -> str | None:
    """A patient's language as the clinic types it: a tag that is offered, or "default"
    (None: the clinic's default); ValueError naming what is missing otherwise."""
    if text.strip().lower() == DEFAULT:
        return None
    language = normalize(text.strip())
    if language is None:
        raise ValueError(f"{text!r} is not a language tag such as es, or {DEFAULT!r}")
    if language not in offered:
        raise ValueError(
            f"{language_label(language)} is not offered: a check-in needs Aftercare's "
            f"texts and an installed C-SSRS translation in it (offered: {', '.join(offered)})"
        )
    return language

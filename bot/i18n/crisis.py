"""The crisis card in the patient's language (CLINICAL.md §7, §13): the clinic's own card for
that language, the US Spanish default while the clinic keeps the US English card, the
pseudo-locale's accents over the English card; else the clinic's card as it wrote it."""

from __future__ import annotations

from bot.clinic_config import ClinicConfig
from bot.clinic_defaults import DEFAULT_CRISIS_CARD, DEFAULT_CRISIS_CARDS
from bot.i18n import SOURCE, normalize
from bot.i18n.pseudo import PSEUDO, pseudo


def crisis_card_text(clinic: ClinicConfig, language: str | None) -> str:
    """The card's text (without the clinic's own number) for `language`."""
    crisis = clinic.crisis
    chosen = normalize(language) or SOURCE
    if chosen == PSEUDO:
        return pseudo(crisis.card)
    if chosen in crisis.cards:
        return crisis.cards[chosen]
    if crisis.card == DEFAULT_CRISIS_CARD and chosen in DEFAULT_CRISIS_CARDS:
        return DEFAULT_CRISIS_CARDS[chosen]  # a US clinic: the published resources in Spanish
    return crisis.card  # no card in that language: the clinic's resources as it wrote them

"""Risk levels, lowest first (C-SSRS screener triage, CLINICAL.md §2)."""

from __future__ import annotations

from enum import StrEnum


class Level(StrEnum):
    """A risk or escalation level; compare with `rank`, never alphabetically."""

    NONE = "none"
    LOW = "low"
    MODERATE = "moderate"
    HIGH = "high"

    @property
    def rank(self) -> int:
        return _ORDER.index(self)


_ORDER = [Level.NONE, Level.LOW, Level.MODERATE, Level.HIGH]


def highest(*levels: Level) -> Level:
    """The most severe of the given levels (NONE when empty): a raised risk is never lowered."""
    return max(levels, key=lambda level: level.rank, default=Level.NONE)

"""Triage: what risk a check-in's answers mean (pure; CLINICAL.md §2-§4).

C-SSRS screener (published): the level is set by the highest-numbered Yes, never a sum —
1 or 2 low, 3 moderate, 4, 5 or 6 high. Our rules on top (not to be weakened): an
unanswered item is never taken as No, so a check-in closed after item 2 = Yes with any later
item unanswered is at least moderate, and any other screener left part-way asks a human to
look (low); and nothing here ever lowers a level already raised.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from bot.domain.checkin_flow import CSSRS_ITEMS, MOOD, RED_FLAGS, YES
from bot.domain.levels import Level, highest

CSSRS_LEVEL = {
    "s1": Level.LOW,
    "s2": Level.LOW,
    "s3": Level.MODERATE,
    "s4": Level.HIGH,
    "s5": Level.HIGH,
    "s6": Level.HIGH,
}


@dataclass(frozen=True)
class Finding:
    """One reason for concern, in words a clinician reads on a page."""

    level: Level
    reason: str


@dataclass(frozen=True)
class MoodRule:
    """Mood flags (CLINICAL.md §3): the floor, and a drop below baseline on consecutive days."""

    floor: int = 2
    drop: int = 3
    consecutive: int = 2
    level: Level = Level.MODERATE


@dataclass(frozen=True)
class Triage:
    level: Level
    findings: tuple[Finding, ...]


def triage_cssrs(answers: Mapping[str, str], *, closed: bool) -> list[Finding]:
    """Findings from the screener: the highest Yes, and the abandoned-after-item-2 rule."""
    yeses = [item for item in CSSRS_ITEMS if answers.get(item) == YES]
    findings = []
    if yeses:
        top = yeses[-1]
        findings.append(
            Finding(
                CSSRS_LEVEL[top],
                f"C-SSRS item {top[1:]} = Yes (items Yes: {', '.join(i[1:] for i in yeses)})",
            )
        )
    if not closed:
        return findings
    asked = ["s1", "s2", *(["s3", "s4", "s5"] if answers.get("s2") == YES else []), "s6"]
    unanswered = [item for item in asked if item not in answers]
    # Abandoned *after* item 2 = Yes: the items it leads to (3 to 6). Item 1 missing alone is a
    # screener left part-way (low), so answering it later can never lower the level.
    after_two = [item for item in unanswered if item not in ("s1", "s2")]
    if answers.get("s2") == YES and after_two:
        findings.append(
            Finding(
                Level.MODERATE,
                "check-in closed after C-SSRS item 2 = Yes with items "
                f"{', '.join(i[1:] for i in unanswered)} unanswered",
            )
        )
    elif unanswered and any(item in answers for item in CSSRS_ITEMS):
        # Unanswered is never No: a human looks at a screener left part-way. (A check-in with
        # no screener answer at all is a non-response, handled by CLINICAL.md §6's rules.)
        findings.append(
            Finding(
                Level.LOW,
                f"C-SSRS incomplete: items {', '.join(i[1:] for i in unanswered)} unanswered",
            )
        )
    return findings


def triage_red_flags(answers: Mapping[str, str]) -> list[Finding]:
    """Any post-infusion red flag present at +4 h is high (CLINICAL.md §4)."""
    if answers.get(RED_FLAGS) == YES:
        return [Finding(Level.HIGH, "post-infusion red flag present (emergency advice shown)")]
    return []


def triage_mood(
    mood: int | None, *, baseline: int | None, previous: Sequence[int], rule: MoodRule
) -> list[Finding]:
    """Mood at or below the floor, or `drop` below baseline on `consecutive` check-ins.

    `previous` holds the moods of the patient's earlier answered check-ins, newest first.
    """
    if mood is None:
        return []
    findings = []
    if mood <= rule.floor:
        findings.append(Finding(rule.level, f"mood {mood}/10 at or below floor {rule.floor}"))
    if baseline is not None:
        run = [mood, *previous][: rule.consecutive]
        if len(run) == rule.consecutive and all(m <= baseline - rule.drop for m in run):
            findings.append(
                Finding(
                    rule.level,
                    f"mood {', '.join(map(str, run))} on the last "
                    f"{rule.consecutive} check-ins, {rule.drop}+ below baseline {baseline}",
                )
            )
    return findings


def triage_checkin(
    answers: Mapping[str, str],
    *,
    closed: bool,
    baseline: int | None,
    previous_moods: Sequence[int],
    mood_rule: MoodRule,
    floor: Level = Level.NONE,
) -> Triage:
    """The check-in's level: the highest finding, never below `floor` (a level already raised)."""
    mood = int(answers[MOOD]) if MOOD in answers else None
    findings = [
        *triage_cssrs(answers, closed=closed),
        *triage_red_flags(answers),
        *triage_mood(mood, baseline=baseline, previous=previous_moods, rule=mood_rule),
    ]
    return Triage(level=highest(floor, *(f.level for f in findings)), findings=tuple(findings))

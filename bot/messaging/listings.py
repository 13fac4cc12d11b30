"""Case and patient listings as clinicians read them in Telegram (pure)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from bot.clinic_config import ClinicConfig
from bot.domain.levels import Level
from bot.messaging.pages import ICON, duration, reasons_in
from storage.models import Case, Page, Patient
from storage.states import PageStatus

MAX_TEXT = 4000
MAX_REASONS = 4
MAX_NAMES = 8


def main_reasons(case: Case, clinic: ClinicConfig) -> list[str]:
    """Each distinct reason once, oldest first, without its time stamp; the rest counted."""
    seen: list[str] = []
    for line in reasons_in(case.reason, clinic):
        words = line.split("] ", 1)[-1] if line.startswith("[") else line
        if words not in seen:
            seen.append(words)
    if len(seen) <= MAX_REASONS:
        return seen
    return [*seen[: MAX_REASONS - 1], f"… and {len(seen) - MAX_REASONS + 1} more", seen[-1]]


def case_summary(
    case: Case,
    patient: Patient,
    pages: Sequence[Page],
    names: dict[int | None, str],
    clinic: ClinicConfig,
    now: datetime,
) -> str:
    """One case of /open: reference, level, status and age; why; who was paged."""
    level = Level(case.level)
    head = (
        f"#{case.id} {ICON[level]} {level.value.upper()} {case.status} · "
        f"{duration(now - case.opened_at)} · {patient.ref}"
    )
    paged: dict[str, bool] = {}
    for page in pages:
        name = names.get(page.clinician_id, f"clinician {page.clinician_id}")
        paged[name] = paged.get(name, False) or page.status == PageStatus.SENT
    shown = [f"{n} {'✓' if ok else '✗ not delivered'}" for n, ok in paged.items()]
    if len(shown) > MAX_NAMES:
        shown = [*shown[:MAX_NAMES], f"and {len(shown) - MAX_NAMES} more"]
    who = ", ".join(shown) if shown else "nobody yet (care-team queue)"
    why = "; ".join(main_reasons(case, clinic))[:600]
    return f"{head}\n  Why: {why}\n  Paged: {who}"


def fit(blocks: Sequence[str], *, header: str, limit: int = MAX_TEXT) -> str:
    """As many whole blocks as fit in one message, and how many did not."""
    out, size = [header], len(header)
    for index, block in enumerate(blocks):
        left_after = len(blocks) - index - 1
        room_needed = len(block) + 2 + (len(_more(left_after)) + 2 if left_after else 0)
        if size + room_needed > limit:
            out.append(_more(len(blocks) - index))
            break
        out.append(block)
        size += len(block) + 2
    return "\n\n".join(out)


def _more(count: int) -> str:
    return f"… and {count} more not shown (oldest are listed first)."

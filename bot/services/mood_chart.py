"""A patient's mood chart from the store: answered check-ins, baseline, floor and infusions."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from itertools import groupby
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from bot.charts import MoodChart, MoodPoint
from bot.clinic_config import ClinicConfig
from bot.domain.checkin_flow import CSSRS_ITEMS, MOOD, MOOD_VALUES, YES
from bot.i18n import Cn_
from storage.models import Patient
from storage.views.charts import CheckinAnswer, checkin_answers, infusion_ends


def _point(answers: Sequence[CheckinAnswer]) -> MoodPoint:
    """One check-in's point: at the mood answer (else its first answer), C-SSRS any Yes."""
    by_item = {a.item_id: a for a in answers}
    mood = by_item.get(MOOD)
    screener = [a.value for a in answers if a.item_id in CSSRS_ITEMS]
    cssrs = None if not screener else "positive" if YES in screener else "negative"
    return MoodPoint(
        at=mood.answered_at if mood else min(a.answered_at for a in answers),
        mood=int(mood.value) if mood and mood.value in MOOD_VALUES else None,
        cssrs=cssrs,
        level=str(answers[0].risk_level),
    )


async def mood_chart_for(
    session: AsyncSession,
    *,
    patient: Patient,
    clinic: ClinicConfig,
    now: datetime,
    days: int = 30,
) -> MoodChart:
    """The chart of the patient's check-ins due in the last `days`, in the patient's zone."""
    assert patient.id is not None
    start = now - timedelta(days=days)
    answers = await checkin_answers(session, patient_id=patient.id, since=start, until=now)
    infusions = await infusion_ends(session, patient_id=patient.id, since=start, until=now)
    points = [_point(list(group)) for _, group in groupby(answers, key=lambda a: a.checkin_id)]
    return MoodChart(
        points=sorted(points, key=lambda p: p.at),
        baseline=patient.baseline_mood,
        floor=clinic.thresholds.mood_floor,
        infusions=infusions,
        tz=ZoneInfo(patient.timezone),
        start=start,
        end=now,
        title=Cn_("Mood of {ref}, last {n} day", "Mood of {ref}, last {n} days", days).format(
            ref=patient.ref, n=days
        ),
    )

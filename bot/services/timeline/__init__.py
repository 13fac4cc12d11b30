"""A patient's timeline (the console's patient page; its newest part is Telegram's /history):
infusions, check-ins with their answers, typed messages, late answers and cases with their
pages, newest first. Read only."""

from bot.services.timeline.build import RecentHistory, patient_timeline, recent
from bot.services.timeline.entries import (
    AnswerView,
    CaseEntry,
    CheckinEntry,
    InfusionEntry,
    LateAnswerEntry,
    MessageEntry,
    PageView,
    PlanEntry,
    ThreadEntry,
    Timeline,
    TimelineEntry,
    TimelinePatient,
)

__all__ = [
    "AnswerView",
    "CaseEntry",
    "CheckinEntry",
    "InfusionEntry",
    "LateAnswerEntry",
    "MessageEntry",
    "PageView",
    "PlanEntry",
    "RecentHistory",
    "ThreadEntry",
    "Timeline",
    "TimelineEntry",
    "TimelinePatient",
    "patient_timeline",
    "recent",
]

"""Aftercare: the application, its settings, the pure domain rules and the dispatcher."""

import os

# Opt in to python-telegram-bot's coming behaviour: durations (RetryAfter.retry_after) are
# timedelta, not int, and no deprecation warning is raised while handling a 429.
os.environ.setdefault("PTB_TIMEDELTA", "true")

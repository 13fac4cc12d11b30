"""The console's privacy actions (issue 31): a patient's erasure and legal hold (`erasure`)."""

from bot.console.privacy import erasure

ROUTES = [*erasure.ROUTES]

__all__ = ["ROUTES"]

"""The console's reports: the clinic's monthly report (`monthly`)."""

from bot.console.reports import monthly

ROUTES = [*monthly.ROUTES]

__all__ = ["ROUTES"]

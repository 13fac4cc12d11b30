"""Pages by Telegram: one message per clinician, with Acknowledge / Resolve buttons."""

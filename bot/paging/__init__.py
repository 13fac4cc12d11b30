"""Channels besides Telegram that reach a clinician: e-mail (SMTP)."""

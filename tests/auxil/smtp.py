"""The SMTP sink the tests use: the sandbox's (`sandbox/smtp.py`), shared with the demo."""

from __future__ import annotations

from sandbox.smtp import SmtpSink

__all__ = ["SmtpSink"]

"""The demo's edges: loading its sandbox (the `demo` extra), and what it prints after its run:
the e-mails its SMTP server accepted, and the audit trail with the chain check."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC
from typing import TYPE_CHECKING

from bot.cli.support import CliError
from bot.context import AppContext
from storage import audit

if TYPE_CHECKING:  # the sandbox needs the `demo` extra; the demo imports it when it runs
    from sandbox import BotApiSandbox
    from sandbox.smtp import SmtpSink

DEMO_INSTALL = "pip install -e '.[demo]'"

# Events the demo's run must leave in the audit trail.
AUDITED = ("escalation.opened", "page.sent", "escalation.acknowledged", "escalation.resolved")


def print_mail(out: Callable[[str], None], mail: SmtpSink) -> None:
    """Every e-mail the embedded SMTP server accepted: headers and the plain text."""
    for message in mail.messages:
        out("\n=== E-mail (embedded SMTP server) ===")
        for header in ("From", "To", "Subject"):
            out(f"{header}: {message[header]}")
        body = message.get_body(preferencelist=("plain",))
        text = body.get_content() if body is not None else ""
        out(str(text).rstrip())


def print_console(out: Callable[[str], None], console_url: str, link: str, ref: str) -> None:
    """Where the console is, and a sign-in link for Dr Backup, after the story."""
    out("\n=== The clinic console ===")
    out("Open this sign-in link in a browser, as Dr Backup (it works once, within 10 minutes):")
    out(f"  {link}")
    out(f"Then: the open case, the patient {ref}'s timeline and mood chart, at {console_url}/")
    out("The sandbox, the bot and the console keep running; press Ctrl-C to stop.")


async def print_audit(ctx: AppContext, out: Callable[[str], None]) -> str | None:
    """The audit trail, one line per event, and the chain check; what is wrong, if anything."""
    async with ctx.db.transaction() as session:
        events = await audit.events(session)
        verdict = await audit.verify(session)
    out("\n=== Audit trail ===")
    for e in events:
        ids = {"patient": e.patient_id, "checkin": e.checkin_id, "case": e.case_id}
        parts = [f"{k}={v}" for k, v in ids.items() if v is not None]
        for key, value in json.loads(e.detail).items():
            parts.append(f"{key}={value if isinstance(value, str) else json.dumps(value)}")
        detail = " ".join(parts)
        detail = detail if len(detail) <= 100 else detail[:99] + "…"
        stamp = f"{e.at.astimezone(UTC):%H:%M:%S}.{e.at.microsecond // 1000:03d}"
        out(f"{e.id:3d} {stamp} {e.actor:<13} {e.event:<26} {detail}")
    if not verdict.ok:
        out(f"audit log BROKEN at row {verdict.first_bad_id}: {verdict.problem}")
        return "the audit log's hash chain is broken"
    out(f"audit log intact: {verdict.checked} rows")
    missing = [name for name in AUDITED if name not in {e.event for e in events}]
    return f"the audit trail lacks {', '.join(missing)}" if missing else None


def load_sandbox() -> tuple[type[BotApiSandbox], type[SmtpSink]]:
    """The sandbox Bot API and its SMTP sink, which need the `demo` extra (tornado, aiosmtpd)."""
    try:
        from sandbox import BotApiSandbox
        from sandbox.smtp import SmtpSink
    except ModuleNotFoundError as exc:
        if (exc.name or "").partition(".")[0] not in {"sandbox", "tornado", "aiosmtpd"}:
            raise
        raise CliError(
            f"the demo needs its extra ({exc.name} is missing): {DEMO_INSTALL}", 2
        ) from None
    return BotApiSandbox, SmtpSink

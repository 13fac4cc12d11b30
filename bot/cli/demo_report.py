"""The demo's edges: loading its sandbox (the `demo` extra), and what it prints: the chats,
the e-mails its SMTP server accepted, the audit trail with the chain check, the clinic's FHIR
export checked against the FHIR R4B models, and with
`--console` the two sign-in links (the clinic's admin and the on-call clinician)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC
from typing import TYPE_CHECKING

from fhir.resources.R4B.bundle import Bundle
from pydantic import ValidationError

from bot.cli.support import CliError
from bot.context import AppContext
from bot.services.clinic.fhir_export import build_bundle
from bot.services.console_access import operator_link, signin_url
from storage import audit
from storage.states import Actor, ActorKind

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


@dataclass(frozen=True)
class ConsoleLinks:
    """The demo's two sign-in links: the clinic's admin (Dr Primary) and the on-call Dr Backup."""

    admin: str
    on_call: str


def print_console(
    out: Callable[[str], None], console_url: str, links: ConsoleLinks, ref: str
) -> None:
    """Where the console is, and who each sign-in link signs in and what they can do."""
    out("\n=== The clinic console ===")
    out("Two sign-in links; each works once, within 10 minutes. A browser holds one sign-in:")
    out("open each in its own browser or private window.")
    out("As Dr Primary, the clinic's admin: the open cases, patients and roster, and also")
    out("Settings (edit), Export and Team invites:")
    out(f"  {links.admin}")
    out("As Dr Backup, the on-call clinician (not an admin): the open cases, patients and")
    out("roster; Settings read-only, no Export, no Team invites:")
    out(f"  {links.on_call}")
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


async def print_fhir(ctx: AppContext, out: Callable[[str], None]) -> str | None:
    """The demo clinic's record as `aftercare export fhir` writes it, checked against the FHIR
    R4B models: what it holds, or why it is not valid."""
    clinic = ctx.clinics.clinics[0]
    async with ctx.db.transaction() as session:
        exported = await build_bundle(
            session,
            clinic_id=clinic.id,
            names=clinic.alerts_include_name,
            patient_ref=None,
            since=None,
            transaction=False,
            now=ctx.clock.now(),
        )
    out("\n=== FHIR export ===")
    try:
        Bundle.model_validate_json(exported.json)
    except ValidationError as exc:
        out(f"the Bundle is NOT valid FHIR R4B: {exc.error_count()} problems")
        return "the FHIR export is not valid FHIR R4B"
    held = ", ".join(f"{n} {kind}" for kind, n in exported.resources.items())
    out(f"{held}: a valid FHIR R4B collection Bundle (aftercare export fhir)")
    return None


def print_chat(
    out: Callable[[str], None],
    sandbox: BotApiSandbox,
    said: list[tuple[tuple[int, int, int], str]],
    chat_id: int,
    title: str,
) -> None:
    """One chat: the bot's messages (edits applied) interleaved with what the person did."""
    out(f"\n=== {title} ===")
    lines = list(said)
    for message in sandbox.chat(chat_id):
        text = (message.get("text") or message.get("caption") or "").replace("\n", "\n     ")
        keyboard = (message.get("reply_markup") or {}).get("inline_keyboard") or []
        if keyboard:
            text += "\n     " + " ".join(f"[{b['text']}]" for row in keyboard for b in row)
        lines.append(((message["message_id"], 0, 0), f"bot: {text}"))
    for _, line in sorted(lines):
        out(line)


async def minted_link(ctx: AppContext, name: str) -> str:
    """A console sign-in link for a clinician of the demo clinic, minted as the operator's
    `aftercare console link` does (same service, same rules), audited as the demo's."""
    assert ctx.settings.console_url is not None
    async with ctx.db.transaction() as session:
        _, token = await operator_link(
            session,
            clinic_id=ctx.clinics.clinics[0].id,
            name=name,
            now=ctx.clock.now(),
            minted_by=Actor.of(ActorKind.DEMO),
        )
    return signin_url(ctx.settings.console_url, token)


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

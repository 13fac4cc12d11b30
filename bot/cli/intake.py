"""CLI commands for the inbox: the updates parked after failing every try, and retrying one."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from bot.cli.support import CliError, with_context
from bot.context import AppContext
from bot.services.intake import requeue_update
from storage import inbox
from storage.models import InboundUpdate
from storage.people import patient_by_chat
from storage.states import CLI, InboxStatus

intake_app = typer.Typer(help="Received updates: parked ones, retries.", no_args_is_help=True)


def what_it_was(payload: str | None) -> str:
    """The update in a few words: the kind, and the text or button a person sent."""
    try:
        data: dict[str, Any] = json.loads(payload or "{}")
    except ValueError:
        return "unreadable update"
    for kind in ("message", "edited_message"):
        if isinstance(data.get(kind), dict):
            message = data[kind]
            body = message.get("text") or message.get("caption") or "(no text)"
            return f"{kind.replace('_', ' ')}: {body}"
    if isinstance(data.get("callback_query"), dict):
        return f"button: {data['callback_query'].get('data')}"
    kinds = [k for k in data if k != "update_id"]
    return f"{kinds[0] if kinds else 'empty'} update"


async def _describe(ctx: AppContext, row: InboundUpdate) -> str:
    async with ctx.db.transaction() as session:
        patient = await patient_by_chat(session, chat_id=row.chat_id) if row.chat_id else None
    who = f"patient {patient.ref} ({patient.clinic_id})" if patient else f"chat {row.chat_id}"
    when = f"{row.processed_at:%Y-%m-%d %H:%M} UTC" if row.processed_at else "?"
    return (
        f"update {row.update_id}  {who}  parked {when} after {row.attempts + 1} tries\n"
        f"  error: {row.error}\n"
        f"  {what_it_was(row.payload)}"
    )


@intake_app.command("show")
def intake_show() -> None:
    """List parked updates: who sent them, what they were, and the error each failed with.

    The text shown is the patient's own words: this is for the operator's terminal only.
    """

    async def work(ctx: AppContext) -> list[str]:
        async with ctx.db.transaction() as session:
            rows = await inbox.parked(session)
            counts = await inbox.counts(session)
        lines = [await _describe(ctx, row) for row in rows]
        waiting = counts[InboxStatus.PENDING]
        lines.append(f"{len(rows)} parked, {waiting} waiting to be processed")
        return lines

    for line in with_context(work):
        typer.echo(line)


@intake_app.command("retry")
def intake_retry(
    update_id: Annotated[int, typer.Argument(help="A parked update's id (see `intake show`).")],
) -> None:
    """Put a parked update back in line, once its fault is mended; the bot tries it again."""

    async def work(ctx: AppContext) -> str:
        now = ctx.clock.now()
        async with ctx.db.transaction() as session:
            if not await requeue_update(session, update_id=update_id, actor=CLI, now=now):
                raise CliError(f"no parked update {update_id} (see `aftercare intake show`)", 1)
        return f"update {update_id} will be tried again by the running bot"

    typer.echo(with_context(work))

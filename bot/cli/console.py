"""`aftercare console link`: a console sign-in link where Telegram is not at hand (break-glass,
the offline demo). The same link as `/console` (once, within 10 minutes, only for an active
clinician of that clinic), audited as minted by the operator's CLI, printed once to stdout."""

from __future__ import annotations

from typing import Annotated

import typer

from bot.cli.support import CliError, clinic_of, with_context
from bot.context import AppContext
from bot.services.console_access import (
    LINK_VALID_FOR,
    OperatorLinkRefused,
    operator_link,
    signin_url,
)
from storage.states import CLI

console_app = typer.Typer(help="The clinic console.", no_args_is_help=True)

NOT_SET_UP = (
    "AFTERCARE_CONSOLE_URL is not set: the console's public URL "
    "(e.g. https://aftercare.example.org/console) is needed to build the link"
)


@console_app.command("link")
def link(
    clinic: Annotated[str, typer.Option(help="Clinic id.")],
    name: Annotated[str, typer.Option(help="The clinician's registered name.")],
) -> None:
    """Mint one console sign-in link for a clinician (as /console does in Telegram): it works
    once, within 10 minutes. Printed once to standard output; give it to that clinician only."""

    async def work(ctx: AppContext) -> tuple[str, str]:
        base = ctx.settings.console_url
        if base is None:
            raise CliError(NOT_SET_UP, 2)
        config = clinic_of(ctx, clinic)
        try:
            async with ctx.db.transaction() as session:
                who, token = await operator_link(
                    session, clinic_id=config.id, name=name, now=ctx.clock.now(), minted_by=CLI
                )
        except OperatorLinkRefused as exc:
            raise CliError(str(exc), 2) from None
        return who.name, signin_url(base, token)

    whose, url = with_context(work)
    minutes = int(LINK_VALID_FOR.total_seconds() // 60)
    typer.echo(
        f"Sign-in link for {whose} (works once, within {minutes} minutes; do not forward it):",
        err=True,
    )
    typer.echo(url)

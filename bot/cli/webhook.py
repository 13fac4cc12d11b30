"""`aftercare webhook`: the key that keeps signing secrets encrypted, and a clinic's webhook
signing secret (create or rotate, end the overlap, show), as the console's Settings do."""

from __future__ import annotations

from typing import Annotated

import typer

from bot.cli.support import CliError, clinic_of, with_context
from bot.context import AppContext
from bot.services.paging import signing
from bot.services.paging.secret_box import SecretBox, new_key
from storage.states import CLI

webhook_app = typer.Typer(help="The clinics' webhook signing secrets.", no_args_is_help=True)

ClinicOption = Annotated[str, typer.Option(help="Clinic id.")]


def _clinic(ctx: AppContext, clinic: str) -> str:
    return clinic_of(ctx, clinic).id


@webhook_app.command("new-key")
def new_key_command() -> None:
    """Print a new key for AFTERCARE_SECRET_KEY (keep it with the server's other secrets)."""
    typer.echo(new_key())


@webhook_app.command("rotate")
def rotate(clinic: ClinicOption) -> None:
    """Create the clinic's signing secret, or rotate it (the old one signs beside it for
    24 hours, or until `end-overlap`), and print it: it is never shown again."""

    async def work(ctx: AppContext) -> signing.Issued:
        clinic_id = _clinic(ctx, clinic)
        now = ctx.clock.now()
        async with ctx.db.transaction() as session:
            state = await signing.state(
                session, clinic_id=clinic_id, settings=ctx.settings, now=now
            )
            try:
                return await signing.issue(
                    session,
                    clinic_id=clinic_id,
                    based_on=state.based_on,
                    box=SecretBox.of(ctx.settings),
                    actor=CLI,
                    now=now,
                )
            except (signing.SigningUnavailable, signing.SigningConflict) as exc:
                raise CliError(str(exc), 1) from None

    issued = with_context(work)
    typer.echo(issued.secret)
    old = issued.replaced
    if old is not None and old.expires_at is not None:
        typer.echo(
            f"{old.masked} also signs until {old.expires_at:%Y-%m-%d %H:%M} UTC "
            "(`aftercare webhook end-overlap` ends it sooner)",
            err=True,
        )


@webhook_app.command("end-overlap")
def end_overlap(clinic: ClinicOption) -> None:
    """Stop the clinic's rotated-out secret from signing now."""

    async def work(ctx: AppContext) -> list[int]:
        clinic_id = _clinic(ctx, clinic)
        async with ctx.db.transaction() as session:
            return await signing.end_overlap(
                session, clinic_id=clinic_id, actor=CLI, now=ctx.clock.now()
            )

    ended = with_context(work)
    typer.echo(f"ended {len(ended)} older secret(s)" if ended else "no older secret was signing")


@webhook_app.command("show")
def show(clinic: ClinicOption) -> None:
    """What signs the clinic's webhook now (masked)."""

    async def work(ctx: AppContext) -> signing.SigningState:
        clinic_id = _clinic(ctx, clinic)
        async with ctx.db.transaction() as session:
            return await signing.state(
                session, clinic_id=clinic_id, settings=ctx.settings, now=ctx.clock.now()
            )

    state = with_context(work)
    for secret in state.secrets:
        until = f"until {secret.expires_at:%Y-%m-%d %H:%M} UTC" if secret.expires_at else "current"
        typer.echo(f"{secret.masked}  created {secret.created_at:%Y-%m-%d %H:%M} UTC  {until}")
    if not state.secrets:
        typer.echo(
            "no secret of its own: signed with AFTERCARE_PAGE_WEBHOOK_SECRET"
            if state.legacy
            else "no secret: its webhook events go out unsigned"
        )
    if not state.can_create:
        typer.echo(signing.NO_KEY, err=True)

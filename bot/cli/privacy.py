"""`aftercare patient erase` and `aftercare patient hold`: a patient's erasure (their words and
contacts, their chat; the structured record kept under the reference) and the legal hold that
forbids it (issue 31; README "Privacy")."""

from __future__ import annotations

from typing import Annotated

import typer
from telegram import Bot

from bot.cli.support import CliError, clinic_of, with_context
from bot.context import AppContext
from bot.domain.delivery import Outcome
from bot.messaging.privacy import tell_erased
from bot.services.clinic.erasure import Erased, ErasureRefused, LegalBasis, erase
from bot.services.clinic.erasure import set_legal_hold as hold_patient
from storage.states import CLI


async def _told(ctx: AppContext, erased: Erased, clinic_id: str) -> str:
    """Tell the patient (after the commit); what came of it, in words."""
    if erased.chat_id is None:
        return "they never linked a chat: nobody to tell"
    token = ctx.settings.telegram_token
    if token is None:
        return "NOT told: no AFTERCARE_TELEGRAM_TOKEN is set here; tell them yourself"
    bot = Bot(token.get_secret_value(), base_url=f"{ctx.settings.telegram_api_url}/bot")
    async with bot:
        sent = await tell_erased(
            bot, chat_id=erased.chat_id, language=erased.language, clinic=clinic_of(ctx, clinic_id)
        )
    if sent is not None and sent.outcome is Outcome.SENT:
        return "told in the chat that nothing more is sent"
    problem = sent.error if sent is not None else "unknown"
    return f"NOT told: Telegram said {problem}; tell them yourself"


def erase_command(
    clinic: Annotated[str, typer.Option(help="Clinic id.")],
    ref: Annotated[str, typer.Option(help="The patient's reference.")],
    reason: Annotated[
        LegalBasis,
        typer.Option(
            help="The legal basis: patient_request (they asked), no_longer_treated, retention."
        ),
    ],
    yes: Annotated[
        bool, typer.Option("--yes", help="Do not ask to type the reference to confirm.")
    ] = False,
) -> None:
    """Erase a patient's words and contacts and forget their chat, for good; their answers,
    levels and cases stay under the reference. Refused under a legal hold, with a case not yet
    resolved or a check-in in progress. Audited (patient.erased). Export their record first
    (`aftercare export fhir --patient REF`, `aftercare export csv --free-text`)."""
    if not yes:
        typed = typer.prompt(f"This cannot be undone. Type {ref} to erase it")
        if typed.strip() != ref:
            raise CliError("the reference typed differs: nothing was erased", 1)

    async def work(ctx: AppContext) -> tuple[Erased, str]:
        config = clinic_of(ctx, clinic)
        try:
            erased = await erase(
                ctx.db, clinic=config, ref=ref, basis=reason, actor=CLI, now=ctx.clock.now()
            )
        except ErasureRefused as exc:
            raise CliError(f"not erased: {exc}", 1) from None
        return erased, await _told(ctx, erased, config.id)

    erased, told = with_context(work)
    changed = ", ".join(f"{kind} {n}" for kind, n in erased.counts.items())
    typer.echo(f"patient {erased.patient.ref} erased ({reason.value}): {changed}")
    typer.echo(
        "their data key: destroyed (their words open nowhere, backups included)"
        if erased.key_destroyed
        else "their data key: NOT destroyed yet (keyring unreachable): the next retention "
        "run destroys it"
    )
    typer.echo(f"the patient: {told}")


def hold_command(
    clinic: Annotated[str, typer.Option(help="Clinic id.")],
    ref: Annotated[str, typer.Option(help="The patient's reference.")],
    lift: Annotated[bool, typer.Option("--lift", help="Lift the hold instead.")] = False,
) -> None:
    """Place (or --lift) a legal hold: nothing of the patient's may be erased, by request or
    by retention, while it stands. Audited."""

    async def work(ctx: AppContext) -> bool:
        config = clinic_of(ctx, clinic)
        try:
            async with ctx.db.transaction() as session:
                row = await hold_patient(
                    session, clinic=config, ref=ref, hold=not lift, actor=CLI, now=ctx.clock.now()
                )
        except ErasureRefused as exc:
            raise CliError(str(exc), 1) from None
        return row.legal_hold

    held = with_context(work)
    typer.echo(f"patient {ref}: legal hold {'placed' if held else 'lifted'}")

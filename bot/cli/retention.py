"""`aftercare retention preview` and `aftercare retention run`: what the clinic's retention
removes next (issue 31; `[clinics.retention]`, README "Privacy"), and removing it now."""

from __future__ import annotations

from typing import Annotated

import typer

from bot.cli.support import CliError, clinic_of, with_context
from bot.clinic_config import ClinicConfig
from bot.context import AppContext
from bot.i18n import C_
from bot.services.clinic.retention import (
    REMOVALS,
    Plan,
    Planned,
    RunReport,
    plan_retention,
    run_retention,
)
from storage.states import CLI

retention_app = typer.Typer(
    help="Retention: what the clinic's periods remove, and removing it.", no_args_is_help=True
)

ClinicOption = Annotated[
    str | None, typer.Option("--clinic", help="Clinic id (default: every clinic).")
]


def _clinics(ctx: AppContext, clinic: str | None) -> list[ClinicConfig]:
    return [clinic_of(ctx, clinic)] if clinic else list(ctx.clinics.clinics)


def _line(planned: Planned) -> str:
    return (
        f"  {planned.ref}: {C_(REMOVALS[planned.removal])}; last activity "
        f"{planned.last_activity:%Y-%m-%d}, due since {planned.since:%Y-%m-%d}"
    )


def _periods(config: ClinicConfig) -> str:
    def shown(days: int | None) -> str:
        return f"{days} days" if days is not None else "kept"

    rules = config.retention
    return f"words {shown(rules.words_days)}, records {shown(rules.records_days)}"


def _show(plan: Plan, config: ClinicConfig) -> None:
    typer.echo(f"clinic {config.id} ({_periods(config)}): {len(plan.due)} patient(s) to remove")
    for planned in plan.due:
        typer.echo(_line(planned))
    if plan.held:
        typer.echo(f"kept under a legal hold: {len(plan.held)}")
        for planned in plan.held:
            typer.echo(_line(planned))


@retention_app.command("preview")
def preview_command(clinic: ClinicOption = None) -> None:
    """What the next run removes, patient by patient (reference, what goes, last activity, due
    since), then the patients a legal hold keeps. Changes nothing."""

    async def work(ctx: AppContext) -> list[tuple[Plan, ClinicConfig]]:
        now = ctx.clock.now()
        plans = []
        for config in _clinics(ctx, clinic):
            async with ctx.db.transaction() as session:
                plans.append((await plan_retention(session, clinic=config, now=now), config))
        return plans

    for plan, config in with_context(work):
        _show(plan, config)


def _done(report: RunReport) -> str:
    deleted = ", ".join(f"{kind} {n}" for kind, n in report.deleted.items() if n)
    return (
        f"  words erased {report.words}, records deleted {report.records}"
        f"{f' ({deleted})' if deleted else ''}, refused {report.refused}, "
        f"changed since the plan {report.changed}, held {report.held}, "
        f"keys destroyed {report.shredded}"
    )


@retention_app.command("run")
def run_command(
    clinic: ClinicOption = None,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask to confirm.")] = False,
) -> None:
    """Remove now what the preview lists, for good: words and contacts erased (data keys
    destroyed), records deleted; patients are not told. Audited (retention.run)."""

    async def plans(ctx: AppContext) -> int:
        now = ctx.clock.now()
        total = 0
        for config in _clinics(ctx, clinic):
            async with ctx.db.transaction() as session:
                total += len((await plan_retention(session, clinic=config, now=now)).due)
        return total

    if not yes:
        due = with_context(plans)
        if due == 0:
            typer.echo("nothing is due")
            return
        if not typer.confirm(f"{due} patient(s) lose data for good. Go on?"):
            raise CliError("nothing was removed", 1)

    async def work(ctx: AppContext) -> list[tuple[Plan, RunReport, ClinicConfig]]:
        done = []
        for config in _clinics(ctx, clinic):
            plan, report = await run_retention(
                ctx.db, clinic=config, actor=CLI, now=ctx.clock.now()
            )
            done.append((plan, report, config))
        return done

    for plan, report, config in with_context(work):
        _show(plan, config)
        typer.echo(_done(report))

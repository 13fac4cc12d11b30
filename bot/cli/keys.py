"""`aftercare keys new|rotate|encrypt`: the key-encryption keys of AFTERCARE_DATA_KEY and the
patients' data keys they wrap (issue 31; README "Privacy")."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from bot.cli.support import CliError, load_settings
from bot.crypto.keys import new_entry
from bot.database import open_db
from storage.engine import Database
from storage.migrate import current_revision
from storage.privacy.sealing import TARGETS, seal_batch

keys_app = typer.Typer(
    help="Encryption at rest: the keys that seal patients' words and contacts.",
    no_args_is_help=True,
)


@keys_app.command("new")
def new_command(
    key_id: Annotated[
        str, typer.Option("--id", help="The key's id (1-16 letters, digits, _ or -).")
    ] = "k1",
) -> None:
    """Print a fresh ID:KEY for AFTERCARE_DATA_KEY (to rotate: put it first, keep the old one
    after it, run `aftercare keys rotate`, then drop the old one)."""
    typer.echo(new_entry(key_id))


def _keyed_db() -> Database:
    settings = load_settings()
    if settings.data_key is None:
        raise CliError("AFTERCARE_DATA_KEY is not set: run `aftercare keys new` first", 2)
    return open_db(settings)


@keys_app.command("rotate")
def rotate_command() -> None:
    """Re-wrap every patient's data key under the first key of AFTERCARE_DATA_KEY; the others
    may be dropped afterwards. Safe to run again."""

    async def go() -> int:
        db = _keyed_db()
        try:
            assert db.keyring is not None
            return await db.keyring.rotate()
        finally:
            await db.dispose()

    done = asyncio.run(go())
    settings = load_settings()
    newest = settings.keks()
    typer.echo(f"{done} data keys re-wrapped under {newest.newest if newest else '?'}")


@keys_app.command("encrypt")
def encrypt_command(
    batch: Annotated[int, typer.Option(min=1, max=10_000, help="Rows per transaction.")] = 500,
) -> None:
    """Seal what an existing database holds in plain text (after upgrading to a version that
    encrypts), in batches of one transaction each: interrupted, run it again to go on."""

    async def go() -> dict[str, int]:
        db = _keyed_db()
        try:
            if await current_revision(db) is None:
                raise CliError("the database has no schema; run `aftercare db upgrade`", 1)
            assert db.keyring is not None
            await db.keyring.open()  # every key unwraps, or one line names the missing KEK
            counts: dict[str, int] = {}
            for target in TARGETS:
                counts[target.name] = 0
                while True:
                    async with db.transaction() as session:
                        done = await seal_batch(session, target, batch=batch)
                    counts[target.name] += done
                    if done < batch:
                        break
            return counts
        finally:
            await db.dispose()

    counts = asyncio.run(go())
    for name, n in counts.items():
        typer.echo(f"{name}: {n} sealed")
    typer.echo(
        f"{sum(counts.values())} values sealed; no row holds plain text now (old copies linger "
        "in SQLite's write-ahead log until a checkpoint, in PostgreSQL's dead rows until VACUUM)"
    )

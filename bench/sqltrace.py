"""Count what a benchmark's process asks of the database and the Bot API (issue 32's
"statements per update"): run the benchmark with the trace on, then summarise a window.

    AFTERCARE_SQLTRACE=/tmp/sql PYTHONPATH=bench/trace .venv/bin/python -m bench.backlog
    .venv/bin/python -m bench.sqltrace /tmp/sql.<pid of the bot> --last 16000 [--per 830]

Each line of the trace is `<monotonic> <kind> <text>`: SQL with the statement's first words,
COMMIT, or HTTP with the Bot API method. `--last N` keeps the last N lines (the measured
window comes last); `--per U` divides the counts by U (updates, check-ins) in that window.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from typing import Any, TextIO


def install(path: str) -> None:
    """Trace this process's statements, commits and Bot API calls into `path`."""
    import aiohttp
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    out: TextIO = open(path, "w", buffering=1, encoding="utf-8")  # noqa: SIM115  # for life

    @event.listens_for(Engine, "before_cursor_execute")
    def statement(conn: Any, cursor: Any, sql: str, *args: Any) -> None:
        out.write(f"{time.monotonic():.4f} SQL {' '.join(sql.split())[:60]}\n")

    @event.listens_for(Engine, "commit")
    def commit(conn: Any) -> None:
        out.write(f"{time.monotonic():.4f} COMMIT\n")

    requested = aiohttp.ClientSession._request  # the bot's transport (bot.messaging.transport)

    async def request(self: aiohttp.ClientSession, method: str, url: Any, **kwargs: Any) -> Any:
        endpoint = str(url).rsplit("/", 1)[-1]
        if endpoint != "getUpdates":
            out.write(f"{time.monotonic():.4f} HTTP {endpoint}\n")
        return await requested(self, method, url, **kwargs)

    aiohttp.ClientSession._request = request  # type: ignore[method-assign]


def summarise(lines: list[str], per: float) -> list[str]:
    kinds: Counter[str] = Counter(line.split(" ", 1)[1].strip() for line in lines if " " in line)
    statements = sum(n for kind, n in kinds.items() if kind.startswith("SQL "))
    commits, calls = kinds["COMMIT"], sum(n for k, n in kinds.items() if k.startswith("HTTP "))
    report = [
        f"{statements / per:.1f} statements (BEGIN included), {commits / per:.1f} commits, "
        f"{calls / per:.1f} Bot API calls" + ("" if per == 1 else f", each of {per:g}")
    ]
    report += [f"  {n / per:7.2f}  {kind}" for kind, n in kinds.most_common(30)]
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("trace")
    parser.add_argument("--last", type=int, default=0, help="only the last N lines")
    parser.add_argument("--per", type=float, default=1.0, help="divide the counts by this")
    args = parser.parse_args(argv)
    with open(args.trace, encoding="utf-8") as fh:
        lines = fh.read().splitlines()
    for line in summarise(lines[-args.last :] if args.last else lines, args.per):
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())

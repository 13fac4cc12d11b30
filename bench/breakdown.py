"""Where the CPU goes: a py-spy profile of a benchmark, summed by layer.

Record a benchmark with py-spy's raw (collapsed stack) format, then summarise it:

    .venv/bin/pip install py-spy
    .venv/bin/py-spy record -r 500 -f raw -o /tmp/run.raw -- .venv/bin/python -m bench.page_latency
    .venv/bin/python -m bench.breakdown /tmp/run.raw [--under handlers/checkin.py]

Samples of a thread that is only waiting (the event loop in `select`, aiosqlite's thread
waiting for work) are left out. Each sample is charged to the layer of its innermost frame
(self time): PTB, SQLAlchemy and SQLModel, the database driver, HTTP (aiohttp, httpx), JSON,
encryption, asyncio, our own code (`bot/`, `handlers/`, `storage/`), and the benchmark's own
parts (the sandbox Bot API, the harness), which a real deployment does not run. `--under TEXT`
keeps only the samples whose stack contains TEXT (one entry point: `bot/intake`,
`handlers/checkin.py`, `bot/dispatch`).
The profile itself is not kept in the repository; the command is.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import shutil
import signal
import sys
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

# (layer, path fragments of the innermost frame), first match wins
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("benchmark: sandbox Bot API", ("sandbox/",)),
    ("benchmark: harness", ("bench/",)),
    ("PTB (telegram/)", ("telegram/",)),
    ("SQLAlchemy / SQLModel", ("sqlalchemy/", "sqlmodel/")),
    ("database driver", ("aiosqlite/", "sqlite3/", "asyncpg/")),
    ("HTTP (aiohttp, httpx, httpcore)", ("aiohttp/", "httpx/", "httpcore/", "h11/", "yarl/")),
    ("JSON", ("json/",)),
    ("encryption", ("cryptography/",)),
    ("web (starlette, jinja2, uvicorn)", ("starlette/", "jinja2/", "uvicorn/")),
    ("logging", ("logging/",)),
    ("asyncio / selectors", ("asyncio/", "selectors.py")),
    ("our code: bot/", ("bot/",)),
    ("our code: handlers/", ("handlers/",)),
    ("our code: storage/", ("storage/",)),
)
# innermost frames of a thread waiting, not working (py-spy's idle test misses these)
IDLE = (
    "EpollSelector.select (",
    "_connection_worker_thread (aiosqlite/core.py:",
    "Condition.wait (",
)
FRAME = re.compile(r"\(([^():]+):\d+\)$")


@asynccontextmanager
async def profiling(pid: int, path: str | None, *, rate: int = 500) -> AsyncIterator[None]:
    """py-spy sampling process `pid` into `path` (raw format) while the block runs; nothing
    when `path` is None. A benchmark's `--profile PATH` uses it around its measured window."""
    if path is None:
        yield
        return
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    proc = await asyncio.create_subprocess_exec(
        spy, "record", "--pid", str(pid), "-r", str(rate), "-f", "raw", "-o", path,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    await asyncio.sleep(0.5)  # attached
    try:
        yield
    finally:
        proc.send_signal(signal.SIGINT)
        await proc.wait()


def layer_of(frame: str) -> str:
    match = FRAME.search(frame)
    path = match.group(1) if match else frame
    for layer, fragments in LAYERS:
        if any(fragment in path for fragment in fragments):
            return layer
    return "other (stdlib, greenlet, …)"


def summarise(lines: list[str], under: str | None) -> tuple[Counter[str], int]:
    layers: Counter[str] = Counter()
    total = 0
    for line in lines:
        stack, _, count = line.rstrip("\n").rpartition(" ")
        if not stack or not count.isdigit():
            continue
        if under is not None and under not in stack:
            continue
        samples, leaf = int(count), stack.rsplit(";", 1)[-1]
        if leaf.startswith(IDLE):
            continue
        total += samples
        layers[layer_of(leaf)] += samples
    return layers, total


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("profile", help="py-spy record -f raw output")
    parser.add_argument("--under", help="only samples whose stack contains this text")
    args = parser.parse_args(argv)
    with open(args.profile, encoding="utf-8") as fh:
        layers, total = summarise(fh.readlines(), args.under)
    if not total:
        print("no samples matched")
        return 1
    print(f"{total} samples{f' under {args.under!r}' if args.under else ''}")
    for layer, samples in layers.most_common():
        print(f"  {100 * samples / total:5.1f}%  {layer}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Oversized request bodies against the running product: does its memory stay flat?

The real `aftercare run` in a process of its own (SQLite in a temporary folder, long polling
against the sandbox Bot API in a third process, the console on a local port). Its resident
memory is read from /proc before and after rounds of 8 parallel chunked uploads of `--mib` MiB
each, with a forged session cookie, a forged form-guard cookie, or none, to every route family
(session forms, the rotation form, sign-in and acknowledge links). Each answer must be a
refusal (401, 403 or 413) and come before the upload ends; the figure is the growth of the
process's peak RSS (VmHWM) over the baseline taken after a warm-up round.

    .venv/bin/python -m bench.oversized_bodies [--mib 64] [--rounds 3]

Target: growth < 10 MiB. Exit 0 either way (a measurement), 1 if any answer was not a refusal,
2 if the run broke.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import platform
import socket
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
TARGET_MIB = 10.0
CHUNK = b"x" * (64 * 1024)
ACK_GUARD = "aftercare_ack_" + hashlib.sha256(b"forged-ack-token").hexdigest()[:16]
FAMILIES = (  # (path, cookie name or None, expected refusals)
    ("/console/team/invite", "aftercare_console", {401}),
    ("/console/team/invite", None, {401}),
    ("/console/roster/rotation", "aftercare_console", {401}),
    ("/console/settings", None, {401}),
    ("/console/signin/forged-link-token", "aftercare_signin", {413}),
    ("/console/signin/forged-link-token", None, {403}),
    ("/console/ack/forged-ack-token", ACK_GUARD, {413}),
    ("/console/ack/forged-ack-token", None, {403}),
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def memory_kib(pid: int) -> dict[str, int]:
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, rest = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            values[name] = int(rest.split()[0])
    return values


async def chunks(mib: int) -> AsyncIterator[bytes]:
    """`mib` form fields of just under 1 MiB each (a parser's per-field cap), 64 KiB a chunk."""
    for field in range(mib):
        yield b"&f%d=" % field if field else b"f0="
        for _ in range(15):
            yield CHUNK


async def upload(client: httpx.AsyncClient, base: str, family: int, mib: int) -> int:
    path, cookie, _ = FAMILIES[family % len(FAMILIES)]
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if cookie is not None:
        headers["Cookie"] = f"{cookie}=forged-{family}"
    try:
        answer = await client.post(f"{base}{path}", content=chunks(mib), headers=headers)
    except httpx.HTTPError as exc:  # the server closed mid-upload: not an answer
        print(f"  {path}: {type(exc).__name__}", file=sys.stderr)
        return 0
    return answer.status_code


async def start(workdir: Path, mib: int, rounds: int) -> int:
    sandbox = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.sandbox_process",
        "--first-chat",
        "1",
        "--users",
        "1",
        cwd=ROOT,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    assert sandbox.stdout is not None and sandbox.stdin is not None
    line = (await asyncio.wait_for(sandbox.stdout.readline(), 30)).decode().split()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "AFTERCARE_TELEGRAM_TOKEN": "1:OVERSIZED",
        "AFTERCARE_TELEGRAM_API_URL": line[1],
        "AFTERCARE_DATABASE_URL": f"sqlite+aiosqlite:///{workdir / 'aftercare.db'}",
        "AFTERCARE_CONFIG": str(ROOT / "clinic.example.toml"),
        "AFTERCARE_HTTP_PORT": str(port),
        "AFTERCARE_CONSOLE_URL": f"{base}/console",
        "AFTERCARE_LOG_LEVEL": "WARNING",
    }
    product = await asyncio.create_subprocess_exec(
        str(ROOT / ".venv" / "bin" / "aftercare"), "run", cwd=workdir, env=env
    )
    try:
        return await measure(product.pid, base, mib, rounds)
    finally:
        product.terminate()
        await product.wait()
        sandbox.stdin.write(b"quit\n")
        await sandbox.stdin.drain()
        await sandbox.wait()


async def measure(pid: int, base: str, mib: int, rounds: int) -> int:
    async with httpx.AsyncClient(timeout=120) as client:
        for _ in range(300):
            try:
                if (await client.get(f"{base}/healthz")).status_code in (200, 503):
                    break
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.1)
        else:
            raise RuntimeError("the product never answered /healthz")
        await asyncio.gather(*(upload(client, base, n, 1) for n in range(8)))  # warm-up
        before = memory_kib(pid)
        statuses: list[tuple[str, int]] = []
        started = time.monotonic()
        for r in range(rounds):
            answers = await asyncio.gather(
                *(upload(client, base, r * 8 + n, mib) for n in range(8))
            )
            statuses += [
                (FAMILIES[(r * 8 + n) % len(FAMILIES)][0], code) for n, code in enumerate(answers)
            ]
        elapsed = time.monotonic() - started
        after = memory_kib(pid)
    wrong = [
        (path, code)
        for (path, code), n in zip(statuses, range(len(statuses)), strict=True)
        if code not in FAMILIES[n % len(FAMILIES)][2]
    ]
    growth = (after["VmHWM"] - before["VmHWM"]) / 1024
    print(f"python {platform.python_version()}, {os.cpu_count()} CPUs, load {os.getloadavg()}")
    print(
        f"{rounds} rounds x 8 parallel chunked uploads of {mib} MiB "
        f"({rounds * 8 * mib} MiB offered) in {elapsed:.1f} s"
    )
    print(f"RSS before {before['VmRSS'] / 1024:.1f} MiB, after {after['VmRSS'] / 1024:.1f} MiB")
    print(
        f"peak RSS before {before['VmHWM'] / 1024:.1f} MiB, after "
        f"{after['VmHWM'] / 1024:.1f} MiB: growth {growth:.1f} MiB "
        f"(target < {TARGET_MIB:.0f} MiB: {'met' if growth < TARGET_MIB else 'MISSED'})"
    )
    print(f"answers: {sorted({code for _, code in statuses})}; not a refusal: {wrong or 'none'}")
    return 1 if wrong else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mib", type=int, default=64, help="MiB offered per upload")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    try:
        with tempfile.TemporaryDirectory(prefix="aftercare-oversized-") as workdir:
            code = asyncio.run(start(Path(workdir), args.mib, args.rounds))
    except Exception as exc:  # a broken run, said in one line
        print(f"the run broke: {type(exc).__name__}: {exc}", file=sys.stderr)
        sys.exit(2)
    sys.exit(code)


if __name__ == "__main__":
    main()

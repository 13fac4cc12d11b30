"""The sandbox Bot API in a process of its own, as Telegram's servers are not on the bot's CPU.

    python -m bench.sandbox_process --first-chat 50000001 --users 2000

Prints `url <base url>` once listening, then answers lines on stdin:
`report` prints one JSON line (sendMessage calls per chat and their arrival times, on the
system-wide monotonic clock the parent shares); `quit` (or end of input) stops.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections import Counter

from sandbox import BotApiSandbox


def report(sandbox: BotApiSandbox) -> dict[str, object]:
    sends = [c for c in sandbox.calls_to("sendMessage") if c.status == 200]
    chats = Counter(int(c.params["chat_id"]) for c in sends)
    return {
        "sends": len(sends),
        "chats": len(chats),
        "duplicates": sum(n - 1 for n in chats.values() if n > 1),
        "first_at": sends[0].at if sends else None,
        "last_at": sends[-1].at if sends else None,
        "methods": Counter(c.method for c in sandbox.calls),
    }


async def serve(first_chat: int, users: int) -> None:
    async with BotApiSandbox() as sandbox:
        for chat in range(first_chat, first_chat + users):
            sandbox.add_user(chat, f"P{chat}")
        print(f"url {sandbox.url}", flush=True)
        loop = asyncio.get_running_loop()
        while True:
            line = (await loop.run_in_executor(None, sys.stdin.readline)).strip()
            if line == "report":
                print(json.dumps(report(sandbox)), flush=True)
            elif line in ("quit", ""):
                return


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.sandbox_process")
    parser.add_argument("--first-chat", type=int, required=True)
    parser.add_argument("--users", type=int, required=True)
    args = parser.parse_args()
    asyncio.run(serve(args.first_chat, args.users))


if __name__ == "__main__":
    main()

"""Names that resolve where a test says: `socket.getaddrinfo`, which every lookup of the process
goes through (asyncio's, anyio's, so httpx's and the outbound checks'), answers for the names
given and asks the real resolver for everything else.

    dns = fake_dns(monkeypatch)
    dns.answer("hooks.north.example", ["93.184.215.14"], ["127.0.0.1"])  # then 127.0.0.1 again
    dns.answer("gone.example", [])  # does not resolve
"""

from __future__ import annotations

import socket
from typing import Any

import pytest

_REAL = socket.getaddrinfo


class FakeDns:
    def __init__(self) -> None:
        self.rounds: dict[str, list[list[str]]] = {}
        self.asked: list[str] = []

    def answer(self, name: str, *rounds: list[str]) -> None:
        """Each lookup of `name` takes the next round of addresses; the last one stays. An
        empty round is a name that does not resolve."""
        self.rounds[name.lower()] = [list(r) for r in rounds]

    def getaddrinfo(
        self, host: Any, port: Any, family: int = 0, type: int = 0, proto: int = 0, flags: int = 0
    ) -> list[Any]:
        name = (host.decode() if isinstance(host, bytes) else str(host)).lower().rstrip(".")
        if name not in self.rounds:
            return _REAL(host, port, family, type, proto, flags)
        self.asked.append(name)
        rounds = self.rounds[name]
        addresses = rounds.pop(0) if len(rounds) > 1 else rounds[0]
        if not addresses:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        number = int(port or 0)
        return [
            (socket.AF_INET6, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (a, number, 0, 0))
            if ":" in a
            else (socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (a, number))
            for a in addresses
        ]


def fake_dns(monkeypatch: pytest.MonkeyPatch) -> FakeDns:
    """Install a FakeDns for this test (undone with the test's monkeypatch)."""
    dns = FakeDns()
    monkeypatch.setattr(socket, "getaddrinfo", dns.getaddrinfo)
    return dns

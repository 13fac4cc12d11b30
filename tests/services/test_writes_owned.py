"""Services own every write: no audit row or new row is written outside bot/services/ and
storage/ (ARCHITECTURE.md). Messaging, dispatch, the console, the CLI and the handlers call a
service, which records it in the caller's transaction."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCANNED = ("bot", "handlers")
OWNERS = ("bot/services/",)  # storage/ is not scanned: it holds the queries themselves
WRITES = {("audit", "append"), ("audit", "append_many"), ("session", "add"), ("session", "add_all")}
ALLOWED: set[str] = set()  # meant to stay empty


def _writes(tree: ast.AST) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            owner = node.func.value
            if isinstance(owner, ast.Name) and (owner.id, node.func.attr) in WRITES:
                found.append((node.lineno, f"{owner.id}.{node.func.attr}"))
        elif isinstance(node, ast.ImportFrom) and node.module == "storage.audit":
            for alias in node.names:
                if alias.name in ("append", "append_many"):
                    found.append((node.lineno, f"from storage.audit import {alias.name}"))
    return found


def test_only_services_write_rows_and_audit_events() -> None:
    offences = []
    for top in SCANNED:
        for path in sorted((ROOT / top).rglob("*.py")):
            name = path.relative_to(ROOT).as_posix()
            if name.startswith(OWNERS) or name in ALLOWED:
                continue
            for line, call in _writes(ast.parse(path.read_text(encoding="utf-8"))):
                offences.append(f"{name}:{line}: {call}")
    assert not offences, "writes outside bot/services/ (move them into a service):\n" + "\n".join(
        offences
    )


def test_the_guard_sees_a_write() -> None:
    source = "async def f(session):\n    await audit.append(session, event='x')\n    session.add(1)"
    assert sorted(_writes(ast.parse(source))) == [(2, "audit.append"), (3, "session.add")]

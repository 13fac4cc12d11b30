"""No Telegram call inside a database transaction: a handler's reply, a send or an edit is made
after `effects()` (or any `transaction()` or `read()`) has closed. On SQLite the transaction is
the one writer, and a Bot API that is slow or rate-limits would hold every other writer; and
a reply sent before the commit could confirm something that is then not stored. The guard
reads the source: it sees the calls written in such a block, not those of a function it
calls (services know nothing of Telegram, so a handler's block is where they would be)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCANNED = ("bot", "handlers")
OPENERS = {"effects", "transaction", "read"}  # context.effects(), db.transaction(), db.read()
TELEGRAM = {
    "reply_text",
    "reply_html",
    "reply_markdown",
    "reply_photo",
    "send_message",
    "send_photo",
    "edit_message_text",
    "edit_message_reply_markup",
    "answer_query",
    "deliver",
}


def _opens_a_transaction(item: ast.withitem) -> bool:
    call = item.context_expr
    if not isinstance(call, ast.Call):
        return False
    func = call.func
    name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
    return name in OPENERS


def _called(node: ast.Call) -> str:
    func = node.func
    return func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")


def _telegram_in_transactions(tree: ast.AST) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.AsyncWith) and any(map(_opens_a_transaction, node.items)):
            for inner in node.body:
                for call in ast.walk(inner):
                    if isinstance(call, ast.Call) and _called(call) in TELEGRAM:
                        found.append((call.lineno, _called(call)))
    return sorted(set(found))


def test_no_telegram_call_is_made_inside_a_transaction() -> None:
    offences = []
    for top in SCANNED:
        for path in sorted((ROOT / top).rglob("*.py")):
            name = path.relative_to(ROOT).as_posix()
            tree = ast.parse(path.read_text(encoding="utf-8"))
            offences += [f"{name}:{line}: {call}" for line, call in _telegram_in_transactions(tree)]
    assert not offences, "Telegram calls inside a transaction (move them after it):\n" + "\n".join(
        offences
    )


def test_the_guard_sees_a_reply_inside_effects() -> None:
    source = (
        "async def h(update, context, message):\n"
        "    async with context.effects() as session:\n"
        "        if x:\n"
        "            await message.reply_text('no')\n"
        "    await message.reply_text('yes')\n"
        "    async with ctx.db.read() as session:\n"
        "        await deliver(query.edit_message_text('z'), what='w')\n"
    )
    assert _telegram_in_transactions(ast.parse(source)) == [
        (4, "reply_text"),
        (7, "deliver"),
        (7, "edit_message_text"),
    ]

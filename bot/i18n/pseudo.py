"""The pseudo-locale `en-XA`: English accented and about 40% longer, in brackets, so a test
sees at once a text that was never wrapped for translation (plain ASCII English left) and a
message that would overflow Telegram's limits once a real language lengthens it. Placeholders
(`{name}`, `%(n)s`, `%s`), markup tags, commands (`/crisis`), links and numbers are kept as
they are, so the pseudo text still formats and still works."""

from __future__ import annotations

import re

PSEUDO = "en-XA"

_ACCENTED = str.maketrans(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ",
    "àƀçđéƒĝĥîĵķĺɱñöþǫŕšţûṽŵẋýžÀƁÇĐÉƑĜĤÎĴĶĹṀÑÖÞǪŔŠŢÛṼŴẊÝŽ",
)
# kept whole: {placeholders}, %(named)s and %s, <tags>, /commands, links, e-mail, @names
_KEEP = re.compile(
    r"\{[^{}]*\}|%\([^)]*\)[sdif]|%[sdif]|<[^>]+>|https?://\S+|\S+@\S+|(?<!\w)[/@][A-Za-z_]+"
)
_PAD = " ·"


def pseudo(text: str) -> str:
    """`text` in the pseudo-locale; "" stays "" (an empty text is no sentence)."""
    if not text:
        return text
    out: list[str] = []
    last = 0
    for match in _KEEP.finditer(text):
        out.append(text[last : match.start()].translate(_ACCENTED))
        out.append(match.group(0))
        last = match.end()
    out.append(text[last:].translate(_ACCENTED))
    body = "".join(out)
    letters = sum(c.isalpha() for c in text)
    padding = _PAD * max(1, round(letters * 0.4 / len(_PAD)))
    return f"⟦{body}{padding}⟧"

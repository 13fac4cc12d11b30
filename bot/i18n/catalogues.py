"""The catalogues of Aftercare's own texts, kept with Babel:

    python -m bot.i18n.catalogues extract   # bot/, handlers/, console templates → locales/*.pot
    python -m bot.i18n.catalogues update    # each .pot merged into each <lang>/…/<domain>.po
    python -m bot.i18n.catalogues compile   # each .po → its .mo (committed beside it)
    python -m bot.i18n.catalogues check     # fails on a stale .pot, .po or .mo (a test runs it)

Two catalogues. `aftercare` holds what patients read: every `_()`, `ngettext()` and `N_()` in
the Python files babel.cfg names, and
Aftercare's own check-in items (mood question, red flags, note prompt) straight from
bot/instruments/aftercare_checkin.toml by `extract_checkin_items` (named in babel.cfg), so the
TOML stays their one source and the texts the patient reads are msgids as written there.
Each translation of it is reviewed text (a `# status:` comment on every entry). `clinicians`
holds what clinicians read (babel-clinicians.cfg): `C_()`, `Cn_()`, `NC_()` in Python, and
`_()` and `{% trans %}` in the console's templates; English only for now, every text
extractable, and the pseudo-locale shows any that is not.
The .pot is written without line numbers: moving code does not make it stale, changing a text
does. `check` also refuses a translation whose {placeholders} differ from its source's.
"""

from __future__ import annotations

import io
import re
import sys
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from babel.messages.catalog import Catalog, Message
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po

from bot.i18n import DOMAIN, LOCALES, STAFF_DOMAIN

ROOT = LOCALES.parent.parent.parent  # the project: babel.cfg, bot/, handlers/
CONFIG = ROOT / "babel.cfg"
CHECKIN_ITEMS = ("mood", "red_flags", "note")
PROJECT = "Aftercare"
_PLACEHOLDER = re.compile(r"\{[^{}]*\}")


def extract_checkin_items(
    fileobj: IO[bytes], keywords: object, comment_tags: object, options: object
) -> Iterator[tuple[int, str | None, str, list[str]]]:
    """Babel extraction method for aftercare_checkin.toml: each item's `text` as a msgid."""
    data = tomllib.loads(fileobj.read().decode("utf-8"))
    for key in CHECKIN_ITEMS:
        item = data[key]
        yield 1, None, item["text"], [f"Aftercare check-in item {item['id']!r} (said as asked)"]


@dataclass(frozen=True)
class Domain:
    """One catalogue: where its texts are found, and whether every translation is reviewed."""

    name: str
    config: Path
    python_keywords: dict[str, Any]  # the functions its texts are wrapped in, in Python files

    @property
    def template(self) -> Path:
        return LOCALES / f"{self.name}.pot"

    def po_files(self) -> list[Path]:
        return sorted(LOCALES.glob(f"*/LC_MESSAGES/{self.name}.po"))


# The patient's texts (`_`, `ngettext`, `N_`; each translation reviewed) and the clinicians'
# (`C_`, `Cn_`, `NC_` in Python; `_()` and `{% trans %}` in the console's templates).
PATIENTS = Domain(DOMAIN, ROOT / "babel.cfg", dict(DEFAULT_KEYWORDS))
CLINICIANS = Domain(
    STAFF_DOMAIN, ROOT / "babel-clinicians.cfg", {"C_": None, "Cn_": (1, 2), "NC_": None}
)
DOMAINS = (PATIENTS, CLINICIANS)
TEMPLATE = PATIENTS.template


def _template(domain: Domain = PATIENTS) -> Catalog:
    """The catalogue as the code (and, for the patient's, the check-in items) says it now."""
    with domain.config.open(encoding="utf-8") as cfg:
        method_map, options_map = parse_mapping_cfg(cfg)
    catalog = Catalog(
        project=PROJECT,
        version="1",
        copyright_holder="the Aftercare authors",
        msgid_bugs_address="the clinic running Aftercare",
        charset="utf-8",
        fuzzy=False,
    )
    for pattern, method in method_map:  # Python files by the domain's own keywords
        keywords = domain.python_keywords if method == "python" else dict(DEFAULT_KEYWORDS)
        found = extract_from_dir(
            str(ROOT),
            [(pattern, method)],
            options_map,
            keywords=keywords,
            strip_comment_tags=True,
        )
        for filename, lineno, message, comments, context in found:
            catalog.add(
                message,
                None,
                [(filename, lineno)],
                auto_comments=comments,
                context=context,
                flags=(),
            )
    return catalog


def _write(path: Path, catalog: Catalog) -> None:
    buffer = io.BytesIO()
    write_po(buffer, catalog, width=100, sort_output=True, include_lineno=False, omit_header=False)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buffer.getvalue())


def _read(path: Path, locale: str | None = None) -> Catalog:
    with path.open("rb") as fileobj:
        return read_po(fileobj, locale=locale, domain=path.stem)


def _mo_bytes(po: Path) -> bytes:
    buffer = io.BytesIO()
    write_mo(buffer, _read(po, po.parent.parent.name), use_fuzzy=False)
    return buffer.getvalue()


def _shape(catalog: Catalog) -> list[tuple[object, ...]]:
    """What makes two templates the same: ids, contexts, where they are used, their comments."""
    return sorted(
        (repr(m.id), repr(m.context), sorted({f for f, _ in m.locations}), m.auto_comments)
        for m in catalog
        if m.id
    )


def extract() -> None:
    for domain in DOMAINS:
        template = _template(domain)
        unchanged = domain.template.exists() and _shape(_read(domain.template)) == _shape(template)
        if unchanged:  # keep the header (its creation date)
            continue
        _write(domain.template, template)


def update() -> None:
    for domain in DOMAINS:
        template = _read(domain.template)
        for po in domain.po_files():
            catalog = _read(po, po.parent.parent.name)
            catalog.update(template, no_fuzzy_matching=True, update_header_comment=False)
            catalog.obsolete.clear()  # a text the code no longer says is no reviewed text either
            _write(po, catalog)


def compile_all() -> None:
    for domain in DOMAINS:
        for po in domain.po_files():
            po.with_suffix(".mo").write_bytes(_mo_bytes(po))


def _placeholders(text: str) -> list[str]:
    return sorted(_PLACEHOLDER.findall(text))


def _message_problems(po: Path, message: Message) -> Iterator[str]:
    ids = message.id if isinstance(message.id, tuple | list) else (message.id,)
    strings = message.string if isinstance(message.string, tuple | list) else (message.string,)
    first = repr(ids[0])[:60]
    if not all(strings):
        yield f"{po}: untranslated {first}"
        return
    if message.fuzzy:
        yield f"{po}: fuzzy {first}"
    wanted = _placeholders(str(ids[-1]))
    for string in strings:
        if _placeholders(string or "") != wanted:
            yield f"{po}: placeholders differ in {first}"
    if not any(c.startswith("status:") for c in message.user_comments):
        yield f"{po}: no '# status:' comment on {first}"


def problems() -> list[str]:
    """Everything stale or missing in the committed catalogues; [] when all is current."""
    found: list[str] = []
    for domain in DOMAINS:
        found.extend(_domain_problems(domain))
    return found


def _domain_problems(domain: Domain) -> Iterator[str]:
    if not domain.template.exists():
        yield f"{domain.template} is missing: run extract"
        return
    template = _read(domain.template)
    if _shape(template) != _shape(_template(domain)):
        yield f"{domain.template} is stale: run extract, update, compile"
    wanted = {(repr(m.id), m.context) for m in template if m.id}
    for po in domain.po_files():
        catalog = _read(po, po.parent.parent.name)
        have = {(repr(m.id), m.context) for m in catalog if m.id}
        if have != wanted:
            yield f"{po} differs from the template ({len(wanted ^ have)}): run update"
        for message in catalog:
            if message.id:
                yield from _message_problems(po, message)
        mo = po.with_suffix(".mo")
        if not mo.exists() or mo.read_bytes() != _mo_bytes(po):
            yield f"{mo} is missing or older than its .po: run compile"


def main(argv: list[str]) -> int:
    commands = {"extract": extract, "update": update, "compile": compile_all}
    if len(argv) != 1 or argv[0] not in (*commands, "check"):
        print(f"usage: python -m bot.i18n.catalogues {'|'.join([*commands, 'check'])}")
        return 2
    if argv[0] != "check":
        commands[argv[0]]()
        return 0
    found = problems()
    for line in found:
        print(line, file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

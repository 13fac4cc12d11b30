"""The sandbox is not part of what production needs: `pip install -e .` (no extras) brings
neither tornado nor aiosmtpd, nothing of bot/, handlers/ or storage/ imports them or the
sandbox, and `aftercare demo` without its extra says how to install it."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from importlib.metadata import requires
from pathlib import Path

DEMO_ONLY = {"tornado", "aiosmtpd"}
REPO = Path(__file__).resolve().parents[2]

# Run first in a fresh interpreter: tornado and aiosmtpd cannot be imported, as in a venv
# installed without the `demo` extra. Each attempt is recorded with the module that made it.
BLOCK_DEMO_PACKAGES = """
import sys
from importlib.abc import MetaPathFinder

TRIED = []

class NotInstalled(MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] not in {"tornado", "aiosmtpd"}:
            return None
        frame = sys._getframe(1)
        while frame is not None and frame.f_globals.get("__name__", "").startswith("importlib"):
            frame = frame.f_back
        TRIED.append([name, frame.f_globals.get("__name__") if frame else None])
        raise ModuleNotFoundError(f"No module named {name!r}", name=name)

sys.meta_path.insert(0, NotInstalled())
"""

IMPORT_EVERY_MODULE = """
import importlib, json
from pathlib import Path
names = sorted(
    ".".join(path.with_suffix("").parts).removesuffix(".__init__")
    for package in ("bot", "handlers", "storage")
    for path in Path(package).rglob("*.py")
    if "migrations" not in path.parts
)
for name in names:
    importlib.import_module(name)
roots = {"tornado", "aiosmtpd", "sandbox"}
loaded = sorted(m for m in sys.modules if m.partition(".")[0] in roots)
print(json.dumps({"modules": names, "tried": TRIED, "loaded": loaded}))
"""


def _python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", BLOCK_DEMO_PACKAGES + code],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _name(requirement: str) -> str:
    match = re.match(r"[A-Za-z0-9._-]+", requirement)
    assert match is not None, requirement
    return match.group(0).lower().replace("_", "-")


def test_the_unconditional_requirements_name_neither_tornado_nor_aiosmtpd() -> None:
    everything = requires("aftercare") or []
    always = [r for r in everything if "extra ==" not in r]
    assert always, everything
    assert DEMO_ONLY.isdisjoint(_name(r) for r in always), always
    # PTB's `webhooks` extra would bring tornado back: the bot serves its own webhook route
    ptb = next(r for r in always if _name(r) == "python-telegram-bot")
    assert "webhooks" not in ptb, ptb
    demo = [_name(r) for r in everything if re.search(r"extra\s*==\s*['\"]demo['\"]", r)]
    assert set(demo) >= DEMO_ONLY, everything


def test_production_modules_import_without_the_sandbox_or_its_packages() -> None:
    result = _python(IMPORT_EVERY_MODULE)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    modules = report["modules"]
    for entry in ("bot.app", "bot.cli.commands", "bot.cli.demo", "bot.console.app"):
        assert entry in modules
    assert any(m.startswith("bot.ops.") for m in modules)
    assert any(m.startswith("handlers.") for m in modules)
    assert any(m.startswith("storage.") for m in modules)
    assert report["loaded"] == []
    ours = ("bot", "handlers", "storage", "sandbox")
    tried_by_us = [t for t in report["tried"] if (t[1] or "").partition(".")[0] in ours]
    assert tried_by_us == [], tried_by_us  # only third parties probe for them (PTB: tornado)


def test_the_demo_without_its_extra_says_how_to_install_it() -> None:
    run_cli = "sys.argv = ['aftercare', 'demo']\nfrom bot.cli.commands import main\nmain()\n"
    result = _python(run_cli)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr + result.stdout, result.stderr
    assert result.stdout == ""  # nothing started
    lines = result.stderr.strip().splitlines()
    assert lines == [
        "aftercare: error: the demo needs its extra (tornado is missing): pip install -e '.[demo]'"
    ], result.stderr

"""The domain's refusals (a phone number, a safety plan's step) are marked for the clinicians'
catalogue in `bot.services.wording.refusals`, and said in the console's language."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import bot.domain.phone as phone
import bot.domain.safety_plan as safety_plan
from bot.domain.phone import PhoneRefused, parse_phone
from bot.domain.safety_plan import read_plan
from bot.i18n import use_language
from bot.services.wording.refusals import TEMPLATES, said


def _raised(module: object, name: str) -> set[str]:
    tree = ast.parse(Path(str(getattr(module, "__file__", ""))).read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == name:
            first = node.args[0]
            assert isinstance(first, ast.Constant), ast.unparse(node)  # a template, not f""
            found.add(first.value)
    return found


@pytest.mark.parametrize(
    ("module", "name"), [(phone, "PhoneRefused"), (safety_plan, "PlanRefused")]
)
def test_every_refusal_of_the_domain_is_marked(module: object, name: str) -> None:
    raised = _raised(module, name)
    assert raised and raised <= set(TEMPLATES)


def test_a_refusal_reads_the_same_in_english_and_is_said_in_the_console_language() -> None:
    with pytest.raises(PhoneRefused) as caught:
        parse_phone("+44 12", default_country=None)
    assert said(caught.value) == str(caught.value)
    assert "Too short" in str(caught.value)
    with use_language("en-XA"):
        assert "Too short" not in said(caught.value) and "⟦" in said(caught.value)


def test_a_step_refusal_says_its_phone_problem_too() -> None:
    _, errors = read_plan({"step4": "Sam +44 12 345"}, country_code=None)
    with use_language("en-XA"):
        _, pseudo = read_plan({"step4": "Sam +44 12 345"}, country_code=None, say=said)
    assert errors["step4"].startswith("Line 1, +44 12 345: ")
    assert "Line 1" not in pseudo["step4"] and "Too short" not in pseudo["step4"]


def test_the_clinicians_step_titles_are_marked() -> None:
    from bot.console.safety_plan import STEP_TITLES

    assert tuple(clinician for clinician, _ in safety_plan.STEPS) == STEP_TITLES

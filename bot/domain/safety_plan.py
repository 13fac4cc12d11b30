"""A patient's safety plan as the clinician types it with them: the six Stanley-Brown steps
in order (CLINICAL.md §11; Stanley et al., JAMA Psychiatry 2018;75(9):894–900), each a short
list, one item a line, in the patient's own words.

An item may name a phone number ("Sam (sister) +44 20 7946 0000"): the last run of digits
with 7 or more digits is read with `phone.parse_phone` and the clinic's country code, and one
it refuses is an error on that step. In steps 4 and 5 (people and professionals to call) a
standalone number of 3 to 6 digits is a short dialling code too ("Crisis line 988"), dialled
as written. A plan is *active* only when step 4 and step 5 each hold a contact with a number
(plans missing a help contact did worse: Psychiatric Services, doi
10.1176/appi.ps.202100699).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from bot.domain.phone import PhoneRefused, parse_phone

STEP_COUNT = 6
HELP_STEPS = (4, 5)  # each needs a contact with a number for the plan to be active
MAX_ITEMS = 8  # items a step
MAX_ITEM_CHARS = 200  # characters an item (a plan event's detail holds a contact's name)
MAX_FIELD_CHARS = MAX_ITEMS * (MAX_ITEM_CHARS + 2)
MAX_NAME_CHARS = 40  # a contact's name on a Call button

# (the clinician's title, the patient's title), in the order the plan is worked through
STEPS: tuple[tuple[str, str], ...] = (
    ("Warning signs", "My warning signs"),
    ("Internal coping strategies", "Things I can do on my own"),
    ("People and social settings that distract", "People and places that take my mind off it"),
    ("People to ask for help", "People I can ask for help"),
    ("Professionals and agencies", "Professionals I can call in a crisis"),
    ("Making the environment safe", "Making where I am safe"),
)
FIELDS = tuple(f"step{n}" for n in range(1, STEP_COUNT + 1))

_NUMBER = re.compile(r"(?:\+|\b)[0-9][0-9 ().\-/]*[0-9]")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_NAME_TRIM = " \t-–—:,;.("
_CALL_WORDS = re.compile(r"(?i)^(?:call|ring|phone|text)\s+|\s+(?:on|at|tel\.?|phone)$")


class PlanRefused(ValueError):
    """A step that cannot be saved as written: an English `template` and its `values` (said in
    a clinician's language by `bot.services.wording.refusals`)."""

    def __init__(self, template: str, **values: object) -> None:
        super().__init__(template.format(**values))
        self.template, self.values = template, values


@dataclass(frozen=True)
class PlanItem:
    """One line of a step; `phone` as typed and `e164` as dialled when it names a number."""

    text: str
    phone: str | None = None
    e164: str | None = None

    @property
    def is_contact(self) -> bool:
        return self.e164 is not None

    @property
    def name(self) -> str:
        """Who the number reaches, for a Call button: the line without its number."""
        before, _, after = self.text.partition(self.phone) if self.phone else (self.text, "", "")
        rest = ""
        for part in (before, after):  # what comes before the number names it, as a rule
            rest = rest or _CALL_WORDS.sub("", part.strip(_NAME_TRIM)).strip(_NAME_TRIM)
            rest = _CALL_WORDS.sub("", rest).strip(_NAME_TRIM)
        rest = rest or (self.phone or self.text)
        return rest if len(rest) <= MAX_NAME_CHARS else rest[: MAX_NAME_CHARS - 1] + "…"


Steps = tuple[tuple[PlanItem, ...], ...]  # six steps, in order


def step_title(step: int, *, for_patient: bool = False) -> str:
    """The title of step 1–6."""
    return STEPS[step - 1][1 if for_patient else 0]


def read_plan(
    values: Mapping[str, str],
    *,
    country_code: str | None,
    say: Callable[[ValueError], str] = str,
) -> tuple[Steps | None, dict[str, str]]:
    """The six steps a form holds (`step1` … `step6`, one item a line), or the problem with
    each field; an empty step is allowed (the plan is then not active)."""
    steps: list[tuple[PlanItem, ...]] = []
    errors: dict[str, str] = {}
    for number, field in enumerate(FIELDS, start=1):
        try:
            steps.append(read_step(values.get(field, ""), step=number, country_code=country_code))
        except ValueError as exc:
            errors[field] = say(exc)
    return (None, errors) if errors else (tuple(steps), {})


def read_step(text: str, *, step: int, country_code: str | None) -> tuple[PlanItem, ...]:
    """One step's items; ValueError saying what to change."""
    if len(text) > MAX_FIELD_CHARS:
        raise PlanRefused(
            "At most {lines} lines of {most} characters.", lines=MAX_ITEMS, most=MAX_ITEM_CHARS
        )
    lines = [" ".join(line.split()) for line in text.splitlines()]
    lines = [line for line in lines if line]
    if len(lines) > MAX_ITEMS:
        raise PlanRefused(
            "At most {most} lines (this has {count}): keep it short.",
            most=MAX_ITEMS,
            count=len(lines),
        )
    items = []
    for index, line in enumerate(lines, start=1):
        if _CONTROL.search(line):
            raise PlanRefused("Line {index} holds a control character.", index=index)
        if len(line) > MAX_ITEM_CHARS:
            raise PlanRefused(
                "Line {index}: at most {most} characters.", index=index, most=MAX_ITEM_CHARS
            )
        items.append(_item(line, index=index, step=step, country_code=country_code))
    return tuple(items)


def _item(line: str, *, index: int, step: int, country_code: str | None) -> PlanItem:
    found = [(sum(ch.isdigit() for ch in m), m.strip()) for m in _NUMBER.findall(line)]
    long = [number for digits, number in found if digits >= 7]
    if long:
        number = long[-1]
        try:
            parsed = parse_phone(number, default_country=country_code)
        except PhoneRefused as exc:
            raise PlanRefused(
                "Line {index}, {number}: {problem}", index=index, number=number, problem=exc
            ) from exc
        return PlanItem(line, parsed.entered, parsed.e164)
    if found and step in HELP_STEPS and line.endswith(found[-1][1]):
        digits, number = found[-1]
        dialled = number.replace(" ", "")
        if 3 <= digits <= 6 and dialled.isdigit():  # a short code at the end: 988, 116 123
            return PlanItem(line, number, dialled)
    return PlanItem(line)


def is_active(steps: Steps) -> bool:
    """Steps 4 and 5 each hold at least one contact with a number (CLINICAL.md §11)."""
    return all(any(item.is_contact for item in steps[n - 1]) for n in HELP_STEPS)


def missing_for_active(steps: Steps) -> list[int]:
    """The help steps that still need a contact with a number."""
    return [n for n in HELP_STEPS if not any(item.is_contact for item in steps[n - 1])]


def as_text(items: tuple[PlanItem, ...]) -> str:
    """A step as the form shows it again: one item a line."""
    return "\n".join(item.text for item in items)


def to_json(steps: Steps) -> str:
    """The stored shape: six lists of {"text", "phone"?, "e164"?}."""
    return json.dumps(
        [
            [
                {"text": i.text, **({"phone": i.phone, "e164": i.e164} if i.e164 else {})}
                for i in items
            ]
            for items in steps
        ],
        ensure_ascii=False,
    )


def from_json(stored: str) -> Steps:
    """The stored steps; a missing step reads as empty."""
    raw = json.loads(stored)
    steps = [
        tuple(PlanItem(str(i["text"]), i.get("phone"), i.get("e164")) for i in items)
        for items in raw[:STEP_COUNT]
    ]
    steps += [()] * (STEP_COUNT - len(steps))
    return tuple(steps)

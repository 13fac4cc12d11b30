"""Refusals of `bot.domain` (a phone number, a safety plan's step) said in a clinician's
language: the domain raises an English template and its values (it imports nothing of ours);
the templates are marked here for the clinicians' catalogue, and tests/services keeps the two
the same."""

from __future__ import annotations

from bot.i18n import C_, NC_

TEMPLATES = (
    # bot.domain.phone.PhoneRefused
    NC_("Enter a phone number, or leave the field empty."),
    NC_("At most {most} characters, separators included."),
    NC_("Enter the number without an extension (call and ask for it)."),
    NC_(
        "Use digits, spaces, brackets, dots or dashes only, with + only at the start, "
        "e.g. +44 20 7946 0000."
    ),
    NC_("A + can only come first, before the country code."),
    NC_(
        "Too short: a number with its country code has {least} to {most} digits, this one "
        "{count} ({e164})."
    ),
    NC_("Too long: a number with its country code has at most {most} digits, this one {count}."),
    NC_(
        "Start with + and the country code, e.g. +44 20 7946 0000: this clinic has no "
        "default country code (set phone_country_code in the clinic's settings)."
    ),
    NC_("The country code and number are missing after the + or 00."),
    NC_("A country code never starts with 0: check the digits after + or 00."),
    NC_(
        "A North American number does not start with 0: enter the 10 digits with the "
        "area code, or + and the country code for a number abroad."
    ),
    # bot.domain.safety_plan.PlanRefused
    NC_("At most {lines} lines of {most} characters."),
    NC_("At most {most} lines (this has {count}): keep it short."),
    NC_("Line {index} holds a control character."),
    NC_("Line {index}: at most {most} characters."),
    NC_("Line {index}, {number}: {problem}"),
)


def said(exc: BaseException) -> str:
    """The refusal in the current language: its template translated, then its values put in
    (a refusal inside another said the same way); any other error as it reads."""
    template = getattr(exc, "template", None)
    values = getattr(exc, "values", None)
    if not isinstance(template, str) or not isinstance(values, dict):
        return str(exc)
    filled = {k: said(v) if isinstance(v, BaseException) else v for k, v in values.items()}
    return C_(template).format(**filled)

"""The code systems and codes of the FHIR export, each checked against its source (README,
"FHIR export"). Aftercare's own codes live under `urn:aftercare:`."""

from __future__ import annotations

from bot.domain.levels import Level

LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
BCP47 = "urn:ietf:bcp:47"
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
FLAG_CATEGORY = "http://terminology.hl7.org/CodeSystem/flag-category"
AFTERCARE_CODES = "urn:aftercare:codes"
INSTRUMENT_TAG = "urn:aftercare:instrument"
EXTENSION = "urn:aftercare:fhir:StructureDefinition/"

# The C-SSRS screener - recent (LOINC panel), as the QuestionnaireResponse's questionnaire.
CSSRS_QUESTIONNAIRE = "http://loinc.org/q/93373-9"
# Our since-last-contact item 6 asks about behaviour since the last check-in, not "ever":
# it maps to 93267-3 ("ever done, started or prepared"), the timeframe being ours (README).
# 93269-9 ("within the past 3 months") is never sent: we never ask it.
S6_LOINC = "93267-3"

YES = ("LA33-6", "Yes")
NO = ("LA32-8", "No")

RISK_LEVEL = ("93374-7", "Suicide risk level")
RISK_VALUES: dict[Level, tuple[str, str]] = {
    Level.LOW: ("LA9194-7", "Low"),
    Level.MODERATE: ("LA6751-7", "Moderate"),
    Level.HIGH: ("LA9193-9", "High"),
}
SURVEY = ("survey", "Survey")

# No LOINC code is a single 0-10 mood rating: Aftercare's own code.
MOOD = ("mood-0-10", "Mood, 0 (worst) to 10 (best)")

SAFETY = ("safety", "Safety")
AT_RISK_FOR_SUICIDE = ("225444004", "At risk for suicide (finding)")

# Extensions on a case's Flag: structured values only, never free text.
EXT_LEVEL = EXTENSION + "case-level"
EXT_ACKNOWLEDGED = EXTENSION + "case-acknowledged"
EXT_REACHED = EXTENSION + "case-reached"
EXT_OUTREACH = EXTENSION + "case-outreach"  # one per attempt: method, outcome, at


def identifier_system(clinic_id: str, kind: str) -> str:
    """`urn:aftercare:<clinic>:<kind>`: the system of a resource's own identifier."""
    return f"urn:aftercare:{clinic_id}:{kind}"

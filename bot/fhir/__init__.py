"""A clinic's data as FHIR R4B resources (pure: rows in, `fhir.resources` models out; the
time and the ids are passed in). README "FHIR export" lists every code and its source."""

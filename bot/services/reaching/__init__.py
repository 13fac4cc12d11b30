"""Reaching the patient (CLINICAL.md §10): contact details, the outreach log and its clock,
the response times."""

"""Queries on a patient's safety plan (CLINICAL.md §11)."""

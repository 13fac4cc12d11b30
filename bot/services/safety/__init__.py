"""A patient's safety plan (CLINICAL.md §11): its versions, and what the patient did with it."""

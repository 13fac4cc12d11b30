"""Encryption at rest: the patients' keyring and the sealed column type (issue 31)."""

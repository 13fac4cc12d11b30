"""Caring contacts' tracks and messages (CLINICAL.md §12): every query on them."""

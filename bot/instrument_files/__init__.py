"""Installed instrument translations as files: the pure rules that check one against its English
source (CLINICAL.md §13), and which languages a check-in can be offered in."""

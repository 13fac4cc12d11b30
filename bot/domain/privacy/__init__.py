"""Pure privacy rules: what a clinic's retention makes due (issue 31)."""

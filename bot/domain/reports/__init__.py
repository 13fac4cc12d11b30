"""Reports over a clinic's records: pure figures from plain rows (the monthly report)."""

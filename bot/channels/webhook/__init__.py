"""Pages to the clinic's own signed webhook."""

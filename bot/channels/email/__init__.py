"""Pages by e-mail over the clinic's SMTP relay, with single-use acknowledge links."""

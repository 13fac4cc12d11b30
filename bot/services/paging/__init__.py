"""Pages beyond Telegram: e-mail acknowledge links, the paging-service and webhook outbox, and
what paging services report back."""

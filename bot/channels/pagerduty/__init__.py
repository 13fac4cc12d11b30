"""Pages to a paging service (PagerDuty Events API v2), and its webhooks back."""

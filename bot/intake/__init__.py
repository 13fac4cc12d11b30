"""Durable intake: how a Telegram update gets from Telegram into the database, and is processed.

`intake` holds a batch of updates in the inbox (`storage/inbox.py`) before Telegram is told they
arrived (`polling`: the next getUpdates offset; webhook: the HTTP answer); while that cannot be
done it answers each sender from memory (`replies`) and Telegram keeps the update. `inbox`
processes held updates one chat at a time, in order, through PTB's `process_update`, retries
what fails and parks what fails every time. ARCHITECTURE.md has the whole story.
"""

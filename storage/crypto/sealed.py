"""Columns sealed under their patient's data key (issue 31): what identifies or exposes a patient
(their words, contacts and names) is written as `ac1:OWNER:…` and read back as plain text, so
services and views see text and the database file, its dumps and its backups do not.

A value to seal says whose it is. Through the ORM that is automatic: a row's `patient_id` (the
patient's own id for the patient row) names the owner as the row is flushed (`seal_rows_of`).
A statement that bypasses the ORM (`update(...).values(...)`) passes `owned(patient_id, text)`,
an `Owned` str; a plain str there is refused (`NotSealed`) instead of being stored in clear,
and text that is not the patient's is marked `Public`. What is read back is `Owned`.
`answer.value` seals only the free-text items (`always=False`; the row says which with
`holds_words()`): structured answers stay readable after an erasure, as the clinic must keep.

Keys come from the engine's `Keyring` (`storage.crypto.keyring.open_database`). The ORM reads and
writes inside SQLAlchemy's greenlet, so a key not yet in memory (made by another instance) is
fetched with `await_only`. A shredded key reads as "" (the patient was erased). Nothing here
can search sealed text: no query filters or orders on a sealed column (README, "Privacy")."""

from __future__ import annotations

import logging
from typing import Any, cast

from sqlalchemy import Table, Text, event, select, update
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.exc import MissingGreenlet
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapper
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.types import TypeDecorator
from sqlalchemy.util import await_only

from bot.crypto.envelope import Unreadable, is_sealed, open_sealed, owner_of, seal
from bot.crypto.keys import KeyProblem
from storage.crypto.keyring import INBOX_OWNER, Keyring, keyring_of

log = logging.getLogger(__name__)


class NotSealed(TypeError):
    """Plain text for a sealed column without saying whose it is: a programming error."""


class Owned(str):
    """Text that belongs to a patient (or to the inbox, owner 0): sealed under their key."""

    owner: int

    def __new__(cls, text: str, owner: int) -> Owned:
        value = super().__new__(cls, text)
        value.owner = owner
        return value


def owned(owner: int, text: str | None) -> Owned | None:
    """`text` as the patient's (None stays None)."""
    return None if text is None else Owned(text, owner)


def _data_key(keyring: Keyring, owner: int, *, create: bool) -> bytes | None:
    try:
        return keyring.cached(owner)
    except KeyError:
        pass
    try:
        return await_only(keyring.data_key(owner, create=create))
    except MissingGreenlet:
        raise KeyProblem(
            f"owner {owner}'s data key is not in memory and cannot be fetched here: "
            "read sealed columns through a session"
        ) from None


class Sealed(TypeDecorator[str]):
    """A Text column whose values are sealed under their owner's data key."""

    impl = Text
    cache_ok = True

    def __init__(self, field: str, *, always: bool = True) -> None:
        super().__init__()
        self.field = field
        self.always = always

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        if not value:
            return value  # None or "": nothing to hide (an erasure writes these)
        if isinstance(value, Public):
            return str(value)
        if isinstance(value, Owned):
            key = _data_key(keyring_of(dialect), value.owner, create=True)
            if key is None:
                raise KeyProblem(f"owner {value.owner}'s key is shredded: nothing more is kept")
            return seal(key, str(value), field=self.field, owner=value.owner)
        if not self.always:
            return str(value)  # a structured answer (a free-text one is owned by its row)
        raise NotSealed(f"{self.field} needs owned(patient_id, text), not a plain str")

    def process_result_value(self, value: Any, dialect: Dialect) -> str | None:
        """The plain text; a value that does not open reads as "" and is logged, never raised:
        one unreadable cell must not stop a page, a queue or a history from being shown."""
        if value is None or not is_sealed(value):
            return value
        try:
            owner = owner_of(value)
        except Unreadable:
            return str(value)  # clear text of an older version that happens to start "ac1:"
        keyring = keyring_of(dialect)  # no key set at all: raised, so nothing reads as erased
        try:
            key = _data_key(keyring, owner, create=False)
            if key is None:
                return Owned("", owner)  # shredded: the patient was erased
            return Owned(open_sealed(key, value, field=self.field), owner)
        except (Unreadable, KeyProblem) as problem:
            log.error("sealed.unreadable field=%s owner=%s problem=%s", self.field, owner, problem)
            return Owned("", owner)


class Public(str):
    """Text for a sealed column that is not the patient's (an erased plan's empty steps)."""


def _sealed_columns(mapper: Mapper[Any], target: Any) -> list[str]:
    """The sealed columns of this row: `always` ones, and the others when `holds_words()`."""
    words = getattr(target, "holds_words", None)
    return [
        prop.key
        for prop in mapper.column_attrs
        if isinstance(typ := prop.columns[0].type, Sealed)
        and (typ.always or (words is not None and words()))
    ]


def _plain(value: Any) -> bool:
    """Text set on a row that does not yet say whose it is (whatever it starts with)."""
    return bool(value) and not isinstance(value, Owned | Public)


def _own_before_write(mapper: Mapper[Any], _connection: Connection, target: Any) -> None:
    _own(mapper, target, target.patient_id)


def _inbox_before_write(mapper: Mapper[Any], connection: Connection, target: Any) -> None:
    patient = cast(Table, mapper.local_table).metadata.tables["patient"]
    owner = connection.scalar(select(patient.c.id).where(patient.c.chat_id == target.chat_id))
    _own(mapper, target, INBOX_OWNER if owner is None else owner)


def _own(mapper: Mapper[Any], target: Any, owner: int) -> None:
    for key in _sealed_columns(mapper, target):
        if _plain(value := getattr(target, key)):
            setattr(target, key, Owned(value, owner))


def _patient_before_insert(mapper: Mapper[Any], _connection: Connection, target: Any) -> None:
    # No id yet, so no key: the words wait for after_insert (same flush, same transaction).
    pending = {}
    for key in _sealed_columns(mapper, target):
        if _plain(value := getattr(target, key)):
            pending[key] = value
            setattr(target, key, None)
    target.__dict__["_sealed_pending"] = pending


def _patient_after_insert(mapper: Mapper[Any], connection: Connection, target: Any) -> None:
    pending = target.__dict__.pop("_sealed_pending", {})
    if not pending:
        return
    values = {key: Owned(value, target.id) for key, value in pending.items()}
    table = cast(Table, mapper.local_table)
    connection.execute(update(table).where(table.c.id == target.id).values(values))
    for key, value in values.items():
        set_committed_value(target, key, value)


def seal_rows_of(*models: type, patient: type, inbox: type) -> None:
    """Plain text set on a sealed column of these models (each with `patient_id`), of the
    patient model (its own id) or of the inbox (its chat's patient; INBOX_OWNER for a chat that
    is no patient's) is sealed as the row is flushed."""
    for model in models:
        event.listen(model, "before_insert", _own_before_write)
        event.listen(model, "before_update", _own_before_write)
    event.listen(inbox, "before_insert", _inbox_before_write)
    event.listen(inbox, "before_update", _inbox_before_write)
    event.listen(patient, "before_insert", _patient_before_insert)
    event.listen(patient, "after_insert", _patient_after_insert)
    event.listen(patient, "before_update", _patient_before_update)


def _patient_before_update(mapper: Mapper[Any], _connection: Connection, target: Any) -> None:
    for key in _sealed_columns(mapper, target):
        if _plain(value := getattr(target, key)):
            setattr(target, key, Owned(value, target.id))


async def with_live_keys(session: AsyncSession, owners: dict[int, int]) -> dict[int, int]:
    """`owners` (by any key) without those whose data key is shredded: an erased patient whose
    row came back with a restored backup. What they send then goes under the inbox's key, and
    a batch of other patients' updates is stored as ever."""
    keyring = keyring_of(session.get_bind().dialect)
    live = {}
    for key, owner in owners.items():
        if await keyring.data_key(owner, create=True) is not None:
            live[key] = owner
    return live

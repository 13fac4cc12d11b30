"""The patients' data keys, each wrapped under a key-encryption key from AFTERCARE_DATA_KEY, in a
database of their own (issue 31). Kept apart from the data so that a backup of the data holds
no key: destroying a patient's key here (crypto-shredding) leaves their words unreadable in the
database and in every backup taken before. SQLite: a sibling file (`aftercare.keys.db`);
PostgreSQL: AFTERCARE_KEYRING_URL, the data's own database when unset (see the README).

One table, `patient_key`, created when missing (it has no Alembic history: one table whose
columns have not changed). A shredded key keeps its row, wrapped key gone, as a tombstone: a
restored backup of the data cannot bring the key back. Owner 0 is not a patient: it seals
updates received before they are tied to one (the inbox)."""

from __future__ import annotations

import os
import weakref
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    LargeBinary,
    MetaData,
    String,
    Table,
    exc,
    select,
    update,
)
from sqlalchemy.engine import Dialect, make_url

from bot.crypto.envelope import new_data_key, unwrap, wrap
from bot.crypto.keys import KeyEncryptionKeys, KeyProblem, parse
from storage.engine import Database, create_engine

INBOX_OWNER = 0  # the owner of what is sealed before it is known whose it is
ROTATE_BATCH = 500

metadata = MetaData()
patient_key = Table(
    "patient_key",
    metadata,
    Column("patient_id", BigInteger, primary_key=True, autoincrement=False),
    Column("kek_id", String(16), nullable=True),
    Column("wrapped", LargeBinary, nullable=True),  # NULL once shredded
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("shredded_at", DateTime(timezone=True), nullable=True),
)


def default_keyring_url(database_url: str) -> str:
    """A SQLite data file's keyring is `NAME.keys.db` beside it; PostgreSQL's is its database."""
    parsed = make_url(database_url)
    if parsed.get_backend_name() != "sqlite":
        return database_url
    path = parsed.database or ""
    if path in ("", ":memory:") or path.startswith("file:"):
        raise KeyProblem("an in-memory SQLite database needs AFTERCARE_KEYRING_URL")
    stem = path[: -len(".db")] if path.endswith(".db") else path
    return parsed.set(database=f"{stem}.keys.db").render_as_string(hide_password=False)


class Keyring:
    """Data keys by owner, unwrapped once and kept in this process's memory (None: shredded)."""

    def __init__(self, url: str, keks: KeyEncryptionKeys, **engine_kwargs: Any) -> None:
        self.url = url
        self.keks = keks
        self.engine = create_engine(url, **engine_kwargs)
        self._keys: dict[int, bytes | None] = {}
        self._opened = False

    async def open(self) -> None:
        """Create the table when missing and unwrap every key; KeyProblem when a key is wrapped
        under a KEK that AFTERCARE_DATA_KEY does not list (before anything else is read)."""
        if self._opened:
            return
        try:
            async with self.engine.begin() as conn:
                await conn.run_sync(metadata.create_all, checkfirst=True)
        except exc.DBAPIError:  # another instance created it between the check and ours
            async with self.engine.begin() as conn:
                await conn.run_sync(metadata.create_all, checkfirst=True)
        async with self.engine.connect() as conn:
            rows = (await conn.execute(select(patient_key))).all()
        missing = sorted({r.kek_id for r in rows if r.wrapped is not None} - set(self.keks.keys))
        if missing:
            raise KeyProblem(
                f"patient keys are wrapped under {', '.join(map(repr, missing))}, which "
                "AFTERCARE_DATA_KEY does not list: add them back (after the newest)"
            )
        for row in rows:
            self._keys[row.patient_id] = self._unwrap(row)
        self._opened = True

    def cached(self, owner: int) -> bytes | None:
        """The key already in memory (None: shredded); KeyError when not loaded yet."""
        return self._keys[owner]

    async def data_key(self, owner: int, *, create: bool) -> bytes | None:
        """`owner`'s data key, made on first need when `create`; None once shredded."""
        await self.open()
        if owner in self._keys:
            return self._keys[owner]
        row = await self._read(owner)
        if row is None and create:
            key = new_data_key()
            values = {
                "patient_id": owner,
                "kek_id": self.keks.newest,
                "wrapped": wrap(self.keks.key(self.keks.newest), key, patient_id=owner),
                "created_at": datetime.now(UTC),  # bookkeeping only: no rule reads it
            }
            try:
                async with self.engine.begin() as conn:
                    await conn.execute(patient_key.insert().values(**values))
                self._keys[owner] = key
                return key
            except exc.IntegrityError:  # another instance made it first: use theirs
                row = await self._read(owner)
        if row is None:
            raise KeyProblem(
                f"the keyring holds no key for owner {owner}: is AFTERCARE_KEYRING_URL the "
                "keyring of this database?"
            )
        self._keys[owner] = self._unwrap(row)
        return self._keys[owner]

    async def shred(self, owner: int, *, now: datetime) -> bool:
        """Destroy `owner`'s key for good (a tombstone stays, also for an owner who never had
        one, so that none is made later); True once it is done."""
        await self.open()
        async with self.engine.begin() as conn:
            done = await conn.execute(
                update(patient_key)
                .where(patient_key.c.patient_id == owner, patient_key.c.wrapped.is_not(None))
                .values(wrapped=None, kek_id=None, shredded_at=now)
            )
            if not done.rowcount:
                exists = await conn.scalar(
                    select(patient_key.c.patient_id).where(patient_key.c.patient_id == owner)
                )
                if exists is None:  # never had a key: keep a tombstone so none is made later
                    await conn.execute(
                        patient_key.insert().values(
                            patient_id=owner, created_at=now, shredded_at=now
                        )
                    )
        self._keys[owner] = None
        return True

    async def shredded(self) -> set[int]:
        """The owners whose key is destroyed."""
        await self.open()
        async with self.engine.connect() as conn:
            rows = await conn.scalars(
                select(patient_key.c.patient_id).where(patient_key.c.wrapped.is_(None))
            )
            return set(rows)

    async def rotate(self) -> int:
        """Re-wrap every key not under the newest KEK, in batches; how many were re-wrapped."""
        await self.open()
        newest, done = self.keks.newest, 0
        while True:
            async with self.engine.begin() as conn:
                rows = (
                    await conn.execute(
                        select(patient_key)
                        .where(patient_key.c.wrapped.is_not(None), patient_key.c.kek_id != newest)
                        .limit(ROTATE_BATCH)
                    )
                ).all()
                for row in rows:
                    key = self._unwrap(row)
                    assert key is not None
                    await conn.execute(
                        update(patient_key)
                        .where(patient_key.c.patient_id == row.patient_id)
                        .values(
                            kek_id=newest,
                            wrapped=wrap(self.keks.key(newest), key, patient_id=row.patient_id),
                        )
                    )
            done += len(rows)
            if len(rows) < ROTATE_BATCH:
                return done

    async def dispose(self) -> None:
        await self.engine.dispose()

    async def _read(self, owner: int) -> Any:
        async with self.engine.connect() as conn:
            return (
                await conn.execute(select(patient_key).where(patient_key.c.patient_id == owner))
            ).first()

    def _unwrap(self, row: Any) -> bytes | None:
        if row.wrapped is None:
            return None
        return unwrap(self.keks.key(row.kek_id), row.wrapped, patient_id=row.patient_id)


_KEYRINGS: weakref.WeakKeyDictionary[Dialect, Keyring] = weakref.WeakKeyDictionary()
NO_KEY = (
    "AFTERCARE_DATA_KEY is not set: patient text cannot be sealed or read "
    "(run `aftercare keys new` and add the line it prints to .env)"
)


def keyring_of(dialect: Dialect) -> Keyring:
    """The keyring that seals and opens this engine's sealed columns."""
    try:
        return _KEYRINGS[dialect]
    except KeyError:
        raise KeyProblem(NO_KEY) from None


def keys_from_environment() -> KeyEncryptionKeys:
    """AFTERCARE_DATA_KEY from the process environment (tests, benchmarks, tools)."""
    raw = os.environ.get("AFTERCARE_DATA_KEY", "")
    if not raw.strip():
        raise KeyProblem(NO_KEY)
    return parse(raw)


def open_database(
    url: str,
    keks: KeyEncryptionKeys | None = None,
    *,
    keyring_url: str | None = None,
    **engine_kwargs: Any,
) -> Database:
    """The data's Database, its sealed columns served by a keyring (KeyProblem without keys)."""
    keyring = Keyring(
        keyring_url or default_keyring_url(url),
        keks or keys_from_environment(),
        **engine_kwargs,
    )
    db = Database(url, keyring=keyring, **engine_kwargs)
    for engine in db.engines:
        _KEYRINGS[engine.sync_engine.dialect] = keyring
    return db

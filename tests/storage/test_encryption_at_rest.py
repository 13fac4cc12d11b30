"""Encryption at rest (issue 31) over both backends: with the key set, neither the SQLite file
nor a PostgreSQL dump holds a seeded patient's words, phone numbers or emergency contact, while
the application reads them back as written; a second instance reads keys the first one made; a
backup taken before an erasure, restored, cannot show the erased words; a key wrapped under a
KEK no longer listed stops the keyring with one line naming it; rotation re-wraps every key;
`keys encrypt` seals what an older database held in clear, resumably."""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.engine import make_url

from bot.crypto.keys import KeyProblem, new_entry, parse
from bot.services.clinic.erasure import erase_restored
from storage import audit
from storage.backup.sqlite import copy_sqlite, sqlite_file, sqlite_url
from storage.crypto.keyring import INBOX_OWNER, Keyring, open_database
from storage.crypto.sealed import NotSealed, Owned
from storage.engine import Database, is_unavailable
from storage.inbox import Arrival, store
from storage.models import Answer, Case, CaseMessage, InboundUpdate, Patient
from storage.privacy.sealing import TARGETS, seal_batch
from storage.views.timeline import patient_history
from tests.auxil.databases import TEST_DATA_KEY
from tests.auxil.privacy import NOW, WORDS, erase_ref, everything_of, seed_two_patients

ALL_WORDS = WORDS["P-1"] + WORDS["P-2"]


def _found(raw: bytes) -> list[str]:
    return [w for w in ALL_WORDS if w.encode() in raw or w.replace(" ", "").encode() in raw]


def _raw_sqlite(db: Database) -> bytes:
    path = sqlite_file(db.url)
    with sqlite3.connect(path) as checkpoint:
        checkpoint.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return b"".join(p.read_bytes() for p in (path, Path(f"{path}-wal")) if p.exists())


async def _pg_dump(db: Database) -> bytes:
    async with db.transaction() as session:
        schema = (await session.execute(text("SELECT current_schema()"))).scalar_one()
    url = make_url(db.url).set(drivername="postgresql").render_as_string(hide_password=False)
    dumped = await asyncio.to_thread(
        subprocess.run,
        ["pg_dump", "--format=plain", f"--schema={schema}", url],
        capture_output=True,
        check=True,
    )
    assert b"CREATE TABLE" in dumped.stdout and b"P-2" in dumped.stdout  # it dumped the data
    return dumped.stdout


async def test_the_database_holds_no_word_in_clear_and_the_app_reads_them_back(
    db: Database,
) -> None:
    one, two = await seed_two_patients(db)
    assert one.id is not None and two.id is not None
    held = await everything_of(db, two.id)  # what services and views read
    assert [w for w in WORDS["P-2"][:8] if w not in held] == []
    if db.dialect == "sqlite":
        raw = _raw_sqlite(db)
        assert b"P-2" in raw  # the search sees what is kept in clear (the reference)
    else:
        raw = await _pg_dump(db)
    assert _found(raw) == []
    assert b"ac1:" in raw


async def test_a_second_instance_reads_the_keys_the_first_one_made(db: Database) -> None:
    other = open_database(db.url, **_engine_kwargs(db))
    try:
        async with other.transaction() as session:  # its keyring is loaded before any key
            assert (await session.scalars(select(Patient))).all() == []
        _one, two = await seed_two_patients(db)  # made by `db`'s keyring
        async with other.transaction() as session:
            row = await session.get(Patient, two.id)
            assert row is not None and row.phone == WORDS["P-2"][1]
            assert isinstance(row.phone, Owned) and row.phone.owner == two.id
    finally:
        await other.dispose()


def _engine_kwargs(db: Database) -> dict[str, Any]:
    return dict(db.engine_kwargs)  # PostgreSQL: the test's schema, on connect_args


def _keyring_url(db: Database) -> str:
    assert db.keyring is not None
    return db.keyring.url


async def test_a_backup_taken_before_an_erasure_cannot_show_the_erased_words(
    db: Database, tmp_path: Path
) -> None:
    if db.dialect != "sqlite":
        pytest.skip("the SQLite file is copied here; PostgreSQL's dump is grepped above")
    one, two = await seed_two_patients(db)
    backup = tmp_path / "before-erase.db"
    await asyncio.to_thread(copy_sqlite, sqlite_file(db.url), backup)
    erased = await erase_ref(db, "P-1")
    assert getattr(erased, "key_destroyed", None) is True
    # Restored (opened with the live keyring, as a restore would run): P-1's words open nowhere.
    restored = open_database(sqlite_url(backup), keyring_url=_keyring_url(db))
    try:
        assert one.id is not None and two.id is not None
        before_erase = await everything_of(restored, one.id)
        assert [w for w in WORDS["P-1"][:8] if w in before_erase] == []
        assert WORDS["P-2"][4] in await everything_of(restored, two.id)
        async with restored.transaction() as session:
            row = await session.get(Patient, one.id)
            assert row is not None and row.phone == "" and row.status.value == "active"
        # Started on the restored copy, the bot erases P-1 again: nothing more goes to them.
        assert await erase_restored(restored, now=NOW) == 1
        assert await erase_restored(restored, now=NOW) == 0
        async with restored.transaction() as session:
            row = await session.get(Patient, one.id)
            assert row is not None and row.status.value == "erased" and row.chat_id is None
            other = await session.get(Patient, two.id)
            assert other is not None and other.status.value == "active" and other.chat_id == 502
        assert (await audit.verify_database(restored)).ok
    finally:
        await restored.dispose()
    assert _found(backup.read_bytes()) == []  # and the copy itself never held them in clear


async def test_a_key_wrapped_under_an_unlisted_kek_is_named(db: Database) -> None:
    await seed_two_patients(db)
    stranger = Keyring(
        _keyring_url(db),
        parse(new_entry("k9")),
        **_engine_kwargs(db),
    )
    try:
        with pytest.raises(KeyProblem, match=r"wrapped under 'test'.*does not list") as problem:
            await stranger.open()
        assert TEST_DATA_KEY.split(":")[1] not in str(problem.value)
    finally:
        await stranger.dispose()


async def test_rotation_rewraps_every_key_and_the_old_kek_can_go(db: Database) -> None:
    _one, two = await seed_two_patients(db)
    keyring_url = _keyring_url(db)
    newest = new_entry("k2")
    both = Keyring(keyring_url, parse(f"{newest},{TEST_DATA_KEY}"), **_engine_kwargs(db))
    try:
        assert await both.rotate() == 2  # P-1 and P-2 (their updates are sealed as theirs)
        assert await both.rotate() == 0  # nothing left under the old one
    finally:
        await both.dispose()
    only_new = open_database(db.url, parse(newest), keyring_url=keyring_url, **_engine_kwargs(db))
    try:
        async with only_new.transaction() as session:
            row = await session.get(Patient, two.id)
            assert row is not None and row.emergency_name == WORDS["P-2"][2]
    finally:
        await only_new.dispose()


async def test_keys_encrypt_seals_what_an_older_database_held_in_clear(db: Database) -> None:
    _one, two = await seed_two_patients(db)
    assert two.id is not None
    async with db.transaction() as session:  # as an older version wrote them: in clear
        await session.execute(
            text("UPDATE patient SET phone = :p WHERE id = :i"), {"p": "+1 555 0123", "i": two.id}
        )
        await session.execute(
            text("UPDATE case_message SET text = :t WHERE patient_id = :i"),
            {"t": "words from before", "i": two.id},
        )
    by_name = {t.name: t for t in TARGETS}
    async with db.transaction() as session:  # an interrupted run sealed the first batch only
        assert await seal_batch(session, by_name["patient.phone"], batch=1) == 1
    async with db.transaction() as session:
        assert await seal_batch(session, by_name["patient.phone"], batch=10) == 0  # resumed
        assert await seal_batch(session, by_name["case_message.text"], batch=10) >= 1
    async with db.transaction() as session:
        raw = (
            await session.execute(text("SELECT phone FROM patient WHERE id = :i"), {"i": two.id})
        ).scalar_one()
        assert raw.startswith(f"ac1:{two.id}:")
        row = await session.get(Patient, two.id)
        assert row is not None and row.phone == "+1 555 0123"
        texts = await session.scalars(
            select(CaseMessage.text).where(CaseMessage.patient_id == two.id)
        )
        assert "words from before" in list(texts)


async def test_plain_text_for_a_sealed_column_outside_the_orm_is_refused(db: Database) -> None:
    from sqlalchemy import update

    _one, two = await seed_two_patients(db)
    with pytest.raises(Exception, match="needs owned") as refused:
        async with db.transaction() as session:
            await session.execute(update(Patient).where(Patient.id == two.id).values(phone="1"))
    assert isinstance(refused.value.__cause__ or refused.value.orig, NotSealed)  # type: ignore[attr-defined]
    async with db.transaction() as session:  # the structured answers stay in clear
        values = await session.scalars(
            select(Answer.value).where(Answer.patient_id == two.id, Answer.item_id == "mood")
        )
        assert all(not v.startswith("ac1:") for v in values)


async def test_what_does_not_open_reads_empty_and_text_like_a_seal_is_sealed(
    db: Database,
) -> None:
    _one, two = await seed_two_patients(db)
    assert two.id is not None
    lookalike = f"ac1:{two.id}:I cannot go on"  # a patient may type anything
    async with db.transaction() as session:
        row = await session.get(Patient, two.id)
        assert row is not None
        row.emergency_contact = lookalike
        await session.execute(  # a cell altered (or sealed under a key long gone)
            text("UPDATE escalation SET quote = :q WHERE patient_id = :i"),
            {"q": f"ac1:{two.id}:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "i": two.id},
        )
    async with db.transaction() as session:
        raw = (
            await session.execute(
                text("SELECT emergency_contact FROM patient WHERE id = :i"), {"i": two.id}
            )
        ).scalar_one()
        assert raw != lookalike and "go on" not in raw  # sealed like any other text
        row = await session.get(Patient, two.id, populate_existing=True)
        assert row is not None and row.emergency_contact == lookalike
        quotes = (await session.scalars(select(Case.quote).where(Case.patient_id == two.id))).all()
        assert quotes and all(q == "" for q in quotes)  # unreadable: empty, never an exception
        assert WORDS["P-2"][4] in await _history_text(session, two.id)  # the rest still shows


async def _history_text(session: Any, patient_id: int) -> str:
    history = await patient_history(session, patient_id=patient_id, now=NOW, since=None)
    return repr(history)


async def test_a_second_instance_shows_a_history_whose_keys_it_never_held(db: Database) -> None:
    other = open_database(db.url, **_engine_kwargs(db))
    try:
        async with other.transaction() as session:  # its keyring is loaded before any key
            assert (await session.scalars(select(Patient))).all() == []
        _one, two = await seed_two_patients(db)
        assert two.id is not None
        async with other.transaction() as session:  # Core rows, no Patient row loaded first
            assert WORDS["P-2"][4] in await _history_text(session, two.id)
    finally:
        await other.dispose()


async def test_an_update_from_a_patient_whose_key_is_gone_is_stored_with_the_others(
    db: Database,
) -> None:
    one, two = await seed_two_patients(db)
    assert db.keyring is not None and one.id is not None
    await db.keyring.shred(one.id, now=NOW)  # erased since this copy of the data was taken
    arrivals = [
        Arrival(update_id=9001, chat_id=501, payload='{"text": "still here"}', seen_at=NOW),
        Arrival(update_id=9002, chat_id=502, payload='{"text": "morning"}', seen_at=NOW),
    ]
    async with db.transaction() as session:
        await store(session, arrivals, now=NOW)
    async with db.transaction() as session:
        rows = await session.execute(
            text("SELECT update_id, payload FROM inbound_update WHERE update_id > 9000")
        )
        owners = {uid: payload.split(":")[1] for uid, payload in rows}
        assert owners == {9001: str(INBOX_OWNER), 9002: str(two.id)}
        payloads = await session.scalars(
            select(InboundUpdate.payload).where(InboundUpdate.update_id > 9000)
        )
        assert sorted(payloads) == ['{"text": "morning"}', '{"text": "still here"}']


async def test_a_keyring_that_cannot_be_reached_is_an_outage(db: Database, tmp_path: Path) -> None:
    if db.dialect != "sqlite":
        pytest.skip("a keyring file in a folder that does not exist")
    gone = open_database(db.url, keyring_url=f"sqlite+aiosqlite:///{tmp_path / 'gone' / 'keys.db'}")
    try:
        with pytest.raises(Exception) as failed:
            await seed_two_patients(gone)
        assert is_unavailable(failed.value), repr(failed.value)
    finally:
        await gone.dispose()


async def test_without_the_key_sealed_text_is_refused_not_shown_empty(db: Database) -> None:
    _one, two = await seed_two_patients(db)
    keyless = Database(db.url, **_engine_kwargs(db))  # what a command without the key opens
    try:
        with pytest.raises(KeyProblem, match="AFTERCARE_DATA_KEY is not set"):
            async with keyless.transaction() as session:
                await session.get(Patient, two.id)
    finally:
        await keyless.dispose()

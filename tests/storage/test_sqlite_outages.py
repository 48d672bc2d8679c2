"""SQLite outages: driver errors become ``Unavailable``, and say when a retry is safe.

A full disk, a read-only or immutable file, a lock another process holds past the
wait: the store raises ``core.errors.Unavailable``; its ``retry_safe`` is False only
when COMMIT failed (the outcome is unknown) and the write carried no idempotency key.
Programming errors stay what they are.  ``ping`` checks that the store can write, and
the store works again once the cause is gone.
"""

from __future__ import annotations

import sqlite3
import time
from datetime import timedelta
from pathlib import Path

import pytest

from adapters.storage.sqlite import SqliteStore
from core.errors import Unavailable
from core.ports import IdempotencyClaim
from tests.factories import T0, make_message, make_thread
from tests.outages import filled, immutable, small_disk, write_lock_held


def claim(key: str) -> IdempotencyClaim:
    return IdempotencyClaim("subject/create_thread", key, "fp", T0, T0 - timedelta(hours=1))


# -- SQLite ---------------------------------------------------------------------------


async def test_sqlite_disk_full_at_a_statement_is_unavailable_and_safe_to_retry(tmp_path: Path) -> None:
    store = await SqliteStore.open(tmp_path / "t.db")
    try:
        writer = store._writer
        assert writer is not None
        # the next write that needs a new page meets SQLITE_FULL, as on a full disk
        pages = writer.connection.execute("PRAGMA page_count").fetchone()[0]
        writer.connection.execute(f"PRAGMA max_page_count = {pages}")
        thread = make_thread()
        big = [make_message(thread, "x" * 4000) for _ in range(8)]
        with pytest.raises(Unavailable) as info:
            await store.create_thread(thread, big)
        assert info.value.retry_safe
        assert info.value.code == "store_unavailable"
        assert "full" in info.value.detail
        assert isinstance(info.value.__cause__, sqlite3.OperationalError)
        assert await store.get_thread(thread.id) is None
        writer.connection.execute("PRAGMA max_page_count = 1073741823")
        assert await store.create_thread(thread, big) == thread
    finally:
        await store.close()


async def test_sqlite_lock_held_past_the_wait_is_unavailable_then_recovers(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    store = await SqliteStore.open(path, lock_timeout=0.2)
    try:
        before = make_thread()
        await store.create_thread(before)
        with write_lock_held(path):
            started = time.monotonic()
            with pytest.raises(Unavailable) as info:
                await store.create_thread(make_thread())
            assert info.value.retry_safe  # BEGIN IMMEDIATE never got the lock: nothing sent
            assert time.monotonic() - started < 5
            with pytest.raises(Unavailable):
                await store.ping()  # a store that cannot write is not ready
            assert await store.get_thread(before.id) == before  # reads go on
        await store.ping()
        after = make_thread()
        assert await store.create_thread(after) == after
    finally:
        await store.close()


async def test_sqlite_immutable_file_cannot_write_and_ping_says_so(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    first = await SqliteStore.open(path)
    thread = make_thread()
    await first.create_thread(thread)
    await first.close()
    with immutable(path):
        # SQLite opens an immutable file read-only, without a word
        store = await SqliteStore.open(path)
        try:
            assert await store.get_thread(thread.id) == thread
            with pytest.raises(Unavailable):
                await store.ping()
            with pytest.raises(Unavailable) as info:
                await store.create_thread(make_thread())
            assert info.value.retry_safe
            assert "readonly" in info.value.detail
        finally:
            await store.close()


async def test_sqlite_failed_commit_is_not_safe_to_retry_unless_it_carries_a_key(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    store = await SqliteStore.open(path)
    try:
        await store.create_thread(make_thread())  # the WAL file exists from here on
        wal = path.with_name(path.name + "-wal")
        with immutable(wal):
            with pytest.raises(Unavailable) as info:
                await store.create_thread(make_thread())
            assert not info.value.retry_safe  # the I/O error came at COMMIT
            thread = make_thread()
            with pytest.raises(Unavailable) as keyed:
                await store.create_thread(thread, idempotency=claim("k1"))
            assert keyed.value.retry_safe  # a repeat with the key cannot store it twice
        # the retry with the same key stores the thread once
        assert await store.create_thread(thread, idempotency=claim("k1")) == thread
        assert await store.create_thread(make_thread(), idempotency=claim("k1")) == thread
    finally:
        await store.close()


async def test_sqlite_full_disk_fails_ping_and_writes_then_recovers(tmp_path: Path) -> None:
    with small_disk(tmp_path / "disk") as disk:
        store = await SqliteStore.open(disk / "t.db")
        try:
            thread = make_thread()
            await store.create_thread(thread)
            with filled(disk):
                with pytest.raises(Unavailable):
                    await store.ping()
                with pytest.raises(Unavailable):
                    await store.create_thread(
                        make_thread(), [make_message(thread, "x" * 4000) for _ in range(4)]
                    )
                assert await store.get_thread(thread.id) == thread
            await store.ping()
            again = make_thread()
            assert await store.create_thread(again) == again
        finally:
            await store.close()


async def test_sqlite_programming_errors_are_not_outages(tmp_path: Path) -> None:
    store = await SqliteStore.open(tmp_path / "t.db")
    try:
        with pytest.raises(sqlite3.OperationalError, match="no such table"):
            await store._write(lambda conn: conn.execute("SELECT * FROM no_such_table"))
        with pytest.raises(sqlite3.OperationalError, match="no such table"):
            store._db.execute("SELECT * FROM no_such_table")
    finally:
        await store.close()

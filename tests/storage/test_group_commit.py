"""The SQLite writer commits concurrent writes together, and keeps them apart when one fails."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import NoReturn

import pytest

from adapters.storage.group_commit import GroupCommitWriter, WriterClosed
from core.errors import Unavailable


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "w.db"
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT NOT NULL)")
    conn.close()
    yield path


def writer_for(path: Path) -> GroupCommitWriter:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("PRAGMA busy_timeout = 0")  # as SqliteStore sets it: the writer waits itself
    return GroupCommitWriter(conn)


def insert(k: int, v: str = "x") -> Callable[[sqlite3.Connection], int]:
    def run(conn: sqlite3.Connection) -> int:
        conn.execute("INSERT INTO t (k, v) VALUES (?, ?)", (k, v))
        return k

    return run


def committed(path: Path) -> dict[int, str]:
    """What another connection (another process, after a crash) sees."""
    conn = sqlite3.connect(path)
    try:
        return dict(conn.execute("SELECT k, v FROM t"))
    finally:
        conn.close()


async def test_concurrent_writes_share_transactions_and_are_all_committed(db: Path) -> None:
    writer = writer_for(db)
    try:
        results = await asyncio.gather(*(writer.submit(insert(k)) for k in range(200)))
        assert results == list(range(200))
        assert committed(db) == dict.fromkeys(range(200), "x")
        # 200 writes submitted at once cannot each have had a transaction of their own
        assert writer.writes == 200
        assert writer.batches < 200
    finally:
        writer.close()


async def test_a_failing_write_is_rolled_back_alone(db: Path) -> None:
    writer = writer_for(db)

    def half_then_fail(conn: sqlite3.Connection) -> None:
        conn.execute("INSERT INTO t (k, v) VALUES (1000, 'partial')")
        raise ValueError("refused")

    try:
        outcomes = await asyncio.gather(
            writer.submit(insert(1)),
            writer.submit(half_then_fail),
            writer.submit(insert(1, "duplicate")),  # primary key clash
            writer.submit(insert(2)),
            return_exceptions=True,
        )
        assert outcomes[0] == 1 and outcomes[3] == 2
        assert isinstance(outcomes[1], ValueError)
        assert isinstance(outcomes[2], sqlite3.IntegrityError)
        assert committed(db) == {1: "x", 2: "x"}
    finally:
        writer.close()


async def test_a_lone_failing_write_changes_nothing(db: Path) -> None:
    writer = writer_for(db)

    def fail(conn: sqlite3.Connection) -> None:
        conn.execute("INSERT INTO t (k, v) VALUES (7, 'partial')")
        raise ValueError("refused")

    try:
        with pytest.raises(ValueError):
            await writer.submit(fail)
        assert await writer.submit(insert(8)) == 8
        assert committed(db) == {8: "x"}
    finally:
        writer.close()


async def test_a_batch_that_cannot_lock_fails_every_write_in_it(db: Path) -> None:
    writer = writer_for(db)
    blocker = sqlite3.connect(db, isolation_level=None)
    writer.lock_timeout = 0.05
    try:
        blocker.execute("BEGIN IMMEDIATE")  # another process holds the write lock
        outcomes = await asyncio.gather(*(writer.submit(insert(k)) for k in range(3)), return_exceptions=True)
        # a store outage, safe to retry: nothing was sent to be committed
        for o in outcomes:
            assert isinstance(o, Unavailable) and o.retry_safe, outcomes
            assert isinstance(o.__cause__, sqlite3.OperationalError)
        blocker.execute("ROLLBACK")
        assert committed(db) == {}
        assert await writer.submit(insert(9)) == 9  # the writer carries on
    finally:
        blocker.close()
        writer.close()


async def test_close_finishes_queued_writes_then_refuses_more(db: Path) -> None:
    writer = writer_for(db)
    pending = [writer.submit(insert(k)) for k in range(50)]
    await asyncio.to_thread(writer.close)
    assert await asyncio.gather(*pending) == list(range(50))
    with pytest.raises(WriterClosed):
        writer.submit(insert(99))
    assert len(committed(db)) == 50


async def test_a_cancelled_caller_does_not_undo_its_write(db: Path) -> None:
    writer = writer_for(db)
    try:
        gate = asyncio.Event()

        async def caller() -> None:
            await writer.submit(insert(5))
            gate.set()

        task = asyncio.create_task(caller())
        await asyncio.sleep(0)
        task.cancel()
        await writer.submit(insert(6))  # queued after 5: once it is answered, 5 is committed
        assert committed(db) == {5: "x", 6: "x"}
        assert not gate.is_set()
    finally:
        writer.close()


async def test_writes_queued_behind_a_busy_writer_commit_as_one_batch(db: Path) -> None:
    """While one transaction runs, later writes queue; they then commit together, and a
    refused one among them leaves the rest standing."""
    writer = writer_for(db)
    release = threading.Event()
    started = threading.Event()

    def slow(conn: sqlite3.Connection) -> int:
        started.set()  # the writer has taken the first write and runs it
        release.wait(5)
        conn.execute("INSERT INTO t (k, v) VALUES (0, 'first')")
        return 0

    def refuse(conn: sqlite3.Connection) -> NoReturn:
        conn.execute("INSERT INTO t (k, v) VALUES (500, 'partial')")
        raise ValueError("refused")

    try:
        first = writer.submit(slow)
        assert await asyncio.to_thread(started.wait, 5)
        queued = [writer.submit(insert(k)) for k in range(1, 6)]
        queued.insert(2, writer.submit(refuse))
        release.set()
        assert await first == 0
        outcomes = await asyncio.gather(*queued, return_exceptions=True)
        assert [o for o in outcomes if not isinstance(o, Exception)] == [1, 2, 3, 4, 5]
        assert isinstance(outcomes[2], ValueError)
        assert committed(db) == {0: "first", 1: "x", 2: "x", 3: "x", 4: "x", 5: "x"}
        assert writer.batches == 2  # the first write alone, then the six queued behind it
    finally:
        writer.close()


async def test_writes_made_in_one_loop_turn_share_one_transaction(db: Path) -> None:
    """An idle writer is woken at the end of the turn, so it finds every write of that
    turn queued (where fsync is quick, waking it per write would commit each alone)."""
    writer = writer_for(db)
    try:
        futures = [writer.submit(insert(k)) for k in range(10)]  # no await in between
        assert await asyncio.gather(*futures) == list(range(10))
        assert writer.batches == 1 and writer.writes == 10
        assert await writer.submit(insert(10)) == 10  # a lone write still commits at once
        assert writer.batches == 2
    finally:
        writer.close()


async def test_the_writer_waits_for_another_processs_lock(db: Path) -> None:
    writer = writer_for(db)
    blocker = sqlite3.connect(db, isolation_level=None, check_same_thread=False)
    try:
        blocker.execute("BEGIN IMMEDIATE")
        pending = writer.submit(insert(1))
        await asyncio.sleep(0.03)
        assert not pending.done()
        blocker.execute("ROLLBACK")  # the other process is done: the write goes through
        assert await asyncio.wait_for(pending, 5) == 1
        assert committed(db) == {1: "x"}
    finally:
        blocker.close()
        writer.close()

"""PostgreSQL-only behaviour: migrations, reconnects, timeouts, and several processes at once.

The contract suite (test_contract.py) runs against PostgreSQL too; these tests
cover what only a shared database server has: many writers in separate
processes, a server that restarts, replicas that start together.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path

import asyncpg
import pytest
from attrs import evolve

from adapters.storage.postgres import PostgresStore
from adapters.storage.postgres_schema import MIGRATIONS
from adapters.storage.rows import SchemaTooNew
from core.errors import NotFound, Unavailable
from core.model import Message, Thread
from core.ports import IdempotencyClaim
from testkit.postgres import PgServer
from tests.factories import T0, make_message, make_thread, text_of

ROOT = Path(__file__).resolve().parents[2]


@asynccontextmanager
async def stores(dsn: str, n: int, **options: int) -> AsyncIterator[list[PostgresStore]]:
    """``n`` separate stores (each its own pool), as ``n`` threadgate processes would have."""
    opened = await asyncio.gather(*(PostgresStore.open(dsn, **options) for _ in range(n)))
    try:
        yield list(opened)
    finally:
        await asyncio.gather(*(s.close() for s in opened))


async def sql(dsn: str, query: str, *args: object) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(dsn)
    try:
        return list(await conn.fetch(query, *args))
    finally:
        await conn.close()


def appending(messages: list[Message]) -> Callable[[Thread], tuple[Thread, list[Message]]]:
    return lambda thread: (thread, messages)


# -- migrations -----------------------------------------------------------------------


async def test_replicas_starting_together_migrate_exactly_once(pg_dsn: str) -> None:
    async with stores(pg_dsn, 5) as opened:
        rows = await sql(pg_dsn, "SELECT version FROM schema_version ORDER BY version")
        assert [r[0] for r in rows] == list(range(1, len(MIGRATIONS) + 1))
        thread = make_thread()
        await opened[0].create_thread(thread)
        assert await opened[4].get_thread(thread.id) == thread


async def test_reopening_keeps_data_and_applies_nothing(pg_dsn: str) -> None:
    thread = make_thread()
    async with stores(pg_dsn, 1) as (first,):
        await first.create_thread(thread)
    async with stores(pg_dsn, 1) as (again,):
        assert await again.get_thread(thread.id) == thread
    rows = await sql(pg_dsn, "SELECT count(*) FROM schema_version")
    assert rows[0][0] == len(MIGRATIONS)


async def test_a_database_newer_than_the_code_is_refused(pg_dsn: str) -> None:
    async with stores(pg_dsn, 1):
        pass
    await sql(pg_dsn, "INSERT INTO schema_version (version) VALUES ($1)", len(MIGRATIONS) + 1)
    with pytest.raises(SchemaTooNew, match="newer than this threadgate"):
        await PostgresStore.open(pg_dsn)


# -- the pool ---------------------------------------------------------------------------


async def test_statement_timeout_is_set_on_every_pooled_connection(pg_dsn: str) -> None:
    async with stores(pg_dsn, 1, min_size=3, max_size=3, statement_timeout_ms=300) as (store,):
        pool = store._pool
        conns = [await pool.acquire() for _ in range(3)]
        try:
            assert [await c.fetchval("SHOW statement_timeout") for c in conns] == ["300ms"] * 3
        finally:
            for c in conns:
                await pool.release(c)
        started = time.monotonic()
        with pytest.raises(asyncpg.QueryCanceledError):
            await pool.execute("SELECT pg_sleep(5)")
        assert time.monotonic() - started < 2.5
        await store.ping()  # the connection is still usable


async def test_the_pool_recovers_after_a_server_restart(pg: PgServer, pg_dsn: str) -> None:
    async with stores(pg_dsn, 1, min_size=2, max_size=4) as (store,):
        thread = make_thread()
        await store.create_thread(thread)
        # several connections in the pool, all of which the restart will cut
        await asyncio.gather(*(store.get_thread(thread.id) for _ in range(8)))
        await asyncio.to_thread(pg.restart)
        failures = 0
        for _ in range(3):
            try:
                assert await store.get_thread(thread.id) == thread
            except Unavailable:
                failures += 1
        assert failures <= 1
        # and every later call works, on every connection the pool makes
        results = await asyncio.gather(*(store.get_thread(thread.id) for _ in range(8)))
        assert results == [thread] * 8
        m = make_message(thread, "after the restart")
        assert await store.append_messages(thread.id, appending([m]), max_messages=10) == [m]


async def test_calls_fail_while_the_server_is_down_and_work_once_it_is_back(
    pg: PgServer, pg_dsn: str
) -> None:
    async with stores(pg_dsn, 1, min_size=1, max_size=2) as (store,):
        await store.ping()
        await asyncio.to_thread(pg.stop)
        try:
            with pytest.raises(Unavailable):
                await store.ping()
            with pytest.raises(Unavailable):
                await store.ping()
        finally:
            await asyncio.to_thread(pg.start)
        await store.ping()
        thread = make_thread()
        await store.create_thread(thread)
        assert await store.get_thread(thread.id) == thread


# -- many writers -------------------------------------------------------------------------

# One writer process: appends BATCHES batches of BATCH messages to one thread.
WRITER = """
import asyncio, sys
from datetime import UTC, datetime
from adapters.storage.postgres import PostgresStore
from core.model import Author, Message, Role, TextPart

dsn, thread_id, writer = sys.argv[1:4]
batches, batch = int(sys.argv[4]), int(sys.argv[5])

async def main():
    store = await PostgresStore.open(dsn, max_size=2)
    try:
        for b in range(batches):
            msgs = [
                Message(
                    id=f"msg_{writer}_{b:03d}_{i}",
                    thread_id=thread_id,
                    created_by="subject-1",
                    created_at=datetime(2026, 1, 2, tzinfo=UTC),
                    author=Author(id="user", role=Role.USER),
                    content=(TextPart(text=f"{writer}:{b:03d}:{i}"),),
                )
                for i in range(batch)
            ]
            added = await store.append_messages(thread_id, lambda t: (t, msgs), max_messages=100000)
            assert added == msgs, added
    finally:
        await store.close()

asyncio.run(main())
"""


async def test_appends_from_several_processes_get_one_gap_free_order(pg_dsn: str) -> None:
    writers, batches, batch = 4, 25, 3
    async with stores(pg_dsn, 1) as (store,):
        thread = make_thread()
        await store.create_thread(thread)
        procs = [
            await asyncio.create_subprocess_exec(
                sys.executable,
                "-c",
                WRITER,
                pg_dsn,
                thread.id,
                f"w{w}",
                str(batches),
                str(batch),
                cwd=ROOT,
                stderr=asyncio.subprocess.PIPE,
            )
            for w in range(writers)
        ]
        outcomes = [await asyncio.wait_for(p.communicate(), 120) for p in procs]
        for p, (_, err) in zip(procs, outcomes, strict=True):
            assert p.returncode == 0, err.decode()

        total = writers * batches * batch
        page = await store.list_messages(thread.id, order="asc", limit=total + 10)
        assert page is not None and not page.has_more
        texts = [text_of(m) for m in page.messages]
        assert len(texts) == total
        seqs = await sql(pg_dsn, "SELECT seq FROM messages WHERE thread_id = $1 ORDER BY seq", thread.id)
        assert [r[0] for r in seqs] == list(range(1, total + 1))
        counters = await sql(pg_dsn, "SELECT next_seq, message_count FROM threads WHERE id = $1", thread.id)
        assert tuple(counters[0]) == (total + 1, total)
        for w in range(writers):
            own = [t for t in texts if t.startswith(f"w{w}:")]
            expected = [f"w{w}:{b:03d}:{i}" for b in range(batches) for i in range(batch)]
            assert own == expected  # each writer's messages in its own order
        for b_start in range(0, total, batch):  # batches are never interleaved
            assert len({t.rsplit(":", 1)[0] for t in texts[b_start : b_start + batch]}) == 1


async def test_concurrent_updates_from_separate_stores_lose_nothing(pg_dsn: str) -> None:
    thread = make_thread(labels={"n": "0"})

    def bump(t: Thread) -> Thread:
        return evolve(t, labels={"n": str(int(t.labels["n"]) + 1)})

    async with stores(pg_dsn, 4, max_size=3) as opened:
        await opened[0].create_thread(thread)

        async def worker(s: PostgresStore) -> None:
            for _ in range(15):
                await s.update_thread(thread.id, bump)

        await asyncio.gather(*(worker(s) for s in opened for _ in range(2)))
        final = await opened[0].get_thread(thread.id)
        assert final is not None and final.labels == {"n": str(4 * 2 * 15)}


async def _race_delete_with_appends(opened: list[PostgresStore]) -> None:
    thread = make_thread()
    await opened[0].create_thread(thread, [make_message(thread, "first")])
    deleted = asyncio.Event()
    late: list[Message] = []

    async def appender(s: PostgresStore) -> None:
        for i in range(30):
            was_deleted = deleted.is_set()
            m = make_message(thread, str(i))
            got = await s.append_messages(thread.id, appending([m]), max_messages=10_000)
            if got is None:
                return
            if was_deleted:
                late.append(m)
            await asyncio.sleep(0)

    async def deleter() -> None:
        await asyncio.sleep(0.02)
        assert await opened[-1].delete_thread(thread.id) is True
        deleted.set()

    await asyncio.gather(*(appender(s) for s in opened[:-1] for _ in range(3)), deleter())
    assert late == []  # once the delete has returned, no append finds the thread
    assert await opened[0].get_thread(thread.id) is None


async def test_a_delete_racing_appends_leaves_no_message_without_its_thread(pg_dsn: str) -> None:
    async with stores(pg_dsn, 3, max_size=4) as opened:
        for _ in range(5):
            await _race_delete_with_appends(opened)
        for table in ("messages", "message_tombstones"):
            orphans = await sql(
                pg_dsn,
                f"SELECT count(*) FROM {table} m "
                "WHERE NOT EXISTS (SELECT 1 FROM threads t WHERE t.id = m.thread_id)",
            )
            assert orphans[0][0] == 0, table


async def test_deletes_of_messages_racing_a_thread_delete_do_not_deadlock(pg_dsn: str) -> None:
    async with stores(pg_dsn, 2, max_size=6) as (a, b):
        for _ in range(5):
            thread = make_thread()
            msgs = [make_message(thread, str(i)) for i in range(20)]
            await a.create_thread(thread, msgs)
            results = await asyncio.gather(
                *(a.delete_message(thread.id, m.id) for m in msgs[:10]),
                b.delete_thread(thread.id),
                *(b.delete_message(thread.id, m.id) for m in msgs[10:]),
            )
            assert results[10] is True
            assert await a.list_messages(thread.id, order="asc", limit=100) is None


def _claim(key: str, fingerprint: str = "fp") -> IdempotencyClaim:
    return IdempotencyClaim("sub:create", key, fingerprint, T0, T0 - timedelta(hours=1))


async def test_identical_creates_racing_in_separate_stores_make_one_thread(pg_dsn: str) -> None:
    async with stores(pg_dsn, 5) as opened:
        candidates = [make_thread() for _ in opened]
        results = await asyncio.gather(
            *(
                s.create_thread(t, [make_message(t, "hello")], _claim("same-key"))
                for s, t in zip(opened, candidates, strict=True)
            )
        )
        assert len({r.id for r in results}) == 1
        assert results[0] in candidates
        listed = await opened[0].list_threads("folder-a", alive_at=T0, limit=10, after=None)
        assert listed == [results[0]]
        counts = await sql(pg_dsn, "SELECT count(*) FROM messages")
        assert counts[0][0] == 1


async def test_identical_appends_racing_in_separate_stores_append_once(pg_dsn: str) -> None:
    async with stores(pg_dsn, 5) as opened:
        thread = make_thread()
        await opened[0].create_thread(thread)
        batches = [[make_message(thread, f"try {i}")] for i in range(len(opened))]
        results = await asyncio.gather(
            *(
                s.append_messages(thread.id, appending(b), max_messages=100, idempotency=_claim("append-key"))
                for s, b in zip(opened, batches, strict=True)
            )
        )
        assert all(r == results[0] for r in results)
        assert results[0] in batches
        page = await opened[0].list_messages(thread.id, order="asc", limit=10)
        assert page is not None and page.messages == results[0]


async def test_a_failing_append_changes_nothing(pg_dsn: str) -> None:
    async with stores(pg_dsn, 1) as (store,):
        thread = make_thread()
        await store.create_thread(thread, [make_message(thread, "a")])

        def boom(t: Thread) -> tuple[Thread, list[Message]]:
            raise NotFound("thread", t.id)

        with pytest.raises(NotFound):
            await store.append_messages(thread.id, boom, max_messages=10, idempotency=_claim("k"))
        rows = await sql(pg_dsn, "SELECT next_seq, message_count FROM threads")
        assert tuple(rows[0]) == (2, 1)
        assert (await sql(pg_dsn, "SELECT count(*) FROM idempotency"))[0][0] == 0


async def test_sweepers_in_several_processes_share_the_work(pg_dsn: str) -> None:
    async with stores(pg_dsn, 3) as opened:
        expired = [make_thread(ttl_days=1) for _ in range(40)]
        alive = [make_thread(ttl_days=9) for _ in range(5)]
        for t in expired + alive:
            await opened[0].create_thread(t, [make_message(t, "x"), make_message(t, "y")])
        now = T0 + timedelta(days=2)

        async def sweep(s: PostgresStore) -> tuple[int, int]:
            threads = messages = 0
            while True:
                r = await s.delete_expired(now, max_rows=7)
                threads += r.threads
                messages += r.messages
                if not r.more:
                    return threads, messages

        totals = await asyncio.gather(*(sweep(s) for s in opened))
        assert sum(t for t, _ in totals) == 40 and sum(m for _, m in totals) == 80
        left = await opened[0].list_threads("folder-a", alive_at=now, limit=100, after=None)
        assert sorted(t.id for t in left) == sorted(t.id for t in alive)
        assert (await sql(pg_dsn, "SELECT count(*) FROM messages"))[0][0] == 10

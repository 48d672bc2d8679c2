"""The transfer port (``core.transfer``) on PostgreSQL.

A snapshot is one ``REPEATABLE READ READ ONLY`` transaction on one pooled
connection: every page sees the state of its first statement while other
processes keep writing.  An import batch is one READ COMMITTED transaction that
locks the thread row first (``FOR UPDATE``), as every writer of ``postgres.py`` does.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from adapters.storage.postgres_schema import MIGRATIONS
from adapters.storage.rows import (
    THREAD_COLUMNS,
    message_from_row,
    message_to_row,
    require_version,
    thread_from_row,
    thread_to_row,
)
from adapters.storage.transfer_sql import ENTRIES_PAGE, REWRITE_ENTRY, counts, numbered, threads_page
from core.model import Entry, Thread
from core.transfer import EVERYTHING, BatchResult, Snapshot, ThreadFilter

_NAMES = [c.strip() for c in THREAD_COLUMNS.split(",")]
_INSERT_THREAD = (
    f"INSERT INTO threads ({THREAD_COLUMNS}, next_seq, message_count) "
    f"VALUES ({', '.join(f'${i}' for i in range(1, 19))})"
)
_UPDATE_THREAD = "UPDATE threads SET " + ", ".join(f"{c} = ${i}" for i, c in enumerate(_NAMES[1:], 2))
_ENTRIES_PAGE = numbered(ENTRIES_PAGE)
_REWRITE_ENTRY = numbered(REWRITE_ENTRY)


class PostgresSnapshot:
    def __init__(self, conn: Any, where: ThreadFilter) -> None:
        self._conn = conn
        self._where = where

    async def threads(self, after: str | None, limit: int) -> list[Thread]:
        sql, args = threads_page(self._where, after, limit)
        rows = await self._conn.fetch(numbered(sql), *args)
        return [thread_from_row(tuple(r)) for r in rows]

    async def counts(self) -> tuple[int, int]:
        sql, args = counts(self._where)
        found = await self._conn.fetchrow(numbered(sql), *args)
        return int(found[0]), int(found[1])

    async def entries(self, thread_id: str, after: int, limit: int) -> list[tuple[int, Entry]]:
        rows = await self._conn.fetch(_ENTRIES_PAGE, thread_id, after, limit)
        return [(int(r[0]), message_from_row(tuple(r)[1:])) for r in rows]


@asynccontextmanager
async def postgres_snapshot(pool: Any, where: ThreadFilter, timeout: float) -> AsyncIterator[Snapshot]:
    async with (
        pool.acquire(timeout=timeout) as conn,
        conn.transaction(isolation="repeatable_read", readonly=True),
    ):
        yield PostgresSnapshot(conn, where)


async def import_batch(
    pool: Any, thread: Thread, entries: Sequence[Entry], timeout: float, overwrite: bool = False
) -> BatchResult:
    values = thread_to_row(thread)
    async with pool.acquire(timeout=timeout) as conn, conn.transaction():
        row = await conn.fetchrow(
            "SELECT updated_us, next_seq, message_count FROM threads WHERE id = $1 FOR UPDATE", thread.id
        )
        if row is None:
            # ON CONFLICT: a concurrent import of the same thread made it first; take its lock
            await conn.execute(_INSERT_THREAD + " ON CONFLICT (id) DO NOTHING", *values, 1, 0)
            row = await conn.fetchrow(
                "SELECT updated_us, next_seq, message_count FROM threads WHERE id = $1 FOR UPDATE", thread.id
            )
            written = True
        else:
            written = overwrite or int(row[0]) <= values[8]  # updated_us
            if written:
                await conn.execute(_UPDATE_THREAD + " WHERE id = $1", *values)
        next_seq, count = int(row[1]), int(row[2])
        held = {
            r[0]
            for r in await conn.fetch(
                "SELECT id FROM messages WHERE thread_id = $1 AND id = ANY($2::text[])",
                thread.id,
                [e.id for e in entries],
            )
        }
        rows, rewrites = [], []
        for e in entries:
            if e.id not in held:
                held.add(e.id)
                rows.append(message_to_row(e))
            elif overwrite:  # otherwise an entry already stored is kept as it is
                r = message_to_row(e)
                rewrites.append((r[2], r[3], r[4], r[5], thread.id, e.id))
        if rewrites:
            await conn.executemany(_REWRITE_ENTRY, rewrites)
        if rows:
            await conn.executemany(
                "INSERT INTO messages (thread_id, seq, id, created_us, run_id, body, plain) "
                "VALUES ($1, $2, $3, $4, $5, $6, $7)",
                [(thread.id, next_seq + i, r[0], r[2], r[3], r[4], r[5]) for i, r in enumerate(rows)],
            )
            await conn.execute(
                "UPDATE threads SET next_seq = $2, message_count = $3 WHERE id = $1",
                thread.id,
                next_seq + len(rows),
                count + len(rows),
            )
        return BatchResult(written, len(rows), len(rewrites))


class ReadOnlyPostgres:
    """Snapshots of a PostgreSQL store on one connection that never migrates or writes:
    what ``threadgate export`` reads, so it runs on a hot standby as well."""

    def __init__(self, pool: Any, timeout: float) -> None:
        self._pool = pool
        self._timeout = timeout

    @classmethod
    async def open(cls, dsn: str, *, connect_timeout: float, query_timeout: float) -> ReadOnlyPostgres:
        import asyncpg

        pool = await asyncpg.create_pool(
            dsn,
            min_size=1,
            max_size=1,
            timeout=connect_timeout,
            command_timeout=query_timeout,
            server_settings={"application_name": "threadgate export", "default_transaction_read_only": "on"},
        )
        try:
            async with pool.acquire(timeout=connect_timeout) as conn:
                exists = await conn.fetchval("SELECT to_regclass('schema_version') IS NOT NULL")
                found = (
                    int(await conn.fetchval("SELECT max(version) FROM schema_version") or 0) if exists else 0
                )
            require_version(found, len(MIGRATIONS), "the database")
        except BaseException:
            pool.terminate()
            raise
        return cls(pool, connect_timeout)

    def snapshot(self, where: ThreadFilter = EVERYTHING) -> AbstractAsyncContextManager[Snapshot]:
        return postgres_snapshot(self._pool, where, self._timeout)

    async def close(self) -> None:
        await self._pool.close()

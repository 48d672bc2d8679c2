"""PostgreSQL outages: driver errors become ``Unavailable``, and say when a retry is safe.

A server that is down, frozen (SIGSTOP), read-only, or holds a lock past the statement
timeout makes the store raise ``core.errors.Unavailable`` within its client-side
timeouts; ``retry_safe`` is False only when a write may have committed and carried no
idempotency key.  Programming errors stay what they are.  ``ping`` checks that the
store can write, and the store recovers without being reopened.
"""

from __future__ import annotations

import asyncio
import socket
import time
from datetime import timedelta

import asyncpg
import pytest

from adapters.storage.postgres import PostgresStore
from core.errors import Unavailable
from core.ports import IdempotencyClaim
from testkit.postgres import PgServer
from tests.factories import T0, make_thread


def claim(key: str) -> IdempotencyClaim:
    return IdempotencyClaim("subject/create_thread", key, "fp", T0, T0 - timedelta(hours=1))


# -- PostgreSQL -------------------------------------------------------------------------


async def test_postgres_frozen_server_is_unavailable_within_the_timeouts_then_recovers(
    pg: PgServer, pg_dsn: str
) -> None:
    # two pooled connections, both open and idle when the server freezes
    store = await PostgresStore.open(pg_dsn, min_size=2, max_size=2, acquire_timeout_s=1, query_timeout_s=1)
    try:
        thread = make_thread()
        await store.create_thread(thread)
        with pg.frozen():
            started = time.monotonic()
            with pytest.raises(Unavailable) as write:
                # one statement that commits by itself: sent, never answered, outcome unknown
                await store.create_thread(make_thread())
            assert not write.value.retry_safe
            assert time.monotonic() - started < 10  # 1 s timeouts; a generous margin
            with pytest.raises(Unavailable) as keyed:
                await store.create_thread(make_thread(), idempotency=claim("frozen"))
            assert keyed.value.retry_safe  # stuck at BEGIN, and it carries a key anyway
            # both connections were dropped; a new one cannot be made: the acquire times out
            with pytest.raises(Unavailable) as read:
                await store.get_thread(thread.id)
            assert read.value.retry_safe
            with pytest.raises(Unavailable):
                await store.ping()
            assert time.monotonic() - started < 40
        # no broken connection is handed out again: the pool works at once
        for _ in range(3):
            assert await store.get_thread(thread.id) == thread
        await store.ping()
        again = make_thread()
        assert await store.create_thread(again) == again
    finally:
        await store.close()


async def test_postgres_stopped_server_is_unavailable_then_recovers(pg: PgServer, pg_dsn: str) -> None:
    store = await PostgresStore.open(pg_dsn, min_size=1, max_size=2, acquire_timeout_s=2, query_timeout_s=2)
    try:
        thread = make_thread()
        await store.create_thread(thread)
        await asyncio.to_thread(pg.stop)
        try:
            for _ in range(3):
                with pytest.raises(Unavailable) as info:
                    await store.get_thread(thread.id)
                assert info.value.retry_safe
            with pytest.raises(Unavailable) as write:
                await store.create_thread(make_thread())
            # refused before anything was sent: no connection could be made
            assert write.value.retry_safe
        finally:
            await asyncio.to_thread(pg.start)
        await store.ping()
        assert await store.get_thread(thread.id) == thread
    finally:
        await store.close()


async def test_postgres_unreachable_at_open_is_unavailable() -> None:
    with socket.socket() as s:  # a local port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(Unavailable):
        await PostgresStore.open(f"postgresql://postgres@127.0.0.1:{port}/threadgate", connect_timeout_s=5)


async def test_postgres_lock_wait_past_the_statement_timeout_is_unavailable(pg_dsn: str) -> None:
    store = await PostgresStore.open(pg_dsn, statement_timeout_ms=300)
    try:
        thread = make_thread()
        await store.create_thread(thread)
        holder = await asyncpg.connect(pg_dsn)
        try:
            tx = holder.transaction()
            await tx.start()
            await holder.execute("SELECT 1 FROM threads WHERE id = $1 FOR UPDATE", thread.id)
            with pytest.raises(Unavailable) as info:
                await store.update_thread(thread.id, lambda t: t)
            assert info.value.retry_safe  # the server cancelled the statement: nothing committed
            assert isinstance(info.value.__cause__, asyncpg.QueryCanceledError)
            await tx.rollback()
        finally:
            await holder.close()
        assert await store.update_thread(thread.id, lambda t: t) == thread
    finally:
        await store.close()


async def test_postgres_read_only_database_fails_ping_and_writes(pg_dsn: str) -> None:
    admin = await asyncpg.connect(pg_dsn)
    store = await PostgresStore.open(pg_dsn)
    try:
        await admin.execute("ALTER DATABASE threadgate SET default_transaction_read_only = on")
        await store._pool.expire_connections()  # new sessions are read-only, as on a standby
        thread = make_thread()
        assert await store.get_thread(thread.id) is None  # reads work
        with pytest.raises(Unavailable):
            await store.ping()
        with pytest.raises(Unavailable) as info:
            await store.create_thread(thread)
        assert info.value.retry_safe  # refused by the server: nothing committed
        with pytest.raises(Unavailable):
            await PostgresStore.open(pg_dsn)  # the migration cannot write either
    finally:
        await admin.execute("ALTER DATABASE threadgate SET default_transaction_read_only = off")
        await admin.close()
        await store.close()


async def test_postgres_programming_errors_are_not_outages(pg_dsn: str) -> None:
    store = await PostgresStore.open(pg_dsn)
    try:
        thread = make_thread()
        await store.create_thread(thread)
        with pytest.raises(asyncpg.UniqueViolationError):
            await store.create_thread(thread)
        await store.ping()
    finally:
        await store.close()

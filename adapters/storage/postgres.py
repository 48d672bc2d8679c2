"""PostgreSQL ThreadStore: one database shared by any number of threadgate processes.

Built on asyncpg's connection pool.  Every write is one transaction under READ
COMMITTED; what must not interleave is serialised by row locks, always taken
thread row first, then message rows (so two transactions never wait on each
other in a cycle):

* a thread's messages get their ``seq`` from ``threads.next_seq``, read and
  advanced under the thread row's lock (``SELECT ... FOR UPDATE``) in the
  transaction that inserts them: appends from every process form one total order;
* ``update_thread`` and ``update_message`` read, change and write a row under its lock;
* ``delete_thread`` deletes the thread row (waiting for an append that holds its
  lock) and only then, in later statements that see that append, its messages;
* the expiry sweep locks the expired threads it takes with ``SKIP LOCKED``, so
  sweepers in several processes share the work instead of queueing;
* an idempotency claim is written (``INSERT ... ON CONFLICT``) in the transaction
  that does the work, so of two identical requests racing, one does it and the
  other waits for it and returns its result.

The session's ``statement_timeout`` is set for every pooled connection when it
connects, and the client bounds every wait itself (``postgres_guard``): a frozen or
unreachable server fails a call with ``Unavailable`` within the acquire and query
timeouts.  A connection that timed out or broke is terminated; the pool makes a new
one when it is next needed.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import Any

import asyncpg
import orjson

from adapters.storage.postgres_guard import Guard, classify, unavailable
from adapters.storage.postgres_schema import migrate
from adapters.storage.postgres_transfer import import_batch, postgres_snapshot
from adapters.storage.rows import (
    KEY_COLUMNS,
    MESSAGE_COLUMNS,
    THREAD_COLUMNS,
    dumps,
    key_from_row,
    key_to_row,
    message_from_row,
    message_to_row,
    thread_from_row,
    thread_to_row,
    to_us,
)
from core.access import ApiKey
from core.errors import NotFound
from core.model import Entry, Thread
from core.ports import (
    IdempotencyClaim,
    MessageAppend,
    MessagePage,
    Order,
    SweepResult,
    ThreadChange,
    ThreadPosition,
    duplicate_id,
    key_reused,
    thread_full,
    unknown_cursor,
)
from core.transfer import EVERYTHING, BatchResult, Snapshot, ThreadFilter

_THREAD_COLUMN_NAMES = [c.strip() for c in THREAD_COLUMNS.split(",")]
_N = len(_THREAD_COLUMN_NAMES)  # 16; thread_to_row's order, id first


def _params(first: int, count: int) -> str:
    return ", ".join(f"${i}" for i in range(first, first + count))


_SELECT_THREAD = f"SELECT {THREAD_COLUMNS} FROM threads WHERE id = $1"
_LOCK_THREAD = f"SELECT {THREAD_COLUMNS}, next_seq, message_count FROM threads WHERE id = $1 FOR UPDATE"
# $1..$16: thread_to_row
_UPDATE_THREAD = "UPDATE threads SET " + ", ".join(
    f"{c} = ${i}" for i, c in enumerate(_THREAD_COLUMN_NAMES[1:], start=2)
)
_INSERT_KEY = f"INSERT INTO api_keys ({KEY_COLUMNS}) VALUES ({_params(1, 9)})"
_SELECT_MESSAGE = f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE id = $1 AND thread_id = $2"


def _insert_messages(first: int) -> str:
    """Insert rows given as seven arrays (see ``_message_arrays``) starting at parameter ``first``."""
    p = [f"${i}" for i in range(first, first + 7)]
    return (
        "INSERT INTO messages (thread_id, seq, id, created_us, run_id, body, plain) "
        "SELECT u.thread_id, u.seq, u.id, u.created_us, u.run_id, u.body, u.plain FROM unnest("
        f"{p[0]}::text[], {p[1]}::bigint[], {p[2]}::text[], {p[3]}::bigint[], {p[4]}::text[], "
        f"{p[5]}::text[], {p[6]}::boolean[]) AS u(thread_id, seq, id, created_us, run_id, body, plain)"
    )


_TAKEN_ID = re.compile(r"Key \(thread_id, id\)=\(.*?, (.*)\) already exists")


@contextlib.contextmanager
def _unique_ids() -> Iterator[None]:
    """An entry id a client chose may be taken: that is ``duplicate_id``, not a crash."""
    try:
        yield
    except asyncpg.UniqueViolationError as exc:
        if exc.constraint_name != "messages_by_thread_id":
            raise
        found = _TAKEN_ID.search(exc.detail or "")
        raise duplicate_id(found.group(1) if found else "") from None


# $1..$16: thread_to_row, $17 next_seq, $18 message_count, $19..$25: the messages
_CREATE_THREAD = (
    f"WITH t AS (INSERT INTO threads ({THREAD_COLUMNS}, next_seq, message_count) VALUES ({_params(1, 18)})) "
    + _insert_messages(19)
)
# $1..$16: thread_to_row, $17 next_seq, $18 message_count, $19..$25: the messages
_APPEND = (
    f"WITH t AS ({_UPDATE_THREAD}, next_seq = $17, message_count = $18 WHERE id = $1) " + _insert_messages(19)
)
# as _APPEND, and $26 scope, $27 key, $28 result: the claim's result
_APPEND_CLAIMED = (
    f"WITH t AS ({_UPDATE_THREAD}, next_seq = $17, message_count = $18 WHERE id = $1), "
    "c AS (UPDATE idempotency SET result = $28 WHERE scope = $26 AND key = $27) " + _insert_messages(19)
)
# Claims the key unless a record in the window holds it: a row comes back when it is
# ours.  A concurrent claim of the same key waits here until the first commits.
_CLAIM = (
    "INSERT INTO idempotency (scope, key, fingerprint, created_us, result) VALUES ($1, $2, $3, $4, $5) "
    "ON CONFLICT (scope, key) DO UPDATE SET fingerprint = EXCLUDED.fingerprint, "
    "created_us = EXCLUDED.created_us, result = EXCLUDED.result WHERE idempotency.created_us < $6 "
    "RETURNING 1"
)


# a write that a read-only transaction (a standby, default_transaction_read_only) refuses
_PROBE = (
    "BEGIN; INSERT INTO idempotency (scope, key, fingerprint, created_us, result) "
    "VALUES ('threadgate/probe', pg_backend_pid()::text, '', 0, '[]') ON CONFLICT DO NOTHING; "
    "ROLLBACK"
)


def _count(status: str) -> int:
    """Rows affected, from a command tag such as ``DELETE 3``."""
    return int(status.rsplit(" ", 1)[-1])


def _message_arrays(messages: Sequence[Entry], first_seq: int) -> tuple[list[Any], ...]:
    rows = [message_to_row(m) for m in messages]
    return (
        [r[1] for r in rows],
        list(range(first_seq, first_seq + len(rows))),
        [r[0] for r in rows],
        [r[2] for r in rows],
        [r[3] for r in rows],
        [r[4] for r in rows],
        [r[5] for r in rows],
    )


async def _no_reset(conn: Any) -> None:
    """Skip the pool's reset query on release: this store changes no session state
    (asyncpg still rolls back a transaction left open)."""


def _page_sql(
    order: Order, *, after: bool, before: bool, run_id: bool, plain_only: bool, reverse: bool
) -> tuple[str, list[str]]:
    """One statement, so one snapshot, for the thread check, the cursors and the page.

    $1 thread id, $2 rows to read; then the ids of ``after``, ``before`` and the run id,
    for those given.  Returns the SQL and the names of the extra parameters in order.
    """
    names: list[str] = []

    def cursor(name: str) -> str:
        names.append(name)
        p = f"${len(names) + 2}"
        return (
            f"(SELECT seq FROM messages WHERE id = {p} AND thread_id = $1 UNION ALL "
            f"SELECT seq FROM message_tombstones WHERE thread_id = $1 AND id = {p} LIMIT 1)"
        )

    a = cursor("after") if after else "NULL::bigint"
    b = cursor("before") if before else "NULL::bigint"
    where = ["thread_id = $1"]
    forward = ">" if order == "asc" else "<"
    backward = "<" if order == "asc" else ">"
    if after:
        where.append(f"seq {forward} c.a")
    if before:
        where.append(f"seq {backward} c.b")
    if run_id:
        names.append("run_id")
        where.append(f"run_id = ${len(names) + 2}")
    if plain_only:
        where.append("plain")
    direction = "ASC" if (order == "asc") != reverse else "DESC"
    sql = (
        "WITH c AS MATERIALIZED (SELECT EXISTS (SELECT 1 FROM threads WHERE id = $1) AS found, "
        f"{a} AS a, {b} AS b) "
        "SELECT c.found, c.a, c.b, m.id, m.thread_id, m.created_us, m.run_id, m.body "
        f"FROM c LEFT JOIN LATERAL (SELECT {MESSAGE_COLUMNS} FROM messages WHERE {' AND '.join(where)} "
        f"ORDER BY seq {direction} LIMIT $2) m ON c.found"
    )
    return sql, names


class PostgresStore:
    def __init__(self, pool: Any, acquire_timeout_s: float = 5.0) -> None:
        self._pool = pool
        self._guard = Guard(pool, acquire_timeout_s)
        self._acquire_timeout_s = acquire_timeout_s

    @classmethod
    async def open(
        cls,
        dsn: str,
        *,
        min_size: int = 1,
        max_size: int = 10,
        statement_timeout_ms: int = 5000,
        connect_timeout_s: float = 10.0,
        acquire_timeout_s: float = 5.0,
        query_timeout_s: float = 6.0,
    ) -> PostgresStore:
        """Connect a pool to ``dsn`` and bring the schema up to date.

        ``acquire_timeout_s`` bounds the wait for a pooled connection, ``query_timeout_s``
        each statement (client-side, so they hold when the server does not answer at all).
        Raises ``Unavailable`` when the server cannot be reached or cannot write.
        """
        try:
            pool = await asyncpg.create_pool(
                dsn,
                min_size=min_size,
                max_size=max_size,
                timeout=connect_timeout_s,
                command_timeout=query_timeout_s,
                reset=_no_reset,
                server_settings={
                    "statement_timeout": str(statement_timeout_ms),
                    "application_name": "threadgate",
                },
            )
        except Exception as exc:
            if classify(exc) is None:
                raise
            raise unavailable(exc, retry_safe=True) from exc
        try:
            async with pool.acquire(timeout=acquire_timeout_s) as conn:
                await migrate(conn)
        except BaseException as exc:
            pool.terminate()
            if classify(exc) is None:
                raise
            raise unavailable(exc, retry_safe=True) from exc
        return cls(pool, acquire_timeout_s)

    # -- idempotency ----------------------------------------------------------------

    @staticmethod
    async def _claim(conn: Any, claim: IdempotencyClaim, result: list[str]) -> list[str] | None:
        """Claim the key for this request (None), or return the result of the request
        that holds it; ``InvalidArgument`` if that was a different request."""
        won = await conn.fetchval(
            _CLAIM,
            claim.scope,
            claim.key,
            claim.fingerprint,
            to_us(claim.now),
            dumps(result),
            to_us(claim.not_before),
        )
        if won is not None:
            return None
        row = await conn.fetchrow(
            "SELECT fingerprint, result FROM idempotency WHERE scope = $1 AND key = $2",
            claim.scope,
            claim.key,
        )
        if row[0] != claim.fingerprint:
            raise key_reused(claim)
        return [str(i) for i in orjson.loads(row[1])]

    # -- threads ------------------------------------------------------------------

    async def create_thread(
        self, thread: Thread, messages: Sequence[Entry] = (), idempotency: IdempotencyClaim | None = None
    ) -> Thread:
        args = (*thread_to_row(thread), len(messages) + 1, len(messages), *_message_arrays(messages, 1))
        if idempotency is None:
            async with self._guard.write() as conn:
                with _unique_ids():
                    await conn.execute(_CREATE_THREAD, *args)
            return thread
        async with self._guard.transaction(deduped=True) as conn:
            first = await self._claim(conn, idempotency, [thread.id])
            if first is not None:
                row = await conn.fetchrow(_SELECT_THREAD, first[0])
                if row is None:
                    raise NotFound("thread", first[0])
                return thread_from_row(tuple(row))
            with _unique_ids():
                await conn.execute(_CREATE_THREAD, *args)
            return thread

    async def get_thread(self, thread_id: str) -> Thread | None:
        async with self._guard.read() as conn:
            row = await conn.fetchrow(_SELECT_THREAD, thread_id)
        return thread_from_row(tuple(row)) if row else None

    async def update_thread(self, thread_id: str, change: ThreadChange) -> Thread | None:
        async with self._guard.transaction() as conn:
            row = await conn.fetchrow(_LOCK_THREAD, thread_id)
            if row is None:
                return None
            updated = change(thread_from_row(tuple(row)[:_N]))
            await conn.execute(_UPDATE_THREAD + " WHERE id = $1", *thread_to_row(updated))
            return updated

    async def delete_thread(self, thread_id: str) -> bool:
        async with self._guard.transaction() as conn:
            # waits for an append holding the thread's lock; the statements after it see
            # that append's messages, and no later append finds the thread
            deleted = _count(await conn.execute("DELETE FROM threads WHERE id = $1", thread_id))
            if deleted:
                await conn.execute(
                    "WITH t AS (DELETE FROM message_tombstones WHERE thread_id = $1) "
                    "DELETE FROM messages WHERE thread_id = $1",
                    thread_id,
                )
            return bool(deleted)

    async def list_threads(
        self,
        folder_id: str,
        *,
        alive_at: datetime,
        limit: int,
        after: ThreadPosition | None,
    ) -> list[Thread]:
        sql = f"SELECT {THREAD_COLUMNS} FROM threads WHERE folder_id = $1 AND expires_us > $2"
        args: list[Any] = [folder_id, to_us(alive_at)]
        if after is not None:
            sql += " AND (created_us, id) < ($4, $5)"
            args += [limit, to_us(after.created_at), after.thread_id]
        else:
            args.append(limit)
        sql += " ORDER BY created_us DESC, id DESC LIMIT $3"
        async with self._guard.read() as conn:
            rows = await conn.fetch(sql, *args)
        return [thread_from_row(tuple(r)) for r in rows]

    # -- messages -----------------------------------------------------------------

    async def append_messages(
        self,
        thread_id: str,
        append: MessageAppend,
        *,
        max_messages: int,
        idempotency: IdempotencyClaim | None = None,
    ) -> list[Entry] | None:
        async with self._guard.transaction(deduped=idempotency is not None) as conn:
            row = await conn.fetchrow(_LOCK_THREAD, thread_id)
            if row is None:
                return None
            values = tuple(row)
            if idempotency is not None:
                first = await self._claim(conn, idempotency, [])
                if first is not None:
                    return await self._messages_by_id(conn, thread_id, first)
            thread, messages = append(thread_from_row(values[:_N]))
            next_seq, count = int(values[_N]), int(values[_N + 1])
            if count + len(messages) > max_messages:
                raise thread_full(max_messages)
            args = (
                *thread_to_row(thread),
                next_seq + len(messages),
                count + len(messages),
                *_message_arrays(messages, next_seq),
            )
            with _unique_ids():
                if idempotency is None:
                    await conn.execute(_APPEND, *args)
                else:
                    result = dumps([m.id for m in messages])
                    await conn.execute(_APPEND_CLAIMED, *args, idempotency.scope, idempotency.key, result)
            return list(messages)

    @staticmethod
    async def _messages_by_id(conn: Any, thread_id: str, ids: list[str]) -> list[Entry]:
        rows = await conn.fetch(
            f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE thread_id = $1 AND id = ANY($2::text[])",
            thread_id,
            ids,
        )
        found = {r[0]: message_from_row(tuple(r)) for r in rows}
        for message_id in ids:
            if message_id not in found:
                raise NotFound("message", message_id)
        return [found[i] for i in ids]

    async def get_message(self, thread_id: str, message_id: str) -> Entry | None:
        async with self._guard.read() as conn:
            row = await conn.fetchrow(_SELECT_MESSAGE, message_id, thread_id)
        return message_from_row(tuple(row)) if row else None

    async def list_messages(
        self,
        thread_id: str,
        *,
        order: Order,
        limit: int,
        after: str | None = None,
        before: str | None = None,
        run_id: str | None = None,
        plain_only: bool = False,
    ) -> MessagePage | None:
        # `before` alone asks for the page just before the cursor: read it walking
        # backwards, then put it back in the requested order.
        reverse = before is not None and after is None
        sql, names = _page_sql(
            order,
            after=after is not None,
            before=before is not None,
            run_id=run_id is not None,
            plain_only=plain_only,
            reverse=reverse,
        )
        given = {"after": after, "before": before, "run_id": run_id}
        async with self._guard.read() as conn:
            rows = await conn.fetch(sql, thread_id, limit + 1, *(given[n] for n in names))
        head = rows[0]
        if not head[0]:
            return None
        if after is not None and head[1] is None:
            raise unknown_cursor("after", after)
        if before is not None and head[2] is None:
            raise unknown_cursor("before", before)
        found = [tuple(r)[3:] for r in rows if r[3] is not None]
        has_more = len(found) > limit
        found = found[:limit]
        if reverse:
            found.reverse()
        return MessagePage([message_from_row(r) for r in found], has_more)

    async def update_message(
        self, thread_id: str, message_id: str, change: Callable[[Entry], Entry]
    ) -> Entry | None:
        async with self._guard.transaction() as conn:
            row = await conn.fetchrow(_SELECT_MESSAGE + " FOR UPDATE", message_id, thread_id)
            if row is None:
                return None
            updated = change(message_from_row(tuple(row)))
            new = message_to_row(updated)
            await conn.execute(
                "UPDATE messages SET run_id = $1, body = $2, plain = $3 WHERE thread_id = $4 AND id = $5",
                new[3],
                new[4],
                new[5],
                thread_id,
                message_id,
            )
            return updated

    async def delete_message(self, thread_id: str, message_id: str) -> bool:
        async with self._guard.transaction() as conn:
            # the thread row first, as every writer does: no lock cycle with delete_thread
            if await conn.fetchval("SELECT 1 FROM threads WHERE id = $1 FOR UPDATE", thread_id) is None:
                return False
            deleted = await conn.fetchval(
                "WITH d AS (DELETE FROM messages WHERE id = $2 AND thread_id = $1 "
                "RETURNING thread_id, id, seq), "
                "t AS (INSERT INTO message_tombstones (thread_id, id, seq) "
                "SELECT thread_id, id, seq FROM d "
                # a client may have reused a deleted entry's id
                "ON CONFLICT (thread_id, id) DO UPDATE SET seq = EXCLUDED.seq), "
                "u AS (UPDATE threads SET message_count = message_count - 1 "
                "WHERE id = $1 AND EXISTS (SELECT 1 FROM d)) "
                "SELECT count(*) FROM d",
                thread_id,
                message_id,
            )
            return bool(deleted)

    # -- expiry ---------------------------------------------------------------------

    async def delete_expired(self, now: datetime, *, max_rows: int) -> SweepResult:
        cutoff = to_us(now)
        threads = messages = 0
        budget = max_rows
        async with self._guard.transaction() as conn:
            # threads another sweeper (or a writer) holds are skipped, not waited for; a
            # thread whose expiry moved after this statement's snapshot is re-checked
            expired = await conn.fetch(
                "SELECT id FROM threads WHERE expires_us <= $1 ORDER BY expires_us LIMIT $2 "
                "FOR UPDATE SKIP LOCKED",
                cutoff,
                max_rows,
            )
            for (thread_id,) in expired:
                # a big thread loses its messages over several batches; it is
                # invisible to clients already, since it has expired
                gone = _count(
                    await conn.execute(
                        "DELETE FROM messages WHERE thread_id = $1 AND seq IN "
                        "(SELECT seq FROM messages WHERE thread_id = $1 ORDER BY seq LIMIT $2)",
                        thread_id,
                        budget,
                    )
                )
                messages += gone
                budget -= gone
                if budget <= 0:
                    return SweepResult(threads, messages, more=True)
                await conn.execute(
                    "WITH t AS (DELETE FROM message_tombstones WHERE thread_id = $1) "
                    "DELETE FROM threads WHERE id = $1 AND expires_us <= $2",
                    thread_id,
                    cutoff,
                )
                threads += 1
                budget -= 1
                if budget <= 0:
                    return SweepResult(threads, messages, more=True)
            return SweepResult(threads, messages, more=len(expired) == max_rows)

    async def forget_idempotency(self, before: datetime) -> int:
        async with self._guard.write() as conn:
            return _count(await conn.execute("DELETE FROM idempotency WHERE created_us < $1", to_us(before)))

    # -- API keys -------------------------------------------------------------------

    async def add_key(self, key: ApiKey) -> None:
        async with self._guard.write() as conn:
            await conn.execute(_INSERT_KEY, *key_to_row(key))

    async def get_key(self, key_id: str) -> ApiKey | None:
        async with self._guard.read() as conn:
            row = await conn.fetchrow(f"SELECT {KEY_COLUMNS} FROM api_keys WHERE id = $1", key_id)
        return key_from_row(tuple(row)) if row else None

    async def list_keys(self) -> list[ApiKey]:
        async with self._guard.read() as conn:
            rows = await conn.fetch(f"SELECT {KEY_COLUMNS} FROM api_keys ORDER BY created_us, id")
        return [key_from_row(tuple(r)) for r in rows]

    async def revoke_key(self, key_id: str, at: datetime) -> bool:
        async with self._guard.write() as conn:
            status = await conn.execute(
                "UPDATE api_keys SET revoked_us = COALESCE(revoked_us, $1) WHERE id = $2", to_us(at), key_id
            )
        return _count(status) > 0

    # -- transfer (core.transfer) ----------------------------------------------------

    def snapshot(self, where: ThreadFilter = EVERYTHING) -> AbstractAsyncContextManager[Snapshot]:
        """One REPEATABLE READ, read-only transaction (see ``postgres_transfer``)."""
        return postgres_snapshot(self._pool, where, self._acquire_timeout_s)

    async def import_batch(
        self, thread: Thread, entries: Sequence[Entry], *, overwrite: bool = False
    ) -> BatchResult:
        return await import_batch(self._pool, thread, entries, self._acquire_timeout_s, overwrite)

    async def ping(self) -> None:
        """Raise ``Unavailable`` unless the store can write: a row written in a transaction
        that is rolled back (so a read-only server or session fails it), in one round trip."""
        async with self._guard.read() as conn:
            await conn.execute(_PROBE)

    async def close(self, timeout: float = 10.0) -> None:
        """Wait (up to ``timeout`` seconds) for calls in flight, then close every connection."""
        try:
            await asyncio.wait_for(self._pool.close(), timeout)
        except TimeoutError:
            with contextlib.suppress(Exception):
                self._pool.terminate()

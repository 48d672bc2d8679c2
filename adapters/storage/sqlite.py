"""SQLite ThreadStore: the embedded default (one file, WAL, versioned schema).

Writes run on one writer thread that owns the write connection and commits
concurrent writes together (``group_commit``), so ``fsync`` never blocks the event
loop; reads run on the loop, on a read-only connection.  A write is acknowledged only
after its transaction has committed; with ``synchronous=FULL`` (the default) it
survives ``kill -9`` and power loss alike.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, TypeVar

import orjson

from adapters.storage.group_commit import GroupCommitWriter
from adapters.storage.rows import (
    KEY_COLUMNS,
    MESSAGE_COLUMNS,
    THREAD_COLUMNS,
    key_from_row,
    key_to_row,
    message_from_row,
    message_to_row,
    thread_from_row,
    thread_to_row,
    to_us,
)
from adapters.storage.sqlite_errors import check_free_space, reraise
from adapters.storage.sqlite_schema import migrate
from adapters.storage.sqlite_transfer import import_batch, sqlite_snapshot
from core.access import ApiKey
from core.errors import NotFound, Unavailable
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

T = TypeVar("T")
Synchronous = Literal["FULL", "NORMAL", "EXTRA"]

_THREAD_SET = (
    "folder_id=?, name=?, description=?, default_author_id=?, created_by=?, created_us=?, "
    "updated_by=?, updated_us=?, last_active_us=?, policy=?, ttl_days=?, expires_us=?, "
    "labels=?, tools=?, ci_file_ids=?"
)
_SELECT_THREAD = f"SELECT {THREAD_COLUMNS} FROM threads WHERE id = ?"
_SELECT_KEY = f"SELECT {KEY_COLUMNS} FROM api_keys WHERE id = ?"


def _probe(conn: sqlite3.Connection) -> None:
    """The smallest write that reaches the file: the schema version, unchanged."""
    version = int(conn.execute("PRAGMA user_version").fetchone()[0])
    conn.execute(f"PRAGMA user_version = {version}")


class SqliteStore:
    """Reads run on the caller's event loop, on their own connection: a WAL reader
    sees the last committed state and never waits for the writer, and a point read
    costs less than handing it to a thread.  Writes go to one writer thread that
    commits concurrent writes together (``group_commit``)."""

    def __init__(self, path: Path, *, synchronous: Synchronous = "FULL") -> None:
        self._path = path
        self._synchronous = synchronous
        self._conn: sqlite3.Connection | None = None
        self._writer: GroupCommitWriter | None = None

    @classmethod
    async def open(
        cls, path: Path, *, synchronous: Synchronous = "FULL", lock_timeout: float = 10.0
    ) -> SqliteStore:
        """Open (or create) and migrate the file.  ``lock_timeout``: seconds a write
        waits for another process's write lock before it fails with ``Unavailable``.

        Raises ``Unavailable`` when the file cannot be opened or written (full disk,
        read-only file system); an immutable file opens read-only, which ``ping`` finds.
        """
        store = cls(path, synchronous=synchronous)
        # migrating may wait for another process's lock: not on the event loop
        try:
            writer_conn, reader_conn = await asyncio.to_thread(store._connect)
        except sqlite3.Error as exc:
            reraise(exc)
        store._writer = GroupCommitWriter(writer_conn, lock_timeout=lock_timeout)
        store._conn = reader_conn
        return store

    def _connect(self) -> tuple[sqlite3.Connection, sqlite3.Connection]:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        opened: list[sqlite3.Connection] = []
        try:
            writer = self._connection(opened)
            writer.execute("PRAGMA journal_mode = WAL")
            writer.execute(f"PRAGMA synchronous = {self._synchronous}")
            migrate(writer)
            writer.execute("PRAGMA busy_timeout = 0")  # GroupCommitWriter waits for the lock itself
            reader = self._connection(opened)
            reader.execute("PRAGMA query_only = ON")
        except BaseException:
            for conn in opened:
                conn.close()
            raise
        return writer, reader

    def _connection(self, opened: list[sqlite3.Connection]) -> sqlite3.Connection:
        conn = sqlite3.connect(
            self._path, isolation_level=None, check_same_thread=False, cached_statements=256
        )
        opened.append(conn)
        conn.execute("PRAGMA busy_timeout = 10000")
        conn.execute("PRAGMA foreign_keys = ON")
        return conn

    def commit_totals(self) -> tuple[int, int]:
        """Transactions committed and writes in them, since the store was opened."""
        writer = self._writer
        return (writer.batches, writer.writes) if writer is not None else (0, 0)

    @property
    def _db(self) -> sqlite3.Connection:
        """The read connection, used on the event loop only."""
        if self._conn is None:
            raise RuntimeError("store is closed")
        return self._conn

    def _write(self, fn: Callable[[sqlite3.Connection], T]) -> asyncio.Future[T]:
        """Run ``fn`` in the next group-committed transaction; resolves after COMMIT."""
        if self._writer is None:
            raise RuntimeError("store is closed")
        return self._writer.submit(fn)

    # -- threads ------------------------------------------------------------------

    @staticmethod
    def _claimed(conn: sqlite3.Connection, claim: IdempotencyClaim | None) -> list[str] | None:
        if claim is None:
            return None
        row = conn.execute(
            "SELECT fingerprint, created_us, result FROM idempotency WHERE scope = ? AND key = ?",
            (claim.scope, claim.key),
        ).fetchone()
        if row is None or row[1] < to_us(claim.not_before):
            return None
        if row[0] != claim.fingerprint:
            raise key_reused(claim)
        return list(orjson.loads(row[2]))

    @staticmethod
    def _claim(conn: sqlite3.Connection, claim: IdempotencyClaim | None, ids: list[str]) -> None:
        if claim is not None:
            conn.execute(
                "INSERT OR REPLACE INTO idempotency (scope, key, fingerprint, created_us, result) "
                "VALUES (?,?,?,?,?)",
                (claim.scope, claim.key, claim.fingerprint, to_us(claim.now), orjson.dumps(ids).decode()),
            )

    async def create_thread(
        self, thread: Thread, messages: Sequence[Entry] = (), idempotency: IdempotencyClaim | None = None
    ) -> Thread:
        def run(conn: sqlite3.Connection) -> Thread:
            first = self._claimed(conn, idempotency)
            if first is not None:
                row = conn.execute(_SELECT_THREAD, (first[0],)).fetchone()
                if row is None:
                    raise NotFound("thread", first[0])
                return thread_from_row(row)
            conn.execute(
                f"INSERT INTO threads ({THREAD_COLUMNS}, next_seq, message_count) "
                "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (*thread_to_row(thread), len(messages) + 1, len(messages)),
            )
            self._insert_messages(conn, messages, first_seq=1)
            self._claim(conn, idempotency, [thread.id])
            return thread

        try:
            return await self._write(run)
        except Unavailable as exc:
            raise exc if idempotency is None else exc.deduplicated() from exc.__cause__

    @staticmethod
    def _insert_messages(conn: sqlite3.Connection, messages: Sequence[Entry], first_seq: int) -> None:
        if not messages:
            return  # most threads start empty: no statement at all
        rows = [message_to_row(m) for m in messages]
        try:
            conn.executemany(
                "INSERT INTO messages (thread_id, seq, id, created_us, run_id, body, plain) "
                "VALUES (?,?,?,?,?,?,?)",
                [(r[1], first_seq + i, r[0], r[2], r[3], r[4], r[5]) for i, r in enumerate(rows)],
            )
        except sqlite3.IntegrityError:
            # minted ids never collide; an id a client chose may be taken
            ids = [r[0] for r in rows]
            taken = conn.execute(  # rows of this batch may be in already: not those
                f"SELECT id FROM messages WHERE thread_id = ? AND seq < ? "
                f"AND id IN ({','.join('?' * len(ids))})",
                (rows[0][1], first_seq, *ids),
            ).fetchone()
            raise duplicate_id(taken[0] if taken else ids[0]) from None

    def _get_thread(self, thread_id: str) -> Thread | None:
        try:
            row = self._db.execute(_SELECT_THREAD, (thread_id,)).fetchone()
        except sqlite3.Error as exc:
            reraise(exc)
        return thread_from_row(row) if row else None

    async def get_thread(self, thread_id: str) -> Thread | None:
        return self._get_thread(thread_id)

    @staticmethod
    def _store_thread(
        conn: sqlite3.Connection, thread: Thread, counters: tuple[int, int] | None = None
    ) -> None:
        """Write the thread's fields back; ``counters`` also sets (next_seq, message_count),
        in the same statement."""
        row = thread_to_row(thread)
        if counters is None:
            conn.execute(f"UPDATE threads SET {_THREAD_SET} WHERE id = ?", (*row[1:], row[0]))
        else:
            conn.execute(
                f"UPDATE threads SET {_THREAD_SET}, next_seq = ?, message_count = ? WHERE id = ?",
                (*row[1:], *counters, row[0]),
            )

    async def update_thread(self, thread_id: str, change: ThreadChange) -> Thread | None:
        def run(conn: sqlite3.Connection) -> Thread | None:
            row = conn.execute(_SELECT_THREAD, (thread_id,)).fetchone()
            if row is None:
                return None
            updated = change(thread_from_row(row))
            self._store_thread(conn, updated)
            return updated

        return await self._write(run)

    async def delete_thread(self, thread_id: str) -> bool:
        def run(conn: sqlite3.Connection) -> bool:
            deleted = conn.execute("DELETE FROM threads WHERE id = ?", (thread_id,)).rowcount
            if deleted:
                conn.execute("DELETE FROM messages WHERE thread_id = ?", (thread_id,))
                conn.execute("DELETE FROM message_tombstones WHERE thread_id = ?", (thread_id,))
            return bool(deleted)

        return await self._write(run)

    async def list_threads(
        self,
        folder_id: str,
        *,
        alive_at: datetime,
        limit: int,
        after: ThreadPosition | None,
    ) -> list[Thread]:
        sql = f"SELECT {THREAD_COLUMNS} FROM threads WHERE folder_id = ? AND expires_us > ?"
        args: list[Any] = [folder_id, to_us(alive_at)]
        if after is not None:
            sql += " AND (created_us, id) < (?, ?)"
            args += [to_us(after.created_at), after.thread_id]
        sql += " ORDER BY created_us DESC, id DESC LIMIT ?"
        args.append(limit)
        try:
            rows = self._db.execute(sql, args).fetchall()
        except sqlite3.Error as exc:
            reraise(exc)
        return [thread_from_row(r) for r in rows]

    # -- messages -----------------------------------------------------------------

    async def append_messages(
        self,
        thread_id: str,
        append: MessageAppend,
        *,
        max_messages: int,
        idempotency: IdempotencyClaim | None = None,
    ) -> list[Entry] | None:
        def run(conn: sqlite3.Connection) -> list[Entry] | None:
            row = conn.execute(
                f"SELECT {THREAD_COLUMNS}, next_seq, message_count FROM threads WHERE id = ?",
                (thread_id,),
            ).fetchone()
            if row is None:
                return None
            first = self._claimed(conn, idempotency)
            if first is not None:
                found = []
                for message_id in first:
                    m = conn.execute(
                        f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE id = ? AND thread_id = ?",
                        (message_id, thread_id),
                    ).fetchone()
                    if m is None:
                        raise NotFound("message", message_id)
                    found.append(message_from_row(m))
                return found
            thread, messages = append(thread_from_row(row[:16]))
            next_seq, count = row[16], row[17]
            if count + len(messages) > max_messages:
                raise thread_full(max_messages)
            self._store_thread(conn, thread, counters=(next_seq + len(messages), count + len(messages)))
            self._insert_messages(conn, messages, first_seq=next_seq)
            self._claim(conn, idempotency, [m.id for m in messages])
            return list(messages)

        try:
            return await self._write(run)
        except Unavailable as exc:
            raise exc if idempotency is None else exc.deduplicated() from exc.__cause__

    async def get_message(self, thread_id: str, message_id: str) -> Entry | None:
        try:
            row = self._db.execute(
                f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE id = ? AND thread_id = ?",
                (message_id, thread_id),
            ).fetchone()
        except sqlite3.Error as exc:
            reraise(exc)
        return message_from_row(row) if row else None

    def _cursor(self, thread_id: str, name: str, message_id: str) -> int:
        row = self._db.execute(
            "SELECT seq FROM messages WHERE id = ? AND thread_id = ? "
            "UNION ALL SELECT seq FROM message_tombstones WHERE thread_id = ? AND id = ?",
            (message_id, thread_id, thread_id, message_id),
        ).fetchone()
        if row is None:
            raise unknown_cursor(name, message_id)
        return int(row[0])

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
        try:
            return self._page(thread_id, order, limit, after, before, run_id, plain_only)
        except sqlite3.Error as exc:
            reraise(exc)

    def _page(
        self,
        thread_id: str,
        order: Order,
        limit: int,
        after: str | None,
        before: str | None,
        run_id: str | None,
        plain_only: bool,
    ) -> MessagePage | None:
        db = self._db
        db.execute("BEGIN")  # one snapshot for the cursor lookups and the page
        try:
            if db.execute("SELECT 1 FROM threads WHERE id = ?", (thread_id,)).fetchone() is None:
                return None
            where = ["thread_id = ?"]
            args: list[Any] = [thread_id]
            if run_id is not None:
                where.append("run_id = ?")
                args.append(run_id)
            if plain_only:
                where.append("plain = 1")
            forward = ">" if order == "asc" else "<"
            backward = "<" if order == "asc" else ">"
            if after is not None:
                where.append(f"seq {forward} ?")
                args.append(self._cursor(thread_id, "after", after))
            if before is not None:
                where.append(f"seq {backward} ?")
                args.append(self._cursor(thread_id, "before", before))
            # `before` alone asks for the page just before the cursor: read it
            # walking backwards, then put it back in the requested order.
            reverse = before is not None and after is None
            direction = "ASC" if (order == "asc") != reverse else "DESC"
            sql = (
                f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE {' AND '.join(where)} "
                f"ORDER BY seq {direction} LIMIT ?"
            )
            rows = db.execute(sql, (*args, limit + 1)).fetchall()
        finally:
            if db.in_transaction:
                db.execute("COMMIT")
        has_more = len(rows) > limit
        rows = rows[:limit]
        if reverse:
            rows.reverse()
        return MessagePage([message_from_row(r) for r in rows], has_more)

    async def update_message(
        self, thread_id: str, message_id: str, change: Callable[[Entry], Entry]
    ) -> Entry | None:
        def run(conn: sqlite3.Connection) -> Entry | None:
            row = conn.execute(
                f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE id = ? AND thread_id = ?",
                (message_id, thread_id),
            ).fetchone()
            if row is None:
                return None
            updated = change(message_from_row(row))
            new = message_to_row(updated)
            conn.execute(
                "UPDATE messages SET run_id = ?, body = ?, plain = ? WHERE thread_id = ? AND id = ?",
                (new[3], new[4], new[5], thread_id, message_id),
            )
            return updated

        return await self._write(run)

    async def delete_message(self, thread_id: str, message_id: str) -> bool:
        def run(conn: sqlite3.Connection) -> bool:
            row = conn.execute(
                "SELECT seq FROM messages WHERE id = ? AND thread_id = ?", (message_id, thread_id)
            ).fetchone()
            if row is None:
                return False
            conn.execute("DELETE FROM messages WHERE thread_id = ? AND id = ?", (thread_id, message_id))
            conn.execute(  # REPLACE: a client may have reused a deleted entry's id
                "INSERT OR REPLACE INTO message_tombstones (thread_id, id, seq) VALUES (?,?,?)",
                (thread_id, message_id, row[0]),
            )
            conn.execute("UPDATE threads SET message_count = message_count - 1 WHERE id = ?", (thread_id,))
            return True

        return await self._write(run)

    # -- expiry ---------------------------------------------------------------------

    async def delete_expired(self, now: datetime, *, max_rows: int) -> SweepResult:
        def run(conn: sqlite3.Connection) -> SweepResult:
            cutoff = to_us(now)
            threads = messages = 0
            budget = max_rows
            expired = conn.execute(
                "SELECT id FROM threads WHERE expires_us <= ? ORDER BY expires_us LIMIT ?",
                (cutoff, max_rows),
            ).fetchall()
            for (thread_id,) in expired:
                # a big thread loses its messages over several batches; it is
                # invisible to clients already, since it has expired
                gone = conn.execute(
                    "DELETE FROM messages WHERE thread_id = ? AND seq IN "
                    "(SELECT seq FROM messages WHERE thread_id = ? ORDER BY seq LIMIT ?)",
                    (thread_id, thread_id, budget),
                ).rowcount
                messages += gone
                budget -= gone
                if budget <= 0:
                    return SweepResult(threads, messages, more=True)
                conn.execute("DELETE FROM message_tombstones WHERE thread_id = ?", (thread_id,))
                conn.execute("DELETE FROM threads WHERE id = ? AND expires_us <= ?", (thread_id, cutoff))
                threads += 1
                budget -= 1
                if budget <= 0:
                    return SweepResult(threads, messages, more=True)
            return SweepResult(threads, messages, more=len(expired) == max_rows)

        return await self._write(run)

    async def forget_idempotency(self, before: datetime) -> int:
        def run(conn: sqlite3.Connection) -> int:
            return conn.execute("DELETE FROM idempotency WHERE created_us < ?", (to_us(before),)).rowcount

        return await self._write(run)

    # -- API keys -------------------------------------------------------------------

    async def add_key(self, key: ApiKey) -> None:
        def run(conn: sqlite3.Connection) -> None:
            conn.execute(f"INSERT INTO api_keys ({KEY_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?)", key_to_row(key))

        await self._write(run)

    async def get_key(self, key_id: str) -> ApiKey | None:
        try:
            row = self._db.execute(_SELECT_KEY, (key_id,)).fetchone()
        except sqlite3.Error as exc:
            reraise(exc)
        return key_from_row(row) if row else None

    async def list_keys(self) -> list[ApiKey]:
        try:
            rows = self._db.execute(f"SELECT {KEY_COLUMNS} FROM api_keys ORDER BY created_us, id").fetchall()
        except sqlite3.Error as exc:
            reraise(exc)
        return [key_from_row(r) for r in rows]

    async def revoke_key(self, key_id: str, at: datetime) -> bool:
        def run(conn: sqlite3.Connection) -> bool:
            cur = conn.execute(
                "UPDATE api_keys SET revoked_us = COALESCE(revoked_us, ?) WHERE id = ?", (to_us(at), key_id)
            )
            return cur.rowcount > 0

        return await self._write(run)

    # -- transfer (core.transfer) ----------------------------------------------------

    def snapshot(self, where: ThreadFilter = EVERYTHING) -> AbstractAsyncContextManager[Snapshot]:
        """One read transaction on a connection of its own (see ``sqlite_transfer``)."""
        return sqlite_snapshot(self._path, where)

    async def import_batch(
        self, thread: Thread, entries: Sequence[Entry], *, overwrite: bool = False
    ) -> BatchResult:
        return await self._write(lambda conn: import_batch(conn, thread, entries, overwrite))

    async def ping(self) -> None:
        """Raise ``Unavailable`` unless the store can write: a real, empty write (the
        schema version, rewritten unchanged) committed through the writer, so a
        read-only or immutable file, a lock held past the wait or an I/O error fail it;
        and room on the file system, since a full disk may still take one small write."""
        await asyncio.to_thread(check_free_space, self._path.parent)
        await self._write(_probe)

    async def close(self) -> None:
        writer, self._writer = self._writer, None
        if writer is not None:
            await asyncio.to_thread(writer.close)  # lets queued writes finish first
            writer.connection.close()
        if self._conn is not None:
            self._conn.close()
            self._conn = None

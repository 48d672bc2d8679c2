"""The transfer port (``core.transfer``) on SQLite.

A snapshot is one read transaction on a connection of its own: in WAL mode it sees
the last commit before it began, however long it runs, while the server keeps
writing (a long one only keeps the WAL from being checkpointed past it).
An import batch is one transaction on the store's writer.
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path

from adapters.storage.rows import (
    THREAD_COLUMNS,
    UnreadableStore,
    message_from_row,
    message_to_row,
    require_version,
    thread_from_row,
    thread_to_row,
)
from adapters.storage.sqlite_errors import reraise
from adapters.storage.sqlite_schema import MIGRATIONS
from adapters.storage.transfer_sql import ENTRIES_PAGE, REWRITE_ENTRY, counts, threads_page
from core.model import Entry, Thread
from core.transfer import EVERYTHING, BatchResult, Snapshot, ThreadFilter


class SqliteSnapshot:
    def __init__(self, conn: sqlite3.Connection, where: ThreadFilter) -> None:
        self._conn = conn
        self._where = where

    async def threads(self, after: str | None, limit: int) -> list[Thread]:
        sql, args = threads_page(self._where, after, limit)
        try:
            return [thread_from_row(r) for r in self._conn.execute(sql, args).fetchall()]
        except sqlite3.Error as exc:
            reraise(exc)

    async def counts(self) -> tuple[int, int]:
        sql, args = counts(self._where)
        try:
            found = self._conn.execute(sql, args).fetchone()
        except sqlite3.Error as exc:
            reraise(exc)
        return int(found[0]), int(found[1])

    async def entries(self, thread_id: str, after: int, limit: int) -> list[tuple[int, Entry]]:
        try:
            rows = self._conn.execute(ENTRIES_PAGE, (thread_id, after, limit)).fetchall()
        except sqlite3.Error as exc:
            reraise(exc)
        return [(r[0], message_from_row(r[1:])) for r in rows]


def _connect(path: Path, read_only: bool) -> sqlite3.Connection:
    if not read_only:
        return sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    # mode=ro: never creates the file, never migrates, never writes the database
    return sqlite3.connect(
        f"{path.resolve().as_uri()}?mode=ro", uri=True, isolation_level=None, check_same_thread=False
    )


@asynccontextmanager
async def sqlite_snapshot(
    path: Path, where: ThreadFilter, read_only: bool = False
) -> AsyncIterator[Snapshot]:
    conn = _connect(path, read_only)
    try:
        conn.execute("PRAGMA query_only = ON")
        conn.execute("BEGIN")
        # a deferred transaction takes its snapshot at the first read: take it now
        conn.execute("SELECT count(*) FROM sqlite_schema").fetchone()
        yield SqliteSnapshot(conn, where)
        conn.execute("COMMIT")
    finally:
        conn.close()


class ReadOnlySqlite:
    """Snapshots of a SQLite store opened read-only: what ``threadgate export`` reads,
    so exporting a standby copy or a read-only mount neither migrates nor writes it."""

    def __init__(self, path: Path) -> None:
        if not path.is_file():
            raise UnreadableStore(f"no SQLite store at {path}")
        try:
            conn = _connect(path, read_only=True)
            try:
                require_version(conn.execute("PRAGMA user_version").fetchone()[0], len(MIGRATIONS), str(path))
            finally:
                conn.close()
        except sqlite3.Error as exc:
            raise UnreadableStore(f"cannot read {path} as a threadgate store: {exc}") from exc
        self._path = path

    def snapshot(self, where: ThreadFilter = EVERYTHING) -> AbstractAsyncContextManager[Snapshot]:
        return sqlite_snapshot(self._path, where, read_only=True)

    async def close(self) -> None:
        pass


def import_batch(
    conn: sqlite3.Connection, thread: Thread, entries: Sequence[Entry], overwrite: bool = False
) -> BatchResult:
    """Runs in one writer transaction (see ``TransferStore.import_batch``)."""
    row = conn.execute(
        "SELECT updated_us, next_seq, message_count FROM threads WHERE id = ?", (thread.id,)
    ).fetchone()
    values = thread_to_row(thread)
    if row is None:
        next_seq, count, written = 1, 0, True
        conn.execute(
            f"INSERT INTO threads ({THREAD_COLUMNS}, next_seq, message_count) VALUES ({','.join('?' * 18)})",
            (*values, 1, 0),
        )
    else:
        next_seq, count = row[1], row[2]
        written = overwrite or row[0] <= values[8]  # updated_us
        if written:
            names = [c.strip() for c in THREAD_COLUMNS.split(",")][1:]
            conn.execute(
                f"UPDATE threads SET {', '.join(f'{c} = ?' for c in names)} WHERE id = ?",
                (*values[1:], thread.id),
            )
    ids = [e.id for e in entries]
    held: set[str] = set()
    for start in range(0, len(ids), 500):  # under SQLite's bound-parameter limit
        chunk = ids[start : start + 500]
        held.update(
            r[0]
            for r in conn.execute(
                f"SELECT id FROM messages WHERE thread_id = ? AND id IN ({','.join('?' * len(chunk))})",
                (thread.id, *chunk),
            )
        )
    rows, rewrites = [], []
    for m in entries:
        if m.id not in held:
            held.add(m.id)
            rows.append(message_to_row(m))
        elif overwrite:  # otherwise an entry already stored is kept as it is
            r = message_to_row(m)
            rewrites.append((r[2], r[3], r[4], r[5], thread.id, m.id))
    conn.executemany(REWRITE_ENTRY, rewrites)
    conn.executemany(
        "INSERT INTO messages (thread_id, seq, id, created_us, run_id, body, plain) VALUES (?,?,?,?,?,?,?)",
        [(thread.id, next_seq + i, r[0], r[2], r[3], r[4], r[5]) for i, r in enumerate(rows)],
    )
    conn.execute(
        "UPDATE threads SET next_seq = ?, message_count = ? WHERE id = ?",
        (next_seq + len(rows), count + len(rows), thread.id),
    )
    return BatchResult(written, len(rows), len(rewrites))

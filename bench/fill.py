"""Put threads and messages into a store: through the REST API as a user would, or, for
sizes the API would take minutes to reach, straight into SQLite with the server stopped,
in rows built by the server's own code (``adapters.storage.rows`` from ``core.model``
values); a message append moves its thread's counters as the server's appends do.
"""

from __future__ import annotations

import asyncio
import random
import sqlite3
import string
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from attrs import evolve, frozen

from adapters.storage.rows import THREAD_COLUMNS, message_to_row, thread_from_row, thread_to_row
from bench.servers import answer, client
from core.clock import RandomIds
from core.entries import MESSAGE_PREFIX
from core.model import Author, ExpirationConfig, Message, Role, TextPart, Thread
from testkit.server import Server

_FILLER = "The quick brown fox jumps over the lazy dog. " * 4
_ALPHABET = string.ascii_letters + string.digits


def store_bytes(data_dir: Path) -> int:
    """The size of the SQLite store in ``data_dir`` with its WAL and shared-memory files."""
    return sum(p.stat().st_size for p in data_dir.glob("threadgate.db*"))


async def new_thread(server: Server) -> str:
    async with client(server) as c:
        return await create_thread(c)


def message_text(n: int) -> str:
    """The text of the n-th benchmark message (about 200 characters)."""
    return f"benchmark message {n}: {_FILLER}".rstrip()


@frozen
class Fill:
    thread_id: str
    messages: int
    method: str  # "api" or "sqlite"
    seconds: float
    ids: tuple[str, ...]  # in the order their appends completed: roughly the thread's order
    server_cpu: float | None = None  # share of one core the server used filling through the API

    @property
    def per_second(self) -> float:
        return self.messages / self.seconds if self.seconds > 0 else float("inf")

    def middle_id(self) -> str:
        return self.ids[len(self.ids) // 2]


async def create_thread(client: httpx.AsyncClient) -> str:
    return str(answer(await client.post("/v1/threads", json={}))["id"])


async def fill_api(
    client: httpx.AsyncClient, thread_id: str, count: int, concurrency: int, limit: float
) -> Fill:
    """Append ``count`` messages with ``concurrency`` requests in flight; fail past ``limit`` seconds."""
    ids: list[str] = []
    numbers = iter(range(count))
    began = time.perf_counter()

    async def worker() -> None:
        for n in numbers:
            if time.perf_counter() - began > limit:
                raise TimeoutError(f"API fill passed its {limit:.0f}s limit at {len(ids)} messages")
            body = {"role": "user", "content": message_text(n)}
            ids.append(str(answer(await client.post(f"/v1/threads/{thread_id}/messages", json=body))["id"]))

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return Fill(thread_id, count, "api", time.perf_counter() - began, tuple(ids))


@contextmanager
def _writing(db: Path) -> Iterator[sqlite3.Connection]:
    """One transaction on a store no server has open, checkpointed after."""
    conn = sqlite3.connect(db, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA cache_size = -262144")  # 256 MiB: the id indexes stay in memory
        conn.execute("BEGIN IMMEDIATE")
        yield conn
        conn.execute("COMMIT")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        conn.close()


def _new_ids(prefix: str, length: int, count: int) -> list[str]:
    # shaped like the server's ids (core.clock.RandomIds) but from a fast, non-secret
    # generator (secrets would spend seconds on a million); the unique index guards collisions
    rng = random.Random()
    return [prefix + "".join(rng.choices(_ALPHABET, k=length)) for _ in range(count)]


def _thread(conn: sqlite3.Connection, thread_id: str) -> tuple[Thread, tuple[Any, ...]]:
    """The stored thread, and its row (its columns, ``next_seq``, ``message_count``)."""
    query = f"SELECT {THREAD_COLUMNS}, next_seq, message_count FROM threads WHERE id = ?"
    if (row := conn.execute(query, (thread_id,)).fetchone()) is None:
        raise LookupError(f"no thread {thread_id}")
    return thread_from_row(row[:16]), row


def fill_sqlite(db: Path, thread_id: str, count: int) -> Fill:
    """Append ``count`` messages to an existing thread while no server has the file open."""
    began = time.perf_counter()
    ids = _new_ids(MESSAGE_PREFIX, RandomIds.LENGTH, count)
    with _writing(db) as conn:
        thread, row = _thread(conn, thread_id)
        first_seq, existing = int(row[16]), int(row[17])
        # like the server's clock: never behind the thread's last activity, one microsecond apart
        base = max(datetime.now(UTC), thread.last_activity_at)
        author = Author(id=thread.default_message_author_id, role=Role.USER)

        def rows() -> Iterator[tuple[Any, ...]]:
            for i, mid in enumerate(ids):
                # the caller that made the thread appends to it
                at, content = base + timedelta(microseconds=i), (TextPart(message_text(i)),)
                message = Message(mid, thread_id, thread.created_by, at, author, content)
                _, tid, created_us, run_id, body, plain = message_to_row(message)
                yield tid, first_seq + i, mid, created_us, run_id, body, plain

        insert = (
            "INSERT INTO messages (thread_id, seq, id, created_us, run_id, body, plain) "
            "VALUES (?,?,?,?,?,?,?)"
        )
        conn.executemany(insert, rows())
        last = thread_to_row(
            evolve(thread, last_activity_at=base + timedelta(microseconds=max(0, count - 1)))
        )
        update = "UPDATE threads SET last_active_us = ?, expires_us = ?, next_seq = ?, message_count = ? "
        update += "WHERE id = ?"
        conn.execute(update, (last[9], last[12], first_seq + count, existing + count, thread_id))
    return Fill(thread_id, count, "sqlite", time.perf_counter() - began, tuple(ids))


def write_threads(
    db: Path, template_id: str, count: int, start: datetime, expiration: ExpirationConfig | None = None
) -> list[str]:
    """``count`` threads shaped like ``template_id``'s (folder, creator; its expiry unless
    ``expiration`` is given), created one microsecond apart from ``start``, written while no
    server has the file open.  Their ids."""
    ids = _new_ids("thread_", 24, count)
    with _writing(db) as conn:
        template = _thread(conn, template_id)[0]
        if expiration is not None:
            template = evolve(template, expiration=expiration)

        def rows() -> Iterator[tuple[Any, ...]]:
            for i, tid in enumerate(ids):
                at = start + timedelta(microseconds=i)
                yield thread_to_row(
                    evolve(template, id=tid, created_at=at, updated_at=at, last_activity_at=at)
                )

        conn.executemany(f"INSERT INTO threads ({THREAD_COLUMNS}) VALUES ({', '.join('?' * 16)})", rows())
    return ids

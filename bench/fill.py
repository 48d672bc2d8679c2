"""Put threads and messages into a store: through the REST API, or straight into SQLite.

The API fill is what a user would do (concurrent ``POST /v1/threads/{id}/messages``).
The direct writes are for sizes the API would take minutes to reach: with the server
stopped, they write rows built by the server's own code (``adapters.storage.rows`` from
``core.model`` values), and a message append moves its thread's ``next_seq``,
``message_count`` and last activity exactly as appends through the server would.
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

import httpx
from attrs import evolve, frozen

from adapters.storage.rows import THREAD_COLUMNS, message_to_row, thread_from_row, thread_to_row
from core.clock import RandomIds
from core.messages import MESSAGE_PREFIX
from core.model import Author, ExpirationConfig, Message, Role, TextPart, Thread

_FILLER = "The quick brown fox jumps over the lazy dog. " * 4
_ALPHABET = string.ascii_letters + string.digits
BATCH = 100_000  # rows per transaction


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
    r = await client.post("/v1/threads", json={})
    if r.status_code != 200:
        raise RuntimeError(f"POST /v1/threads: HTTP {r.status_code} {r.text[:300]}")
    return str(r.json()["id"])


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
            r = await client.post(f"/v1/threads/{thread_id}/messages", json=body)
            if r.status_code != 200:
                raise RuntimeError(
                    f"POST /v1/threads/{thread_id}/messages: HTTP {r.status_code} {r.text[:300]}"
                )
            ids.append(str(r.json()["id"]))

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return Fill(thread_id, count, "api", time.perf_counter() - began, tuple(ids))


@contextmanager
def _writing(db: Path) -> Iterator[sqlite3.Connection]:
    """One connection to a store no server has open; rolled back on error, checkpointed after."""
    conn = sqlite3.connect(db, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA cache_size = -262144")  # 256 MiB: the id indexes stay in memory
        yield conn
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        conn.close()


def _new_id(rng: random.Random, prefix: str, length: int) -> str:
    # shaped like the server's ids (core.clock.RandomIds) but from a fast, non-secret
    # generator (secrets would spend seconds on a million); the unique index guards collisions
    return prefix + "".join(rng.choices(_ALPHABET, k=length))


def fill_sqlite(db: Path, thread_id: str, count: int) -> Fill:
    """Append ``count`` messages to an existing thread while no server has the file open."""
    began = time.perf_counter()
    rng = random.Random(thread_id)
    with _writing(db) as conn:
        conn.execute("BEGIN IMMEDIATE")
        query = f"SELECT {THREAD_COLUMNS}, next_seq, message_count FROM threads WHERE id = ?"
        row = conn.execute(query, (thread_id,)).fetchone()
        if row is None:
            raise LookupError(f"no thread {thread_id} in {db}")
        thread, first_seq, existing = thread_from_row(row[:16]), int(row[16]), int(row[17])
        # like the server's clock: never behind the thread's last activity, one microsecond apart
        base = max(datetime.now(UTC), thread.last_activity_at)
        author = Author(id=thread.default_message_author_id, role=Role.USER)
        ids = []
        for first in range(0, count, BATCH):
            batch = []
            for i in range(first, min(count, first + BATCH)):
                message = Message(
                    id=_new_id(rng, MESSAGE_PREFIX, RandomIds.LENGTH),
                    thread_id=thread_id,
                    created_by=thread.created_by,  # the caller that made the thread appends to it
                    created_at=base + timedelta(microseconds=i),
                    author=author,
                    content=(TextPart(message_text(i)),),
                )
                mid, tid, created_us, run_id, body = message_to_row(message)
                batch.append((tid, first_seq + i, mid, created_us, run_id, body))
                ids.append(mid)
            insert = (
                "INSERT INTO messages (thread_id, seq, id, created_us, run_id, body) VALUES (?,?,?,?,?,?)"
            )
            conn.executemany(insert, batch)
        if count:
            last = thread_to_row(evolve(thread, last_activity_at=base + timedelta(microseconds=count - 1)))
            conn.execute(
                "UPDATE threads SET last_active_us = ?, expires_us = ?, next_seq = ?, message_count = ? "
                "WHERE id = ?",
                (last[9], last[12], first_seq + count, existing + count, thread_id),
            )
        conn.execute("COMMIT")
    return Fill(thread_id, count, "sqlite", time.perf_counter() - began, tuple(ids))


def write_threads(
    db: Path, template_id: str, count: int, start: datetime, expiration: ExpirationConfig | None = None
) -> list[str]:
    """``count`` threads shaped like ``template_id``'s (folder, creator; its expiry unless
    ``expiration`` is given), created one microsecond apart from ``start``, written while no
    server has the file open.  Their ids."""
    rng = random.Random()
    with _writing(db) as conn:
        row = conn.execute(f"SELECT {THREAD_COLUMNS} FROM threads WHERE id = ?", (template_id,)).fetchone()
        if row is None:
            raise LookupError(f"no thread {template_id} in {db}")
        template: Thread = thread_from_row(row)
        if expiration is not None:
            template = evolve(template, expiration=expiration)
        insert = f"INSERT INTO threads ({THREAD_COLUMNS}) VALUES ({', '.join('?' * len(row))})"
        ids: list[str] = []
        for first in range(0, count, BATCH):
            batch = []
            for i in range(first, min(count, first + BATCH)):
                at = start + timedelta(microseconds=i)
                tid = _new_id(rng, "thread_", 24)
                batch.append(
                    thread_to_row(evolve(template, id=tid, created_at=at, updated_at=at, last_activity_at=at))
                )
                ids.append(tid)
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany(insert, batch)
            conn.execute("COMMIT")
    return ids

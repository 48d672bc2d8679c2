"""Put messages into one thread: through the REST API, or straight into SQLite.

The API fill is what a user would do (concurrent ``POST /v1/threads/{id}/messages``).
The direct fill is for sizes the API would take minutes to reach: with the server
stopped, it writes rows built by the server's own code
(``adapters.storage.rows.message_to_row`` from ``core.model`` values) and moves the
thread's ``next_seq``, ``message_count`` and last activity exactly as appends would.
"""

from __future__ import annotations

import asyncio
import random
import sqlite3
import string
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from attrs import evolve, frozen

from adapters.storage.rows import THREAD_COLUMNS, message_to_row, thread_from_row, thread_to_row
from core.clock import RandomIds
from core.entries import MESSAGE_PREFIX
from core.model import Author, Message, Role, TextPart

_FILLER = "The quick brown fox jumps over the lazy dog. " * 4


def message_text(n: int) -> str:
    """The text of the n-th benchmark message (about 200 characters)."""
    return f"benchmark message {n}: {_FILLER}".rstrip()


@frozen
class Fill:
    thread_id: str
    messages: int
    method: str  # "api" or "sqlite"
    seconds: float
    # ids in the order their appends completed: roughly the thread's order
    ids: tuple[str, ...]
    # share of one core the server used while filling through the API
    server_cpu: float | None = None

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
    client: httpx.AsyncClient, thread_id: str, count: int, *, concurrency: int, time_limit: float
) -> Fill:
    """Append ``count`` messages with ``concurrency`` requests in flight; fail past ``time_limit``."""
    ids: list[str] = []
    next_n = 0
    began = time.perf_counter()
    deadline = began + time_limit

    async def worker() -> None:
        nonlocal next_n
        while next_n < count:
            if time.perf_counter() > deadline:
                raise TimeoutError(f"API fill passed its {time_limit:.0f}s limit at {len(ids)} messages")
            n = next_n
            next_n += 1
            r = await client.post(
                f"/v1/threads/{thread_id}/messages", json={"role": "user", "content": message_text(n)}
            )
            if r.status_code != 200:
                raise RuntimeError(
                    f"POST /v1/threads/{thread_id}/messages: HTTP {r.status_code} {r.text[:300]}"
                )
            ids.append(str(r.json()["id"]))

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return Fill(thread_id, count, "api", time.perf_counter() - began, tuple(ids))


def fill_sqlite(db_path: Path, thread_id: str, count: int) -> Fill:
    """Append ``count`` messages to an existing thread while no server has the file open."""
    began = time.perf_counter()
    # ids shaped like the server's (core.clock.RandomIds) but from a fast, non-secret generator:
    # secrets.choice would spend seconds on 100,000 ids; the unique index still guards collisions
    rng = random.Random(thread_id)
    alphabet = string.ascii_letters + string.digits
    conn = sqlite3.connect(db_path, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("BEGIN IMMEDIATE")
        row = conn.execute(
            f"SELECT {THREAD_COLUMNS}, next_seq, message_count FROM threads WHERE id = ?", (thread_id,)
        ).fetchone()
        if row is None:
            raise LookupError(f"no thread {thread_id} in {db_path}")
        thread = thread_from_row(row[:16])
        first_seq, existing = int(row[16]), int(row[17])
        # like the server's clock: never behind the thread's last activity, one microsecond apart
        base = max(datetime.now(UTC), thread.last_activity_at)
        author = Author(id=thread.default_message_author_id, role=Role.USER)
        made: list[str] = []
        batch: list[tuple[object, ...]] = []

        def flush() -> None:
            conn.executemany(
                "INSERT INTO messages (thread_id, seq, id, created_us, run_id, body) VALUES (?,?,?,?,?,?)",
                batch,
            )
            batch.clear()

        for i in range(count):
            message = Message(
                id=MESSAGE_PREFIX + "".join(rng.choices(alphabet, k=RandomIds.LENGTH)),
                thread_id=thread_id,
                # the caller that created the thread through the API appends its messages too
                created_by=thread.created_by,
                created_at=base + timedelta(microseconds=i),
                author=author,
                content=(TextPart(message_text(i)),),
            )
            mid, tid, created_us, run_id, body = message_to_row(message)
            batch.append((tid, first_seq + i, mid, created_us, run_id, body))
            made.append(mid)
            if len(batch) >= 10_000:
                flush()
        flush()
        last = base + timedelta(microseconds=max(count - 1, 0))
        updated = thread_to_row(evolve(thread, last_activity_at=last) if count else thread)
        conn.execute(
            "UPDATE threads SET last_active_us = ?, expires_us = ?, next_seq = ?, message_count = ? "
            "WHERE id = ?",
            (updated[9], updated[12], first_seq + count, existing + count, thread_id),
        )
        conn.execute("COMMIT")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    finally:
        conn.close()
    return Fill(thread_id, count, "sqlite", time.perf_counter() - began, tuple(made))

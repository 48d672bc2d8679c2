"""Group commit: concurrent writes share one SQLite transaction and one fsync.

One thread owns the write connection.  Writes queue up; when the writer is free it
takes every queued write (up to ``max_batch``), runs them all in one ``BEGIN
IMMEDIATE`` transaction, commits once, and only then answers every caller.  A write
that raises gets its exception and leaves no trace; the others in the batch are
unaffected (the batch is run again with each write in a ``SAVEPOINT`` of its own).
If the transaction cannot start, or a statement meets a store outage (disk full,
read-only file, I/O error), nothing in the batch was stored and every caller gets
``Unavailable`` (safe to retry).  If COMMIT itself fails, the outcome is unknown and
every caller gets ``Unavailable`` saying so.

So with ``synchronous=FULL`` each acknowledged write is on disk, as before, but
32 writes in flight cost one ``fsync`` instead of 32.  Nothing waits on a timer: an
idle writer is woken at the end of the event loop's turn (so the writes of that turn
go together), and a busy one finds the writes queued while it committed.  The loop
is woken once per batch, not once per write.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from adapters.storage.sqlite_errors import is_outage, translate

T = TypeVar("T")
Write = Callable[[sqlite3.Connection], Any]

_Job = tuple[Write, "asyncio.Future[Any]"]


class _Refused(Exception):
    """A write of a batch run without savepoints raised."""


class WriterClosed(RuntimeError):
    """The store was closed before this write could run."""


class GroupCommitWriter:
    def __init__(
        self,
        conn: sqlite3.Connection,
        *,
        max_batch: int = 256,
        lock_timeout: float = 10.0,
        name: str = "sqlite-writer",
    ) -> None:
        """``conn`` should have ``busy_timeout = 0``: the writer waits for the lock itself."""
        self._conn = conn
        self.lock_timeout = lock_timeout
        self._max_batch = max_batch
        self._jobs: list[_Job] = []
        self._ready = threading.Condition(threading.Lock())
        self._closing = False
        self._wake_pending = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()
        # counters, read by tests and metrics: transactions committed, writes in them
        self.batches = 0
        self.writes = 0

    @property
    def connection(self) -> sqlite3.Connection:
        return self._conn

    def submit(self, fn: Callable[[sqlite3.Connection], T]) -> asyncio.Future[T]:
        """Queue ``fn`` to run in the next transaction; the future resolves after COMMIT.

        An idle writer is woken at the end of the loop's current turn, not at once, so
        the writes that turn's requests make share one transaction.  (Where an fsync is
        quick, a writer woken per write commits each alone, and the per-transaction
        work, not the disk, becomes the limit.)
        """
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        with self._ready:
            if self._closing:
                raise WriterClosed("store is closed")
            self._jobs.append((fn, future))
            wake = not self._wake_pending
            self._wake_pending = True
        if wake:
            loop.call_soon(self._wake)
        return future

    def _wake(self) -> None:
        with self._ready:
            self._wake_pending = False
            self._ready.notify()

    def close(self) -> None:
        """Finish the queued writes, then stop the thread."""
        with self._ready:
            self._closing = True
            self._ready.notify()
        self._thread.join()

    def _run(self) -> None:
        while True:
            with self._ready:
                while not self._jobs and not self._closing:
                    self._ready.wait()
                if not self._jobs:
                    return
                batch = self._jobs[: self._max_batch]
                del self._jobs[: self._max_batch]
            outcomes = self._commit(batch)
            self._answer(batch, outcomes)

    def _commit(self, batch: list[_Job]) -> list[tuple[bool, Any]]:
        try:
            outcomes = self._transaction(batch, isolated=False)
        except _Refused:
            # a write raised: run the batch again, now with each write in a savepoint
            # of its own, so the others still commit (writes are functions of what the
            # database holds, so running one again after the rollback is safe)
            outcomes = self._transaction(batch, isolated=True)
        self.writes += sum(1 for ok, _ in outcomes if ok)
        return outcomes

    def _transaction(self, batch: list[_Job], *, isolated: bool) -> list[tuple[bool, Any]]:
        """Run ``batch`` in one transaction.  Not ``isolated``, a write that raises
        rolls everything back (``_Refused``): two statements fewer per write in the
        common case where none does.  A store outage (disk full, read-only, I/O error:
        see ``sqlite_errors``) fails the whole batch, as SQLite may have rolled the
        transaction back already; callers get ``Unavailable``."""
        conn = self._conn
        outcomes: list[tuple[bool, Any]] = []
        try:
            self._begin()
        except BaseException as exc:
            return _failed(batch, exc, committing=False)
        try:
            for fn, _ in batch:
                if not isolated:
                    try:
                        outcomes.append((True, fn(conn)))
                    except Exception as exc:
                        if len(batch) == 1 or is_outage(exc):
                            raise
                        raise _Refused from exc
                    continue
                conn.execute("SAVEPOINT write")
                try:
                    result = fn(conn)
                except Exception as exc:
                    if is_outage(exc):
                        raise
                    conn.execute("ROLLBACK TO write")
                    conn.execute("RELEASE write")
                    outcomes.append((False, exc))
                else:
                    conn.execute("RELEASE write")
                    outcomes.append((True, result))
        except _Refused:
            self._rollback()
            raise
        except BaseException as exc:
            # the lone write failed, or the connection itself did (disk full, read-only):
            # nothing of this batch is stored, and every caller hears so
            self._rollback()
            return _failed(batch, exc, committing=False)
        try:
            conn.execute("COMMIT")
        except BaseException as exc:
            # an I/O error here may come after the commit record reached the file
            self._rollback()
            return _failed(batch, exc, committing=True)
        self.batches += 1
        return outcomes

    def _begin(self) -> None:
        """``BEGIN IMMEDIATE``, waiting up to ``lock_timeout`` for another process's write
        lock.  SQLite's own busy handler sleeps 1, 2, 5, 10 … 100 ms between tries, which
        with ``--workers`` on one file made a writer wait up to 100 ms for a lock held for
        well under one; this tries again after 0.1 ms, doubling up to 2 ms."""
        deadline = time.monotonic() + self.lock_timeout
        pause = 0.0001
        while True:
            try:
                self._conn.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as exc:
                if exc.sqlite_errorcode != sqlite3.SQLITE_BUSY or time.monotonic() + pause > deadline:
                    raise
            time.sleep(pause)
            pause = min(pause * 2, 0.002)

    def _rollback(self) -> None:
        with contextlib.suppress(sqlite3.Error):
            if self._conn.in_transaction:
                self._conn.execute("ROLLBACK")

    @staticmethod
    def _answer(batch: list[_Job], outcomes: list[tuple[bool, Any]]) -> None:
        by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Any], bool, Any]]] = {}
        for (_, future), (ok, value) in zip(batch, outcomes, strict=True):
            by_loop.setdefault(future.get_loop(), []).append((future, ok, value))
        for loop, answers in by_loop.items():
            # a closed loop has nobody waiting any more
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(_deliver, answers)


def _failed(batch: list[_Job], exc: BaseException, *, committing: bool) -> list[tuple[bool, Any]]:
    """Every write of ``batch`` failed with ``exc``: one exception object per caller."""
    if not is_outage(exc):
        return [(False, exc)] * len(batch)
    return [(False, translate(exc, committing=committing)) for _ in batch]


def _deliver(answers: list[tuple[asyncio.Future[Any], bool, Any]]) -> None:
    for future, ok, value in answers:
        if future.cancelled():
            continue  # the caller went away; the write stands, as it would have anyway
        if ok:
            future.set_result(value)
        else:
            future.set_exception(value)

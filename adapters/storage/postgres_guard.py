"""Every use of a pooled PostgreSQL connection, bounded in time and with outages translated.

The server's ``statement_timeout`` cannot fire when the server is gone or frozen, so
the client bounds everything itself: waiting for a pooled connection
(``acquire_timeout``) and each statement (the pool's ``command_timeout``).  A
connection that timed out or broke is terminated, never handed out again; the pool
makes a new one when the server answers again.

Driver errors that mean "the store cannot answer now" become ``Unavailable``:

* *lost*: no answer or no connection (``OSError``, ``TimeoutError``, class 08, a
  FATAL/PANIC from the server such as an admin shutdown, asyncpg's "connection is
  closed").  If that happens while a commit is in flight (COMMIT, or a write sent
  as one statement that commits by itself) the outcome is unknown: ``retry_safe``
  is False unless the write carried an idempotency key (``deduped``);
* *refused*: the server answered ERROR for an outage reason (statement timeout or
  lock wait, deadlock, serialization, out of disk or memory, read-only, I/O error):
  the transaction rolled back, nothing is stored.

Everything else (a unique violation, a bad query, a ``DomainError`` raised by the
caller) passes through unchanged, after the transaction is rolled back.
"""

from __future__ import annotations

import asyncio
from types import TracebackType
from typing import Any, Literal

import asyncpg

from core.errors import Unavailable

_REFUSED_CLASSES = frozenset({"40", "53", "57", "58"})
_REFUSED_STATES = frozenset({"55P03", "25006"})

Kind = Literal["lost", "refused"]


def classify(exc: BaseException) -> Kind | None:
    if isinstance(exc, OSError | TimeoutError):
        return "lost"
    if type(exc) is asyncpg.InterfaceError:  # "connection is closed", "pool is closing"
        return "lost"
    if isinstance(exc, asyncpg.PostgresError):
        state = str(exc.sqlstate or "")
        if state.startswith("08"):
            return "lost"
        if state[:2] not in _REFUSED_CLASSES and state not in _REFUSED_STATES:
            return None
        severity = str(getattr(exc, "severity_en", None) or getattr(exc, "severity", None) or "ERROR")
        return "lost" if severity.upper() in ("FATAL", "PANIC") else "refused"
    return None


def describe(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "PostgreSQL: no answer within the timeout"
    return f"PostgreSQL: {type(exc).__name__}: {exc}"


def unavailable(exc: BaseException, *, retry_safe: bool) -> Unavailable:
    error = Unavailable(describe(exc), retry_safe=retry_safe)
    error.__cause__ = exc
    return error


class Guard:
    def __init__(self, pool: Any, acquire_timeout: float) -> None:
        self.pool = pool
        self.acquire_timeout = acquire_timeout

    def read(self) -> Use:
        """Statements that only read."""
        return Use(self, transaction=False, commits=False, deduped=False)

    def write(self) -> Use:
        """One statement that commits by itself."""
        return Use(self, transaction=False, commits=True, deduped=False)

    def transaction(self, *, deduped: bool = False) -> Use:
        """BEGIN … COMMIT around the block; ``deduped`` when it records an idempotency claim."""
        return Use(self, transaction=True, commits=False, deduped=deduped)


class Use:
    """``async with guard.read() as conn``: a connection for the block, released after."""

    __slots__ = ("_committing", "_conn", "_deduped", "_guard", "_transaction")

    def __init__(self, guard: Guard, *, transaction: bool, commits: bool, deduped: bool) -> None:
        self._guard = guard
        self._transaction = transaction
        self._committing = commits
        self._deduped = deduped
        self._conn: Any = None

    async def __aenter__(self) -> Any:
        guard = self._guard
        try:
            self._conn = await guard.pool.acquire(timeout=guard.acquire_timeout)
        except Exception as exc:
            if classify(exc) is None:
                raise
            raise unavailable(exc, retry_safe=True) from exc  # nothing was sent
        if self._transaction:
            try:
                await self._conn.execute("BEGIN")
            except BaseException as exc:
                error = await self._failed(exc)
                if error is exc:
                    raise
                raise error from exc
        return self._conn

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc is not None:
            error = await self._failed(exc)
            if error is exc:
                return
            raise error from exc
        if self._transaction:
            self._committing = True
            try:
                await self._conn.execute("COMMIT")
            except BaseException as commit_exc:
                error = await self._failed(commit_exc)
                if error is commit_exc:
                    raise
                raise error from commit_exc
        await self._guard.pool.release(self._conn)

    async def _failed(self, exc: BaseException) -> BaseException:
        """Clean up after ``exc`` and release the connection; returns what to raise."""
        conn = self._conn
        kind = classify(exc)
        try:
            if kind == "lost" or isinstance(exc, asyncio.CancelledError):
                conn.terminate()  # its state is unknown: never reuse it
            elif conn.is_in_transaction():
                try:
                    await conn.execute("ROLLBACK")
                except asyncio.CancelledError:
                    conn.terminate()
                    raise
                except Exception:
                    conn.terminate()  # the server rolls back what it loses
        finally:
            await self._guard.pool.release(conn)
        if kind is None:
            return exc
        unknown = kind == "lost" and self._committing and not self._deduped
        return unavailable(exc, retry_safe=not unknown)

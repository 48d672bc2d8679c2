"""The storage port: what the core needs from a database, nothing more.

Every backend (in-memory, SQLite, PostgreSQL) implements ``ThreadStore`` and
passes the one contract test suite in ``tests/storage``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Literal, Protocol

from attrs import frozen

from core.access import KeyStore
from core.errors import InvalidArgument, ResourceExhausted
from core.model import Entry, Thread

Order = Literal["asc", "desc"]


@frozen
class ThreadPosition:
    """A place in a folder's newest-first thread list (keyset, never an offset)."""

    created_at: datetime
    thread_id: str


@frozen
class MessagePage:
    # entries in the requested order: messages and, unless the list was for plain
    # messages only, other items
    messages: list[Entry]
    has_more: bool


@frozen
class Idempotency:
    """What a request says about retries: its idempotency key and a fingerprint of it."""

    key: str
    fingerprint: str

    @classmethod
    def of(cls, key: str, canonical_request: bytes) -> Idempotency:
        """A face's idempotency key and its request in a canonical form (sorted JSON,
        deterministic protobuf): the same request always gets the same fingerprint."""
        return cls(key=key, fingerprint=hashlib.sha256(canonical_request).hexdigest())

    def claim(self, scope: str, target: str, now: datetime, window: timedelta) -> IdempotencyClaim:
        """``target`` is what the request acts on (the folder a thread is created in, the
        thread a message is added to): the same key and body sent for another target is
        another request, never a replay of the first."""
        if not self.key or len(self.key) > 256 or "\x00" in self.key:
            raise InvalidArgument("idempotency_key", "invalid_idempotency_key", maximum=256)
        fingerprint = hashlib.sha256(f"{target}\x00{self.fingerprint}".encode()).hexdigest()
        return IdempotencyClaim(scope, self.key, fingerprint, now, now - window)


@frozen
class IdempotencyClaim:
    """ "Do this once": a retried create with the same key returns the first result.

    ``scope`` names the caller and the operation; a record older than
    ``not_before`` no longer counts; ``fingerprint`` identifies the request, so a
    key reused for a different request is refused.
    """

    scope: str
    key: str
    fingerprint: str
    now: datetime
    not_before: datetime


def key_reused(claim: IdempotencyClaim) -> InvalidArgument:
    """What a store raises for a claimed key whose fingerprint differs."""
    return InvalidArgument("idempotency_key", "idempotency_key_reused", key=claim.key)


def thread_full(max_messages: int) -> ResourceExhausted:
    """What a store raises when an append would pass ``max_messages``."""
    return ResourceExhausted("messages_per_thread", max_messages)


def duplicate_id(entry_id: str) -> InvalidArgument:
    """What a store raises when an entry would take an id another entry of its thread
    has (ids are unique within a thread; a deleted entry's id is free again)."""
    return InvalidArgument("id", "duplicate_id", id=entry_id)


def unknown_cursor(name: str, message_id: str) -> InvalidArgument:
    """What a store raises for an ``after``/``before`` id that is no message of the thread."""
    return InvalidArgument(name, "invalid_cursor", id=message_id)


@frozen
class SweepResult:
    threads: int
    messages: int
    # True when the batch stopped at its row budget and more may be expired
    more: bool


ThreadChange = Callable[[Thread], Thread]
# Given the current thread, returns the thread as it is after the entries are
# added, and the entries to add (in order).  Runs inside the store's transaction.
MessageAppend = Callable[[Thread], tuple[Thread, Sequence[Entry]]]


class ThreadStore(Protocol):
    async def create_thread(
        self, thread: Thread, messages: Sequence[Entry] = (), idempotency: IdempotencyClaim | None = None
    ) -> Thread:
        """Store a new thread and its initial entries atomically; returns it.

        Raises ``duplicate_id`` if an entry's id is taken.

        With ``idempotency`` already claimed (in its window, same fingerprint), store
        nothing and return the thread made the first time (``NotFound`` if it is gone;
        ``InvalidArgument`` if the fingerprint differs).
        """
        ...

    async def get_thread(self, thread_id: str) -> Thread | None: ...

    async def update_thread(self, thread_id: str, change: ThreadChange) -> Thread | None:
        """Apply ``change`` to the stored thread atomically; None if absent.

        ``change`` may raise a ``DomainError``; the store then changes nothing.
        """
        ...

    async def delete_thread(self, thread_id: str) -> bool:
        """Delete the thread and all its messages; False if it did not exist."""
        ...

    async def list_threads(
        self,
        folder_id: str,
        *,
        alive_at: datetime,
        limit: int,
        after: ThreadPosition | None,
    ) -> list[Thread]:
        """Threads of a folder not expired at ``alive_at``, newest first."""
        ...

    async def append_messages(
        self,
        thread_id: str,
        append: MessageAppend,
        *,
        max_messages: int,
        idempotency: IdempotencyClaim | None = None,
    ) -> list[Entry] | None:
        """Add entries at the end of a thread's total order; None if no thread.

        Raises ``ResourceExhausted`` when the thread would hold more than
        ``max_messages`` entries, ``duplicate_id`` if an entry's id is taken.
        ``idempotency`` works as for ``create_thread``.
        """
        ...

    async def get_message(self, thread_id: str, message_id: str) -> Entry | None: ...

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
        """A page of entries in creation order (or its reverse); None if no thread.

        ``after``/``before`` are entry ids relative to ``order`` (any entry's, even one
        the page leaves out, or a deleted one's).  ``plain_only`` leaves out every entry
        that is not a plain message (``core.model.is_plain``).  Raises
        ``InvalidArgument`` if a cursor id is not an entry of this thread.
        """
        ...

    async def update_message(
        self, thread_id: str, message_id: str, change: Callable[[Entry], Entry]
    ) -> Entry | None: ...

    async def delete_message(self, thread_id: str, message_id: str) -> bool: ...

    async def delete_expired(self, now: datetime, *, max_rows: int) -> SweepResult:
        """Delete threads with ``expires_at <= now`` and their messages, at most
        about ``max_rows`` rows, in one transaction."""
        ...

    async def forget_idempotency(self, before: datetime) -> int:
        """Drop idempotency records made before ``before``; returns how many."""
        ...

    async def ping(self) -> None:
        """Raise if the store cannot serve requests."""
        ...

    async def close(self) -> None: ...


class Store(ThreadStore, KeyStore, Protocol):
    """A backend that keeps threads, messages and API keys in one database."""

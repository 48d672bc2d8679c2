"""In-memory ThreadStore: the fake for core tests, and ``--database memory:``."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import datetime

from attrs import define, evolve, field

from core.access import ApiKey
from core.errors import NotFound
from core.model import Entry, Thread, is_plain
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


@define
class _ThreadRow:
    thread: Thread
    next_seq: int = 1
    # seq -> entry, in insertion (= seq) order
    messages: dict[int, Entry] = field(factory=dict)
    seq_of: dict[str, int] = field(factory=dict)
    # seqs of deleted messages, so an id handed out as a cursor stays usable
    tombstones: dict[str, int] = field(factory=dict)


class InMemoryStore:
    def __init__(self) -> None:
        self._threads: dict[str, _ThreadRow] = {}
        self._keys: dict[str, ApiKey] = {}
        # (scope, key) -> (fingerprint, created_at, result ids)
        self._claims: dict[tuple[str, str], tuple[str, datetime, list[str]]] = {}
        self._lock = asyncio.Lock()

    def _claimed(self, claim: IdempotencyClaim | None) -> list[str] | None:
        if claim is None:
            return None
        found = self._claims.get((claim.scope, claim.key))
        if found is None or found[1] < claim.not_before:
            return None
        if found[0] != claim.fingerprint:
            raise key_reused(claim)
        return found[2]

    def _claim(self, claim: IdempotencyClaim | None, ids: list[str]) -> None:
        if claim is not None:
            self._claims[(claim.scope, claim.key)] = (claim.fingerprint, claim.now, ids)

    async def create_thread(
        self, thread: Thread, messages: Sequence[Entry] = (), idempotency: IdempotencyClaim | None = None
    ) -> Thread:
        async with self._lock:
            first = self._claimed(idempotency)
            if first is not None:
                existing = self._threads.get(first[0])
                if existing is None:
                    raise NotFound("thread", first[0])
                return existing.thread
            row = _ThreadRow(thread=thread)
            for message in messages:
                self._check_ids(row, [message])
                self._put(row, message)
            self._threads[thread.id] = row
            self._claim(idempotency, [thread.id])
            return thread

    @staticmethod
    def _check_ids(row: _ThreadRow | None, entries: Sequence[Entry]) -> None:
        """An entry id is unique within its thread."""
        for entry in entries:
            if row is not None and entry.id in row.seq_of:
                raise duplicate_id(entry.id)

    def _put(self, row: _ThreadRow, message: Entry) -> None:
        seq = row.next_seq
        row.next_seq += 1
        row.messages[seq] = message
        row.seq_of[message.id] = seq
        row.tombstones.pop(message.id, None)

    def _drop(self, row: _ThreadRow, seq: int) -> Entry:
        entry = row.messages.pop(seq)
        del row.seq_of[entry.id]
        return entry

    async def get_thread(self, thread_id: str) -> Thread | None:
        row = self._threads.get(thread_id)
        return row.thread if row else None

    async def update_thread(self, thread_id: str, change: ThreadChange) -> Thread | None:
        async with self._lock:
            row = self._threads.get(thread_id)
            if row is None:
                return None
            row.thread = change(row.thread)
            return row.thread

    async def delete_thread(self, thread_id: str) -> bool:
        async with self._lock:
            return self._threads.pop(thread_id, None) is not None

    async def list_threads(
        self,
        folder_id: str,
        *,
        alive_at: datetime,
        limit: int,
        after: ThreadPosition | None,
    ) -> list[Thread]:
        candidates = [
            r.thread
            for r in self._threads.values()
            if r.thread.folder_id == folder_id and r.thread.expires_at > alive_at
        ]
        candidates.sort(key=lambda t: (t.created_at, t.id), reverse=True)
        if after is not None:
            key = (after.created_at, after.thread_id)
            candidates = [t for t in candidates if (t.created_at, t.id) < key]
        return candidates[:limit]

    async def append_messages(
        self,
        thread_id: str,
        append: MessageAppend,
        *,
        max_messages: int,
        idempotency: IdempotencyClaim | None = None,
    ) -> list[Entry] | None:
        async with self._lock:
            row = self._threads.get(thread_id)
            if row is None:
                return None
            first = self._claimed(idempotency)
            if first is not None:
                if any(i not in row.seq_of for i in first):
                    raise NotFound("message", first[0])
                return [row.messages[row.seq_of[i]] for i in first]
            thread, messages = append(row.thread)
            if len(row.messages) + len(messages) > max_messages:
                raise thread_full(max_messages)
            self._check_ids(row, messages)
            row.thread = thread
            for message in messages:
                self._put(row, message)
            self._claim(idempotency, [m.id for m in messages])
            return list(messages)

    async def get_message(self, thread_id: str, message_id: str) -> Entry | None:
        row = self._threads.get(thread_id)
        if row is None or message_id not in row.seq_of:
            return None
        return row.messages[row.seq_of[message_id]]

    def _cursor(self, row: _ThreadRow, name: str, message_id: str) -> int:
        seq = row.seq_of.get(message_id, row.tombstones.get(message_id))
        if seq is None:
            raise unknown_cursor(name, message_id)
        return seq

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
        row = self._threads.get(thread_id)
        if row is None:
            return None
        seqs = sorted(row.messages, reverse=order == "desc")
        if run_id is not None:
            seqs = [s for s in seqs if getattr(row.messages[s], "run_id", None) == run_id]
        if plain_only:
            seqs = [s for s in seqs if is_plain(row.messages[s])]
        # positions along the requested order
        if after is not None:
            cut = self._cursor(row, "after", after)
            seqs = [s for s in seqs if (s > cut if order == "asc" else s < cut)]
        if before is not None:
            cut = self._cursor(row, "before", before)
            seqs = [s for s in seqs if (s < cut if order == "asc" else s > cut)]
            if after is None:
                # the page just before the cursor, in the requested order
                has_more = len(seqs) > limit
                page = seqs[-limit:] if limit else []
                return MessagePage([row.messages[s] for s in page], has_more)
        has_more = len(seqs) > limit
        return MessagePage([row.messages[s] for s in seqs[:limit]], has_more)

    async def update_message(
        self, thread_id: str, message_id: str, change: Callable[[Entry], Entry]
    ) -> Entry | None:
        async with self._lock:
            row = self._threads.get(thread_id)
            if row is None or message_id not in row.seq_of:
                return None
            seq = row.seq_of[message_id]
            row.messages[seq] = change(row.messages[seq])
            return row.messages[seq]

    async def delete_message(self, thread_id: str, message_id: str) -> bool:
        async with self._lock:
            row = self._threads.get(thread_id)
            if row is None or message_id not in row.seq_of:
                return False
            seq = row.seq_of[message_id]
            self._drop(row, seq)
            row.tombstones[message_id] = seq
            return True

    async def delete_expired(self, now: datetime, *, max_rows: int) -> SweepResult:
        async with self._lock:
            threads = messages = 0
            budget = max_rows
            for thread_id in [i for i, r in self._threads.items() if r.thread.expires_at <= now]:
                row = self._threads[thread_id]
                if len(row.messages) >= budget:
                    for seq in list(row.messages)[:budget]:
                        self._drop(row, seq)
                    return SweepResult(threads, messages + budget, more=True)
                budget -= len(row.messages) + 1
                messages += len(row.messages)
                threads += 1
                del self._threads[thread_id]
                if budget <= 0:
                    return SweepResult(threads, messages, more=True)
            return SweepResult(threads, messages, more=False)

    async def forget_idempotency(self, before: datetime) -> int:
        async with self._lock:
            old = [k for k, (_, at, _) in self._claims.items() if at < before]
            for k in old:
                del self._claims[k]
            return len(old)

    async def add_key(self, key: ApiKey) -> None:
        self._keys[key.id] = key

    async def get_key(self, key_id: str) -> ApiKey | None:
        return self._keys.get(key_id)

    async def list_keys(self) -> list[ApiKey]:
        return sorted(self._keys.values(), key=lambda k: (k.created_at, k.id))

    async def revoke_key(self, key_id: str, at: datetime) -> bool:
        key = self._keys.get(key_id)
        if key is None:
            return False
        if key.revoked_at is None:
            self._keys[key_id] = evolve(key, revoked_at=at)
        return True

    # -- transfer (core.transfer) ----------------------------------------------------

    @asynccontextmanager
    async def snapshot(self, where: ThreadFilter = EVERYTHING) -> AsyncIterator[Snapshot]:
        """Writers wait while the snapshot is open: the view stays consistent."""
        async with self._lock:
            yield _MemorySnapshot(self._threads, where)

    async def import_batch(
        self, thread: Thread, entries: Sequence[Entry], *, overwrite: bool = False
    ) -> BatchResult:
        async with self._lock:
            row = self._threads.get(thread.id)
            written = row is None or overwrite or row.thread.updated_at <= thread.updated_at
            if row is None:
                row = self._threads[thread.id] = _ThreadRow(thread=thread)
            elif written:
                row.thread = thread
            added = rewritten = 0
            for entry in entries:
                seq = row.seq_of.get(entry.id)
                if seq is None:
                    self._put(row, entry)
                    added += 1
                elif overwrite:
                    row.messages[seq] = entry
                    rewritten += 1
            return BatchResult(written, added, rewritten)

    async def ping(self) -> None:
        return None

    async def close(self) -> None:
        return None


class _MemorySnapshot:
    def __init__(self, threads: dict[str, _ThreadRow], where: ThreadFilter) -> None:
        self._rows = threads
        self._where = where

    def _passes(self, t: Thread) -> bool:
        w = self._where
        if w.folder_id is not None and t.folder_id != w.folder_id:
            return False
        return w.since is None or max(t.updated_at, t.last_activity_at) >= w.since

    async def counts(self) -> tuple[int, int]:
        rows = [r for r in self._rows.values() if self._passes(r.thread)]
        return len(rows), sum(len(r.messages) for r in rows)

    async def threads(self, after: str | None, limit: int) -> list[Thread]:
        ids = sorted(i for i in self._rows if after is None or i > after)
        found = [self._rows[i].thread for i in ids if self._passes(self._rows[i].thread)]
        return found[:limit]

    async def entries(self, thread_id: str, after: int, limit: int) -> list[tuple[int, Entry]]:
        row = self._rows[thread_id]
        return [(s, row.messages[s]) for s in sorted(row.messages) if s > after][:limit]

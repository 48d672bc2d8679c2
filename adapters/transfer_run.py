"""Export and import in bounded memory, over the transfer port (``core.transfer``).

Export reads one snapshot in keyset pages and writes records as it goes.  Import
reads a line at a time and writes each thread with its entries in batches of at
most ``batch`` entries, one transaction each (``TransferStore.import_batch``): a
thread of up to ``batch`` entries lands whole or not at all; a bigger one lands in
ordered batches, and the entries stored are always the first ones of the thread, so
a rerun after a crash adds exactly the rest.  Nothing is held but one batch.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import BinaryIO

from attrs import define, field, frozen

from adapters.export_format import (
    BadRecord,
    check_header,
    decode,
    encode,
    end,
    entry_from,
    entry_record,
    header,
    thread_from,
    thread_record,
)
from adapters.progress import Progress, Silent
from core.errors import InvalidArgument
from core.model import Entry, Thread
from core.transfer import Snapshot, SnapshotSource, ThreadFilter, TransferStore, check_entry, check_thread

THREAD_PAGE = 200
# entries per read page and per import transaction: memory is bounded by this many of
# the largest entries (a message of at most about 1.3 MiB, an item of 2 MiB)
ENTRY_PAGE = 200
BATCH = 500


async def export(
    store: SnapshotSource,
    out: BinaryIO,
    where: ThreadFilter,
    now: datetime,
    page: int = ENTRY_PAGE,
    shown: Callable[[int | None], Progress] | None = None,
) -> tuple[int, int]:
    """Write the store (what ``where`` picks) to ``out``; returns (threads, entries).
    ``shown``: makes the progress display, given the records to come."""
    async with store.snapshot(where) as snap:
        progress = shown(sum(await snap.counts())) if shown else Silent()
        try:
            return await _write(snap, out, now, page, progress)
        finally:
            progress.close()


async def _write(
    snap: Snapshot, out: BinaryIO, now: datetime, page: int, progress: Progress
) -> tuple[int, int]:
    threads = entries = 0
    out.write(encode(header(now)))
    after: str | None = None
    while found := await snap.threads(after, THREAD_PAGE):
        for t in found:
            out.write(encode(thread_record(t)))
            threads += 1
            position = 0
            while rows := await snap.entries(t.id, position, page):
                out.writelines(encode(entry_record(e)) for _, e in rows)
                entries += len(rows)
                position = rows[-1][0]
            progress.update(threads + entries, threads + entries)
        after = found[-1].id
    out.write(encode(end(threads, entries)))
    return threads, entries


@frozen
class Refusal:
    line: int
    reason: str
    detail: str
    id: str | None = None

    def as_json(self) -> dict[str, object]:
        return {"line": self.line, "reason": self.reason, "detail": self.detail, "id": self.id}


@frozen
class ImportOptions:
    batch: int = BATCH  # entries per transaction of a big thread
    overwrite: bool = False  # the records win over what is stored, even when it is newer
    strict: bool = False  # stop at the first refused record
    max_ttl_days: int | None = None  # refuse threads that live longer than the server allows


class StoppedAtRefusal(Exception):
    """``strict``: the first refusal ends the import (the thread it is in is not completed)."""


@define
class ImportStats:
    threads: int = 0  # thread records stored
    threads_kept: int = 0  # of those, already stored with a newer updated_at: left as they were
    entries: int = 0  # entry records accepted
    entries_added: int = 0  # of those, not stored before
    entries_rewritten: int = 0  # of those, stored before and rewritten (overwrite)
    refused: Counter[str] = field(factory=Counter)
    complete: bool = False  # the end record was read
    stopped_at: int | None = None  # strict: the line of the refusal that ended the import


class _Importer:
    def __init__(
        self, store: TransferStore, refuse: Callable[[Refusal], None], options: ImportOptions
    ) -> None:
        self.store = store
        self.refuse_to = refuse
        self.options = options
        self.batch_size = options.batch
        self.stats = ImportStats()
        self.thread: Thread | None = None  # the thread the next entries belong to
        self.refused_thread: str | None = None
        self.flushed = False
        self.batch: list[Entry] = []

    def refuse(self, r: Refusal) -> None:
        self.stats.refused[r.reason] += 1
        self.refuse_to(r)
        if self.options.strict:
            self.stats.stopped_at = r.line
            raise StoppedAtRefusal()

    async def flush(self) -> None:
        if self.thread is not None and (self.batch or not self.flushed):
            result = await self.store.import_batch(self.thread, self.batch, overwrite=self.options.overwrite)
            if not self.flushed:
                self.stats.threads += 1
                self.stats.threads_kept += not result.thread_written
            self.stats.entries_added += result.entries_added
            self.stats.entries_rewritten += result.entries_rewritten
            self.flushed = True
            self.batch = []

    async def record(self, number: int, raw: bytes) -> None:
        record = decode(raw)
        kind = record.get("type")
        if kind == "thread":
            await self.flush()
            self.thread, self.flushed = None, False
            self.refused_thread = str(record.get("id"))  # until it passes
            thread = thread_from(record)
            try:
                check_thread(thread, self.options.max_ttl_days)
            except InvalidArgument as exc:
                raise BadRecord(f"{exc.code}", f"{exc.field}: {exc}") from None
            self.thread, self.refused_thread = thread, None
        elif kind in ("message", "item"):
            entry = entry_from(record)
            if self.thread is None or entry.thread_id != self.thread.id:
                refused = self.refused_thread is not None and entry.thread_id == self.refused_thread
                reason = "thread_refused" if refused else "entry_outside_its_thread"
                raise BadRecord(reason, f"thread {entry.thread_id}")
            check_entry(entry)
            self.batch.append(entry)
            self.stats.entries += 1
            if len(self.batch) >= self.batch_size:
                await self.flush()
        elif kind == "end":
            await self.flush()
            self.thread = None
            self.stats.complete = True
        else:
            raise BadRecord("unknown_type", repr(kind))


async def import_lines(
    store: TransferStore,
    lines: Iterable[bytes],
    refuse: Callable[[Refusal], None],
    options: ImportOptions = ImportOptions(),
) -> ImportStats:
    """Import the records of ``lines`` (a header first); refused ones go to ``refuse``
    (with ``strict``, the first one ends the import: ``stats.stopped_at``).
    Raises ``BadRecord`` if the first line is not a version-1 header."""
    importer = _Importer(store, refuse, options)
    with contextlib.suppress(StoppedAtRefusal):  # stats.stopped_at says where
        await _run(importer, lines)
    return importer.stats


async def _run(importer: _Importer, lines: Iterable[bytes]) -> None:
    numbered = enumerate(lines, start=1)
    number = 1
    for _, first in numbered:
        check_header(decode(first))
        break
    else:
        raise BadRecord("not_an_export", "the input is empty")
    for number, raw in numbered:
        if not raw.strip():
            continue
        try:
            await importer.record(number, raw)
        except BadRecord as exc:
            importer.refuse(Refusal(number, exc.reason, exc.detail, _id_of(raw)))
        except InvalidArgument as exc:
            importer.refuse(Refusal(number, exc.code, f"{exc.field}: {exc}", _id_of(raw)))
        except TypeError as exc:  # a value of the wrong JSON type deep in a record
            importer.refuse(Refusal(number, "bad_field", str(exc), _id_of(raw)))
    await importer.flush()
    if not importer.stats.complete:
        importer.refuse(Refusal(number, "no_end_record", "the input ends before its end record"))


def _id_of(raw: bytes) -> str | None:
    try:
        record = decode(raw)
    except BadRecord:
        return None
    value = record.get("id")
    return value if isinstance(value, str) else None

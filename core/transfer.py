"""The transfer port: reading a whole store as one consistent snapshot, and writing
threads back with their ids and timestamps, for ``threadgate export`` and ``import``.

It is its own small port, beside ``ThreadStore``: the serving port never hands out
a store-wide snapshot or takes entries with their ids, timestamps and order fixed
by someone else.  Every backend (memory, SQLite, PostgreSQL) implements it and
passes ``tests/storage/test_transfer_contract.py``.

The rules a stored record must keep (sizes, NUL, labels) are checked here too, so an
import refuses what the faces would have refused.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import Protocol, runtime_checkable

from attrs import frozen

from core.entries import NewItem, NewMessage, check_item, check_message
from core.errors import InvalidArgument
from core.model import Entry, Item, Message, Thread
from core.threads import check_file_ids, check_tools
from core.validation import MAX_AUTHOR_ID, MAX_DESCRIPTION, MAX_ID, MAX_NAME, check_labels, check_length


@frozen
class ThreadFilter:
    """Which threads a snapshot lists: one folder, and/or those changed since a time
    (``updated_at`` or ``last_activity_at`` at or after ``since``)."""

    folder_id: str | None = None
    since: datetime | None = None


EVERYTHING = ThreadFilter()


class Snapshot(Protocol):
    """One consistent view of the store; every read sees the same state.  Reads are
    keyset pages, so a snapshot of any size is read in bounded memory."""

    async def threads(self, after: str | None, limit: int) -> list[Thread]:
        """The next threads by id (code point order) after ``after``, that pass the filter."""
        ...

    async def counts(self) -> tuple[int, int]:
        """How many threads pass the filter, and how many entries they hold."""
        ...

    async def entries(self, thread_id: str, after: int, limit: int) -> list[tuple[int, Entry]]:
        """A thread's entries in its order, as (position, entry), positions after ``after``
        (0 for the first page); a position is only a cursor."""
        ...


@frozen
class BatchResult:
    thread_written: bool  # the thread's fields were (re)written from the record
    entries_added: int  # entries that were not in the thread yet
    entries_rewritten: int = 0  # entries already held, rewritten from the records (overwrite)


class SnapshotSource(Protocol):
    """What ``threadgate export`` reads from: a store opened for reading only, or a
    ``TransferStore``."""

    def snapshot(self, where: ThreadFilter = EVERYTHING) -> AbstractAsyncContextManager[Snapshot]: ...

    async def close(self) -> None: ...


@runtime_checkable
class TransferStore(Protocol):
    def snapshot(self, where: ThreadFilter = EVERYTHING) -> AbstractAsyncContextManager[Snapshot]: ...

    async def import_batch(
        self, thread: Thread, entries: Sequence[Entry], *, overwrite: bool = False
    ) -> BatchResult:
        """In one transaction: store ``thread`` (create it; or rewrite the stored one's
        fields unless the stored ``updated_at`` is newer), then add at the end of the
        thread, in order, each of ``entries`` whose id the thread does not hold yet.

        ``overwrite``: the records win: the stored thread's fields are rewritten even
        when they are newer, and each entry the thread already holds is rewritten in
        its place (its position kept) from its record.

        Ids and timestamps are kept as given; no limit on entries per thread applies.
        Running the same batch twice changes nothing the second time.
        """
        ...

    async def close(self) -> None: ...


def check_thread(t: Thread, max_ttl_days: int | None = None) -> None:
    """The rules a thread made through a face keeps (a TTL up to ``max_ttl_days``, the
    server's maximum, when given); raises ``InvalidArgument``."""
    for value, name in ((t.id, "id"), (t.folder_id, "folder_id")):
        if not value:
            raise InvalidArgument(name, "missing_required_parameter")
        check_length(value, name, MAX_ID)
    check_length(t.name, "name", MAX_NAME)
    check_length(t.description, "description", MAX_DESCRIPTION)
    for value, name in (
        (t.default_message_author_id, "default_message_author_id"),
        (t.created_by, "created_by"),
        (t.updated_by, "updated_by"),
    ):
        check_length(value, name, MAX_AUTHOR_ID)
    ttl = t.expiration.ttl_days
    if ttl < 1 or (max_ttl_days is not None and ttl > max_ttl_days):
        raise InvalidArgument("expiration.ttl_days", "ttl_out_of_range", maximum=max_ttl_days, value=ttl)
    check_labels(t.labels)
    check_tools(t.tools)
    check_file_ids(t.code_interpreter_file_ids)


def check_entry(e: Entry) -> None:
    """The rules an entry written through a face keeps; raises ``InvalidArgument``."""
    if not e.id:
        raise InvalidArgument("id", "missing_required_parameter")
    check_length(e.created_by, "created_by", MAX_AUTHOR_ID)
    if isinstance(e, Item):
        check_item(NewItem(type=e.type, data=e.data, id=e.id))
        return
    assert isinstance(e, Message)
    check_message(
        NewMessage(
            content=e.content,
            role=e.author.role,
            author_id=e.author.id,
            labels=e.labels,
            attachments=e.attachments,
            id=e.id,
            status=e.status,
            phase=e.phase,
        )
    )
    if e.run_id is not None:
        check_length(e.run_id, "run_id", MAX_ID)

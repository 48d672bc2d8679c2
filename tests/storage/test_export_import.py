"""export → import round trips on every backend and across them, field by field."""

from __future__ import annotations

import io
from datetime import timedelta
from pathlib import Path

import orjson
from attrs import evolve

from adapters.export_format import decode, entry_from, entry_record, thread_from, thread_record
from adapters.storage.memory import InMemoryStore
from adapters.storage.postgres import PostgresStore
from adapters.storage.sqlite import SqliteStore
from adapters.transfer_run import ImportOptions, Refusal, export, import_lines
from core.ports import Store
from core.transfer import ThreadFilter, TransferStore
from tests.storage.transfer_data import T, contents, dump, fill, move, rich_thread


def port(store: Store) -> TransferStore:
    assert isinstance(store, TransferStore)
    return store


def test_records_decode_to_equal_values() -> None:
    thread, entries = rich_thread(1)
    assert thread_from(decode(_line(thread_record(thread)))) == thread
    for e in entries:
        assert entry_from(decode(_line(entry_record(e)))) == e


def _line(record: object) -> bytes:
    return orjson.dumps(record)


async def test_sqlite_to_postgres_and_back_keeps_every_field(tmp_path: Path, pg_dsn: str) -> None:
    first = await SqliteStore.open(tmp_path / "a.db")
    middle = await PostgresStore.open(pg_dsn)
    last = await SqliteStore.open(tmp_path / "b.db")
    try:
        await fill(first, threads=4)
        assert await move(first, middle) == []
        assert await move(middle, last) == []
        expected = await contents(first)
        assert len(expected) == 4 and all(len(e) == 6 for _, e in expected)
        # record by record: the stores read the same, and export the same bytes
        for store in (middle, last):
            got = await contents(store)
            assert len(got) == len(expected)
            for (t1, e1), (t2, e2) in zip(expected, got, strict=True):
                assert t1 == t2
                for a, b in zip(e1, e2, strict=True):
                    assert a == b
        assert await dump(first) == await dump(middle) == await dump(last)
        # importing the same export again into PostgreSQL changes nothing
        before = await dump(middle)
        assert await move(first, middle) == []
        assert await dump(middle) == before
    finally:
        for s in (first, middle, last):
            await s.close()


async def test_memory_round_trip_and_double_import(tmp_path: Path) -> None:
    source, target = InMemoryStore(), await SqliteStore.open(tmp_path / "t.db")
    try:
        await fill(source, threads=3)
        out = io.BytesIO()
        await export(source, out, ThreadFilter(), T)
        refused: list[Refusal] = []
        once = await import_lines(target, io.BytesIO(out.getvalue()), refused.append)
        after_once = await dump(target)
        twice = await import_lines(target, io.BytesIO(out.getvalue()), refused.append)
        assert refused == []
        assert (once.threads, once.entries, once.entries_added) == (3, 18, 18)
        assert (twice.threads, twice.entries, twice.entries_added) == (3, 18, 0)
        assert await dump(target) == after_once == await dump(source)
        assert await contents(target) == await contents(source)
    finally:
        await target.close()


async def test_big_thread_lands_in_batches_in_order(tmp_path: Path) -> None:
    source, target = InMemoryStore(), await SqliteStore.open(tmp_path / "t.db")
    try:
        thread, entries = rich_thread(9)
        many = [*entries]
        for i in range(1, 40):
            many += [evolve(e, id=f"{e.id}_{i}") for e in entries]
        await source.create_thread(thread, many)
        out = io.BytesIO()
        await export(source, out, ThreadFilter(), T, page=7)
        stats = await import_lines(
            target, io.BytesIO(out.getvalue()), lambda r: None, ImportOptions(batch=11)
        )
        assert stats.entries_added == len(many) == 240
        assert await contents(target) == await contents(source)
    finally:
        await target.close()


async def test_export_filters_by_folder_and_since(tmp_path: Path) -> None:
    store = InMemoryStore()
    old, old_entries = rich_thread(1, folder="f1", at=T)
    new, new_entries = rich_thread(2, folder="f1", at=T + timedelta(days=2))
    other, other_entries = rich_thread(3, folder="f2", at=T + timedelta(days=2))
    for t, e in ((old, old_entries), (new, new_entries), (other, other_entries)):
        await store.create_thread(t, e)

    async def threads_of(where: ThreadFilter) -> list[str]:
        lines = (await dump(store, where)).splitlines()
        return [decode(x)["id"] for x in lines if decode(x).get("type") == "thread"]  # type: ignore[misc]

    assert await threads_of(ThreadFilter(folder_id="f1")) == [old.id, new.id]
    assert await threads_of(ThreadFilter(since=T + timedelta(days=1))) == [new.id, other.id]
    assert await threads_of(ThreadFilter(folder_id="f1", since=T + timedelta(days=1))) == [new.id]
    # a filtered export carries each thread whole
    assert len((await dump(store, ThreadFilter(folder_id="f2"))).splitlines()) == 1 + 6 + 1

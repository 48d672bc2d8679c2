"""The transfer port's contract (core.transfer): every backend passes all of these."""

from __future__ import annotations

from datetime import timedelta

from attrs import evolve

from core.model import Entry, Item
from core.ports import Store
from core.transfer import Snapshot, ThreadFilter, TransferStore
from tests.factories import T0, make_message, make_thread


def transfer(store: Store) -> TransferStore:
    assert isinstance(store, TransferStore)
    return store


async def all_entries(snap: Snapshot, thread_id: str, page: int = 2) -> list[Entry]:
    found: list[Entry] = []
    after = 0
    while rows := await snap.entries(thread_id, after, page):
        assert len(rows) <= page
        found += [e for _, e in rows]
        after = rows[-1][0]
    return found


async def all_thread_ids(snap: Snapshot, page: int = 2) -> list[str]:
    found: list[str] = []
    after = None
    while threads := await snap.threads(after, page):
        assert len(threads) <= page
        found += [t.id for t in threads]
        after = threads[-1].id
    return found


async def test_snapshot_pages_threads_by_id_and_entries_in_order(store: Store) -> None:
    threads = [make_thread(thread_id=f"thread_{c}") for c in "dbeac"]
    for t in threads:
        await store.create_thread(t, [make_message(t, f"{t.id} {i}") for i in range(5)])
    item = Item(id="fc_1", thread_id="thread_a", created_by="s", created_at=T0, type="function_call")
    await store.append_messages("thread_a", lambda t: (t, [item]), max_messages=100)
    await store.delete_message("thread_a", (await all_entries_of(store, "thread_a"))[1].id)
    async with transfer(store).snapshot() as snap:
        assert await all_thread_ids(snap) == [f"thread_{c}" for c in "abcde"]
        got = await all_entries(snap, "thread_a")
    assert got == await all_entries_of(store, "thread_a")
    assert len(got) == 5 and got[-1] == item


async def all_entries_of(store: Store, thread_id: str) -> list[Entry]:
    page = await store.list_messages(thread_id, order="asc", limit=1000)
    assert page is not None
    return page.messages


async def test_snapshot_filters_by_folder_and_since(store: Store) -> None:
    old = make_thread(folder_id="f1", created_at=T0)
    new = make_thread(folder_id="f1", created_at=T0 + timedelta(days=1))
    active = evolve(make_thread(folder_id="f2", created_at=T0), last_activity_at=T0 + timedelta(days=2))
    for t in (old, new, active):
        await store.create_thread(t)
    async with transfer(store).snapshot(ThreadFilter(folder_id="f1")) as snap:
        assert sorted(await all_thread_ids(snap)) == sorted([old.id, new.id])
    async with transfer(store).snapshot(ThreadFilter(since=T0 + timedelta(hours=1))) as snap:
        assert sorted(await all_thread_ids(snap)) == sorted([new.id, active.id])
    both = ThreadFilter(folder_id="f1", since=T0 + timedelta(hours=1))
    async with transfer(store).snapshot(both) as snap:
        assert await all_thread_ids(snap) == [new.id]


async def test_import_batch_keeps_ids_times_and_order_and_is_idempotent(store: Store) -> None:
    thread = make_thread(labels={"k": "v"})
    entries = [make_message(thread, f"m{i}") for i in range(6)]
    t = transfer(store)
    first = await t.import_batch(thread, entries[:4])
    assert first.thread_written and first.entries_added == 4
    # a rerun after a crash: the first batch again (nothing new), then the rest
    again = await t.import_batch(thread, entries[:4])
    assert again.entries_added == 0
    assert (await t.import_batch(thread, entries[3:])).entries_added == 2
    assert await store.get_thread(thread.id) == thread
    assert await all_entries_of(store, thread.id) == entries
    # the serving port keeps working on an imported thread
    more = make_message(thread, "after")
    await store.append_messages(thread.id, lambda x: (x, [more]), max_messages=100)
    assert await all_entries_of(store, thread.id) == [*entries, more]


async def test_import_batch_never_overwrites_a_newer_thread(store: Store) -> None:
    thread = make_thread()
    newer = evolve(thread, name="renamed", updated_at=thread.updated_at + timedelta(seconds=1))
    await store.create_thread(newer)
    result = await transfer(store).import_batch(thread, [])
    assert not result.thread_written
    assert await store.get_thread(thread.id) == newer
    assert (await transfer(store).import_batch(newer, [])).thread_written


async def test_overwrite_rewrites_a_newer_thread_and_held_entries_in_place(store: Store) -> None:
    thread = make_thread()
    first, second = make_message(thread, "one"), make_message(thread, "two")
    newer = evolve(thread, name="renamed", updated_at=thread.updated_at + timedelta(seconds=1))
    await store.create_thread(newer, [first, second])
    older_first = evolve(first, labels={"from": "file"}, run_id="run_1")
    kept = await transfer(store).import_batch(thread, [older_first])
    assert (kept.thread_written, kept.entries_added, kept.entries_rewritten) == (False, 0, 0)
    assert await all_entries_of(store, thread.id) == [first, second]
    third = make_message(thread, "three")
    result = await transfer(store).import_batch(thread, [older_first, third], overwrite=True)
    assert (result.thread_written, result.entries_added, result.entries_rewritten) == (True, 1, 1)
    assert await store.get_thread(thread.id) == thread
    assert await all_entries_of(store, thread.id) == [older_first, second, third]


async def test_counts_are_the_threads_and_entries_the_filter_passes(store: Store) -> None:
    a, b = (
        make_thread(thread_id="thread_a", folder_id="fa"),
        make_thread(thread_id="thread_b", folder_id="fb"),
    )
    await store.create_thread(a, [make_message(a, str(i)) for i in range(3)])
    await store.create_thread(b, [make_message(b, "x")])
    async with transfer(store).snapshot() as snap:
        assert await snap.counts() == (2, 4)
    async with transfer(store).snapshot(ThreadFilter(folder_id="fb")) as snap:
        assert await snap.counts() == (1, 1)


async def test_snapshot_does_not_see_later_writes(store: Store) -> None:
    thread = make_thread()
    await store.create_thread(thread, [make_message(thread, "one")])
    t = transfer(store)
    if type(store).__name__ == "InMemoryStore":
        return  # the memory store holds writers off while a snapshot is open
    async with t.snapshot() as snap:
        assert len(await snap.entries(thread.id, 0, 10)) == 1
        await store.append_messages(thread.id, lambda x: (x, [make_message(x, "two")]), max_messages=9)
        await store.create_thread(make_thread(thread_id="thread_zzz"))
        assert len(await snap.entries(thread.id, 0, 10)) == 1
        assert await all_thread_ids(snap) == [thread.id]
    assert len(await all_entries_of(store, thread.id)) == 2

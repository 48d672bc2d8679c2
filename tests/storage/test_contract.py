"""The storage contract: every ThreadStore backend must pass all of these."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import pytest
from attrs import evolve

from core.access import AccessRole, ApiKey
from core.errors import InvalidArgument, NotFound, ResourceExhausted
from core.model import Entry, Message, Thread
from core.ports import IdempotencyClaim, MessageAppend, Store, ThreadPosition, ThreadStore
from tests.factories import T0, make_message, make_thread, text_of


async def test_create_then_get_returns_equal_thread(store: ThreadStore) -> None:
    thread = make_thread(labels={"a": "b"})
    await store.create_thread(thread)
    assert await store.get_thread(thread.id) == thread


async def test_get_unknown_is_none(store: ThreadStore) -> None:
    assert await store.get_thread("thread_nope") is None


async def test_update_applies_change_atomically(store: ThreadStore) -> None:
    thread = make_thread()
    await store.create_thread(thread)
    updated = await store.update_thread(thread.id, lambda t: evolve(t, name="renamed"))
    assert updated is not None and updated.name == "renamed"
    assert await store.get_thread(thread.id) == updated


async def test_update_that_raises_changes_nothing(store: ThreadStore) -> None:
    thread = make_thread()
    await store.create_thread(thread)

    def boom(t: Thread) -> Thread:
        raise NotFound("thread", t.id)

    with pytest.raises(NotFound):
        await store.update_thread(thread.id, boom)
    assert await store.get_thread(thread.id) == thread


async def test_update_unknown_is_none(store: ThreadStore) -> None:
    assert await store.update_thread("thread_nope", lambda t: t) is None


async def test_concurrent_updates_all_apply(store: ThreadStore) -> None:
    thread = make_thread(labels={"n": "0"})
    await store.create_thread(thread)

    def bump(t: Thread) -> Thread:
        return evolve(t, labels={"n": str(int(t.labels["n"]) + 1)})

    await asyncio.gather(*(store.update_thread(thread.id, bump) for _ in range(25)))
    final = await store.get_thread(thread.id)
    assert final is not None and final.labels == {"n": "25"}


async def test_delete_removes_thread_and_messages(store: ThreadStore) -> None:
    thread = make_thread()
    message = make_message(thread, "hi")
    await store.create_thread(thread, [message])
    assert await store.delete_thread(thread.id) is True
    assert await store.get_thread(thread.id) is None
    assert await store.get_message(thread.id, message.id) is None
    assert await store.list_messages(thread.id, order="asc", limit=10) is None
    assert await store.delete_thread(thread.id) is False


async def test_list_threads_newest_first_with_keyset_pages(store: ThreadStore) -> None:
    threads = [make_thread(created_at=T0 + timedelta(seconds=i)) for i in range(7)]
    # same created_at: order falls back to id, still total
    twins = [make_thread(created_at=T0 + timedelta(seconds=3)) for _ in range(2)]
    for t in threads + twins:
        await store.create_thread(t)
    await store.create_thread(make_thread(folder_id="folder-b"))
    expected = sorted(threads + twins, key=lambda t: (t.created_at, t.id), reverse=True)
    seen: list[Thread] = []
    after: ThreadPosition | None = None
    while True:
        page = await store.list_threads("folder-a", alive_at=T0, limit=3, after=after)
        if not page:
            break
        seen += page
        after = ThreadPosition(created_at=page[-1].created_at, thread_id=page[-1].id)
    assert [t.id for t in seen] == [t.id for t in expected]


async def test_list_threads_skips_expired(store: ThreadStore) -> None:
    old = make_thread(ttl_days=1)
    fresh = make_thread(ttl_days=3)
    await store.create_thread(old)
    await store.create_thread(fresh)
    later = T0 + timedelta(days=2)
    listed = await store.list_threads("folder-a", alive_at=later, limit=10, after=None)
    assert [t.id for t in listed] == [fresh.id]


async def test_list_survives_deleted_cursor_thread(store: ThreadStore) -> None:
    threads = [make_thread(created_at=T0 + timedelta(seconds=i)) for i in range(4)]
    for t in threads:
        await store.create_thread(t)
    page = await store.list_threads("folder-a", alive_at=T0, limit=2, after=None)
    await store.delete_thread(page[-1].id)
    after = ThreadPosition(created_at=page[-1].created_at, thread_id=page[-1].id)
    rest = await store.list_threads("folder-a", alive_at=T0, limit=10, after=after)
    assert [t.id for t in rest] == [threads[1].id, threads[0].id]


def _append(messages: list[Message]) -> MessageAppend:
    return lambda thread: (thread, messages)


async def test_messages_keep_insertion_order_even_with_equal_times(store: ThreadStore) -> None:
    thread = make_thread()
    initial = [make_message(thread, f"i{i}", at=T0) for i in range(3)]
    await store.create_thread(thread, initial)
    burst = [make_message(thread, f"b{i}", at=T0) for i in range(5)]
    added = await store.append_messages(thread.id, _append(burst), max_messages=100)
    assert added == burst
    page = await store.list_messages(thread.id, order="asc", limit=100)
    assert page is not None and not page.has_more
    assert [m.id for m in page.messages] == [m.id for m in initial + burst]
    desc = await store.list_messages(thread.id, order="desc", limit=100)
    assert desc is not None
    assert [m.id for m in desc.messages] == [m.id for m in reversed(initial + burst)]


async def test_message_pages_are_exact_in_both_orders(store: ThreadStore) -> None:
    thread = make_thread()
    msgs = [make_message(thread, str(i)) for i in range(23)]
    await store.create_thread(thread, msgs)
    for order in ("asc", "desc"):
        expected = msgs if order == "asc" else list(reversed(msgs))
        seen: list[str] = []
        after = None
        while True:
            page = await store.list_messages(thread.id, order=order, limit=5, after=after)
            assert page is not None
            seen += [m.id for m in page.messages]
            if not page.has_more:
                break
            after = page.messages[-1].id
        assert seen == [m.id for m in expected]


async def test_has_more_is_exact_at_page_boundary(store: ThreadStore) -> None:
    thread = make_thread()
    msgs = [make_message(thread, str(i)) for i in range(10)]
    await store.create_thread(thread, msgs)
    page = await store.list_messages(thread.id, order="asc", limit=10)
    assert page is not None and len(page.messages) == 10 and page.has_more is False
    page = await store.list_messages(thread.id, order="asc", limit=9)
    assert page is not None and page.has_more is True


async def test_before_returns_the_page_just_before_the_cursor(store: ThreadStore) -> None:
    thread = make_thread()
    msgs = [make_message(thread, str(i)) for i in range(10)]
    await store.create_thread(thread, msgs)
    page = await store.list_messages(thread.id, order="asc", limit=3, before=msgs[7].id)
    assert page is not None
    assert [m.id for m in page.messages] == [m.id for m in msgs[4:7]]
    assert page.has_more is True
    page = await store.list_messages(thread.id, order="desc", limit=3, before=msgs[2].id)
    assert page is not None
    assert [m.id for m in page.messages] == [msgs[5].id, msgs[4].id, msgs[3].id]
    page = await store.list_messages(thread.id, order="desc", limit=5, before=msgs[7].id)
    assert page is not None
    assert [m.id for m in page.messages] == [msgs[9].id, msgs[8].id]
    assert page.has_more is False


async def test_after_and_before_together_bound_a_window(store: ThreadStore) -> None:
    thread = make_thread()
    msgs = [make_message(thread, str(i)) for i in range(10)]
    await store.create_thread(thread, msgs)
    page = await store.list_messages(thread.id, order="asc", limit=10, after=msgs[2].id, before=msgs[6].id)
    assert page is not None
    assert [m.id for m in page.messages] == [m.id for m in msgs[3:6]]


async def test_unknown_cursor_is_invalid_argument(store: ThreadStore) -> None:
    thread = make_thread()
    other = make_thread()
    foreign = make_message(other, "x")
    await store.create_thread(thread, [make_message(thread, "a")])
    await store.create_thread(other, [foreign])
    with pytest.raises(InvalidArgument) as info:
        await store.list_messages(thread.id, order="asc", limit=5, after=foreign.id)
    assert info.value.field == "after"


async def test_deleted_message_still_works_as_cursor(store: ThreadStore) -> None:
    thread = make_thread()
    msgs = [make_message(thread, str(i)) for i in range(6)]
    await store.create_thread(thread, msgs)
    assert await store.delete_message(thread.id, msgs[2].id) is True
    assert await store.delete_message(thread.id, msgs[2].id) is False
    page = await store.list_messages(thread.id, order="asc", limit=10, after=msgs[2].id)
    assert page is not None and [m.id for m in page.messages] == [m.id for m in msgs[3:]]
    assert await store.get_message(thread.id, msgs[2].id) is None


async def test_message_of_another_thread_is_not_found(store: ThreadStore) -> None:
    a, b = make_thread(), make_thread()
    ma = make_message(a, "a")
    await store.create_thread(a, [ma])
    await store.create_thread(b)
    assert await store.get_message(b.id, ma.id) is None
    assert await store.get_message(a.id, ma.id) == ma
    assert await store.update_message(b.id, ma.id, lambda m: m) is None
    assert await store.delete_message(b.id, ma.id) is False


async def test_update_message(store: ThreadStore) -> None:
    thread = make_thread()
    m = make_message(thread, "a")
    await store.create_thread(thread, [m])

    def relabel(x: Entry) -> Entry:
        assert isinstance(x, Message)
        return evolve(x, labels={"k": "v"})

    updated = await store.update_message(thread.id, m.id, relabel)
    assert isinstance(updated, Message) and updated.labels == {"k": "v"}
    assert await store.get_message(thread.id, m.id) == updated


async def test_run_id_filter(store: ThreadStore) -> None:
    thread = make_thread()
    msgs = [make_message(thread, str(i), run_id="run_1" if i % 2 else None) for i in range(6)]
    await store.create_thread(thread, msgs)
    page = await store.list_messages(thread.id, order="asc", limit=10, run_id="run_1")
    assert page is not None and [m.id for m in page.messages] == [msgs[1].id, msgs[3].id, msgs[5].id]


async def test_message_limit_counts_live_messages(store: ThreadStore) -> None:
    thread = make_thread()
    msgs = [make_message(thread, str(i)) for i in range(3)]
    await store.create_thread(thread, msgs)
    with pytest.raises(ResourceExhausted):
        await store.append_messages(thread.id, _append([make_message(thread, "x")]), max_messages=3)
    await store.delete_message(thread.id, msgs[0].id)
    extra = make_message(thread, "y")
    assert await store.append_messages(thread.id, _append([extra]), max_messages=3) == [extra]
    page = await store.list_messages(thread.id, order="asc", limit=10)
    assert page is not None and len(page.messages) == 3


async def test_append_updates_the_thread_in_the_same_transaction(store: ThreadStore) -> None:
    thread = make_thread()
    await store.create_thread(thread)
    later = T0 + timedelta(days=1)
    moved = evolve(thread, last_activity_at=later)
    m = make_message(thread, "x", at=later)
    await store.append_messages(thread.id, lambda t: (moved, [m]), max_messages=10)
    assert await store.get_thread(thread.id) == moved


async def test_append_to_missing_thread_is_none(store: ThreadStore) -> None:
    assert await store.append_messages("thread_nope", lambda t: (t, []), max_messages=10) is None


async def test_concurrent_appends_get_a_total_order(store: ThreadStore) -> None:
    thread = make_thread()
    await store.create_thread(thread)
    batches = [[make_message(thread, f"{w}-{i}", at=T0) for i in range(5)] for w in range(8)]
    await asyncio.gather(*(store.append_messages(thread.id, _append(b), max_messages=1000) for b in batches))
    page = await store.list_messages(thread.id, order="asc", limit=100)
    assert page is not None and len(page.messages) == 40
    texts = [text_of(m) for m in page.messages]
    for b in batches:  # each batch stays contiguous and in order
        ids = [text_of(m) for m in b]
        start = texts.index(ids[0])
        assert texts[start : start + 5] == ids


async def test_ping(store: ThreadStore) -> None:
    await store.ping()


async def test_keys_add_get_list_revoke(store: Store) -> None:
    key = ApiKey(
        id="tgk_1",
        subject_id="sub_1",
        role=AccessRole.EDITOR,
        folders=("a", "b"),
        default_folder="b",
        secret_sha256="0" * 64,
        created_at=T0,
        description="d",
    )
    await store.add_key(key)
    assert await store.get_key("tgk_1") == key
    assert await store.get_key("tgk_2") is None
    assert await store.list_keys() == [key]
    later = T0 + timedelta(hours=1)
    assert await store.revoke_key("tgk_1", later) is True
    assert await store.revoke_key("tgk_1", later + timedelta(hours=1)) is True  # keeps the first time
    assert await store.revoke_key("tgk_2", later) is False
    revoked = await store.get_key("tgk_1")
    assert revoked is not None and revoked.revoked_at == later


async def _sweep_all(store: Store, now: datetime, max_rows: int) -> tuple[int, int, int]:
    threads = messages = calls = 0
    while True:
        calls += 1
        r = await store.delete_expired(now, max_rows=max_rows)
        threads += r.threads
        messages += r.messages
        if not r.more:
            return threads, messages, calls


async def test_delete_expired_removes_only_expired_threads_and_their_messages(store: Store) -> None:
    old = make_thread(ttl_days=1)
    fresh = make_thread(ttl_days=5)
    await store.create_thread(old, [make_message(old, str(i)) for i in range(7)])
    await store.create_thread(fresh, [make_message(fresh, "keep")])
    now = T0 + timedelta(days=2)
    assert await _sweep_all(store, now, max_rows=1000) == (1, 7, 1)
    assert await store.get_thread(old.id) is None
    assert await store.list_messages(old.id, order="asc", limit=10) is None
    assert await store.get_thread(fresh.id) == fresh
    page = await store.list_messages(fresh.id, order="asc", limit=10)
    assert page is not None and len(page.messages) == 1


async def test_delete_expired_works_in_bounded_batches(store: Store) -> None:
    big = make_thread(ttl_days=1)
    await store.create_thread(big, [make_message(big, str(i)) for i in range(25)])
    small = [make_thread(ttl_days=1) for _ in range(6)]
    for t in small:
        await store.create_thread(t)
    first = await store.delete_expired(T0 + timedelta(days=1), max_rows=10)
    assert first.more and first.threads + first.messages <= 10
    threads, messages, calls = await _sweep_all(store, T0 + timedelta(days=1), max_rows=10)
    assert threads + first.threads == 7 and messages + first.messages == 25
    assert calls >= 3
    for t in [big, *small]:
        assert await store.get_thread(t.id) is None


async def test_delete_expired_at_exactly_expires_at(store: Store) -> None:
    t = make_thread(ttl_days=1)
    await store.create_thread(t)
    edge = t.expires_at
    assert (await store.delete_expired(edge - timedelta(microseconds=1), max_rows=10)).threads == 0
    assert (await store.delete_expired(edge, max_rows=10)).threads == 1


def _claim(
    key: str, fingerprint: str = "fp", at: datetime = T0, window: timedelta = timedelta(hours=1)
) -> IdempotencyClaim:
    return IdempotencyClaim("sub:create", key, fingerprint, at, at - window)


async def test_idempotent_create_thread_returns_the_first(store: Store) -> None:
    first = make_thread()
    assert await store.create_thread(first, [make_message(first, "a")], _claim("k1")) == first
    again = await store.create_thread(make_thread(), [], _claim("k1", at=T0 + timedelta(minutes=5)))
    assert again == first
    assert await store.list_threads("folder-a", alive_at=T0, limit=10, after=None) == [first]
    with pytest.raises(InvalidArgument) as info:
        await store.create_thread(make_thread(), [], _claim("k1", fingerprint="other"))
    assert info.value.field == "idempotency_key"
    # outside the window the key is new again
    later = make_thread()
    assert await store.create_thread(later, [], _claim("k1", at=T0 + timedelta(hours=2))) == later


async def test_idempotent_append_returns_the_first_messages(store: Store) -> None:
    thread = make_thread()
    await store.create_thread(thread)
    batch = [make_message(thread, "x")]
    assert (
        await store.append_messages(thread.id, _append(batch), max_messages=10, idempotency=_claim("m"))
        == batch
    )
    retried = await store.append_messages(
        thread.id, _append([make_message(thread, "y")]), max_messages=10, idempotency=_claim("m")
    )
    assert retried == batch
    page = await store.list_messages(thread.id, order="asc", limit=10)
    assert page is not None and [m.id for m in page.messages] == [batch[0].id]


async def test_forget_idempotency(store: Store) -> None:
    t = make_thread()
    await store.create_thread(t, [], _claim("old", at=T0))
    assert await store.forget_idempotency(T0 + timedelta(seconds=1)) == 1
    fresh = make_thread()
    assert await store.create_thread(fresh, [], _claim("old", at=T0, window=timedelta(days=1))) == fresh

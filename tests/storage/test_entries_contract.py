"""The storage contract for entries that are not plain messages: every backend keeps
items and every message part unchanged, pages over plain messages only when asked,
keeps cursors working across hidden entries, and refuses an entry id that is taken."""

from __future__ import annotations

from datetime import timedelta

import pytest
from attrs import evolve

from core.errors import InvalidArgument
from core.model import (
    Author,
    Entry,
    FilePart,
    ImageUrlPart,
    Item,
    JsonValue,
    Message,
    MessageStatus,
    RefusalPart,
    Role,
    TextPart,
    Thread,
)
from core.ports import ThreadStore
from tests.factories import make_message, make_thread


def _item(thread: Thread, item_id: str, kind: str = "function_call", **data: JsonValue) -> Item:
    return Item(
        id=item_id,
        thread_id=thread.id,
        created_by="subject-1",
        created_at=thread.created_at + timedelta(seconds=1),
        type=kind,
        data={"status": "completed", **data},
    )


def _rich_message(thread: Thread, message_id: str, role: Role) -> Message:
    return Message(
        id=message_id,
        thread_id=thread.id,
        created_by="subject-1",
        created_at=thread.created_at + timedelta(seconds=2),
        author=Author(id="", role=role),
        content=(
            TextPart(
                text="see [1]",
                annotations=(
                    {"type": "url_citation", "url": "https://e.x", "start_index": 4, "end_index": 7},
                ),
                logprobs=({"token": "see", "logprob": -0.1, "bytes": [115], "top_logprobs": []},),
            ),
            RefusalPart(refusal="no"),
            ImageUrlPart(url="data:image/png;base64,AAAA", detail="original"),
            FilePart(file_id=None, filename="a.pdf", file_data="JVBERi0=", detail="high"),
        ),
        status=MessageStatus.INCOMPLETE,
        phase="final_answer",
    )


async def _ids(store: ThreadStore, thread: Thread, **kwargs: object) -> list[str]:
    page = await store.list_messages(thread.id, order="asc", limit=100, **kwargs)  # type: ignore[arg-type]
    assert page is not None
    return [e.id for e in page.messages]


async def test_items_and_rich_messages_come_back_equal(store: ThreadStore) -> None:
    thread = make_thread()
    entries: list[Entry] = [
        make_message(thread, "hi"),
        _item(thread, "fc_1", name="lookup", arguments='{"q": 1}', call_id="call_1"),
        _item(thread, "x_1", "a_type_from_the_future", nested={"deep": [1, 2.5, None, True, "\u00e9"]}),
        _rich_message(thread, "msg_rich", Role.ASSISTANT),
        _rich_message(thread, "msg_sys", Role.SYSTEM),
    ]
    await store.create_thread(thread, entries[:2])
    added = await store.append_messages(thread.id, lambda t: (t, entries[2:]), max_messages=100)
    assert added == entries[2:]
    page = await store.list_messages(thread.id, order="asc", limit=10)
    assert page is not None and page.messages == entries
    for entry in entries:
        assert await store.get_message(thread.id, entry.id) == entry


async def test_plain_only_pages_skip_other_entries_and_cursors_still_work(store: ThreadStore) -> None:
    thread = make_thread()
    m1, m2, m3 = (make_message(thread, str(i)) for i in range(3))
    hidden: list[Entry] = [
        _item(thread, "fc_a"),
        _rich_message(thread, "msg_dev", Role.DEVELOPER),
        _item(thread, "rs_b"),
    ]
    await store.create_thread(thread, [m1, hidden[0], m2, hidden[1], hidden[2], m3])
    assert await _ids(store, thread, plain_only=True) == [m1.id, m2.id, m3.id]
    assert await _ids(store, thread) == [m1.id, "fc_a", m2.id, "msg_dev", "rs_b", m3.id]
    # a hidden entry's id is a position in the one order, for every view
    assert await _ids(store, thread, plain_only=True, after="fc_a") == [m2.id, m3.id]
    assert await _ids(store, thread, plain_only=True, before="rs_b") == [m1.id, m2.id]
    page = await store.list_messages(thread.id, order="desc", limit=2, plain_only=True)
    assert page is not None and [m.id for m in page.messages] == [m3.id, m2.id] and page.has_more
    page = await store.list_messages(thread.id, order="desc", limit=1, after=m2.id, plain_only=True)
    assert page is not None and [m.id for m in page.messages] == [m1.id] and not page.has_more


async def test_an_entry_id_taken_in_its_thread_is_refused_and_nothing_is_written(store: ThreadStore) -> None:
    thread = make_thread()
    await store.create_thread(thread, [_item(thread, "fc_taken")])
    with pytest.raises(InvalidArgument) as caught:
        await store.append_messages(
            thread.id, lambda t: (t, [_item(thread, "fc_new"), _item(thread, "fc_taken")]), max_messages=100
        )
    assert caught.value.code == "duplicate_id" and caught.value.params["id"] == "fc_taken"
    assert await _ids(store, thread) == ["fc_taken"]
    # the refused append left the new id free
    await store.append_messages(thread.id, lambda t: (t, [_item(thread, "fc_new")]), max_messages=100)
    assert await _ids(store, thread) == ["fc_taken", "fc_new"]


async def test_ids_are_unique_per_thread_so_other_threads_may_reuse_them(store: ThreadStore) -> None:
    """One tenant's chosen id neither blocks nor reveals another's."""
    first, second = make_thread(), make_thread(folder_id="folder-b")
    await store.create_thread(first, [_item(first, "fc_same")])
    await store.create_thread(second, [_item(second, "fc_same", name="other")])
    one, two = await store.get_message(first.id, "fc_same"), await store.get_message(second.id, "fc_same")
    assert isinstance(one, Item) and isinstance(two, Item) and one != two
    assert await store.delete_message(second.id, "fc_same")
    assert await store.get_message(first.id, "fc_same") == one


async def test_a_deleted_entry_id_may_come_back_and_go_again(store: ThreadStore) -> None:
    thread = make_thread()
    await store.create_thread(thread, [_item(thread, "fc_again"), make_message(thread, "x")])
    assert await store.delete_message(thread.id, "fc_again")
    await store.append_messages(thread.id, lambda t: (t, [_item(thread, "fc_again")]), max_messages=100)
    assert (await _ids(store, thread))[-1] == "fc_again"
    assert await store.delete_message(thread.id, "fc_again")
    assert "fc_again" not in await _ids(store, thread)


async def test_update_can_see_any_entry_and_keeps_plainness(store: ThreadStore) -> None:
    thread = make_thread()
    message = make_message(thread, "hi")
    await store.create_thread(thread, [message, _item(thread, "fc_u")])
    seen: list[Entry] = []

    def relabel(entry: Entry) -> Entry:
        seen.append(entry)
        return evolve(entry, labels={"k": "v"}) if isinstance(entry, Message) else entry

    await store.update_message(thread.id, message.id, relabel)
    await store.update_message(thread.id, "fc_u", relabel)
    assert [type(e) for e in seen] == [Message, Item]
    assert await _ids(store, thread, plain_only=True) == [message.id]

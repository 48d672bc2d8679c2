"""The Conversations API through the real ``openai`` SDK (strict response validation)
over a real socket: every call of ``client.conversations`` and its items."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import openai as openai_module
import pytest
from openai import OpenAI

from testkit.server import Server, create_key
from tests.e2e.conftest import item_id, item_text, openai_client

TOOL_ITEMS = [
    {"type": "function_call", "call_id": "call_1", "name": "lookup", "arguments": '{"q": "x"}'},
    {"type": "function_call_output", "call_id": "call_1", "output": "found"},
    {"type": "reasoning", "summary": [{"type": "summary_text", "text": "thinking"}]},
]


def _texts(items: Sequence[object]) -> list[str]:
    return [item_text(item) for item in items]


def test_every_call_of_the_sdk(openai: OpenAI) -> None:
    conv = openai.conversations.create(
        metadata={"topic": "demo"},
        items=[{"type": "message", "role": "user", "content": "hello"}],
    )
    assert conv.object == "conversation" and conv.metadata == {"topic": "demo"}
    assert openai.conversations.retrieve(conv.id) == conv
    updated = openai.conversations.update(conv.id, metadata={"topic": "other"})
    assert updated.metadata == {"topic": "other"}

    to_write: list[Any] = [
        {"role": "assistant", "content": [{"type": "output_text", "text": "hi there"}]},
        *TOOL_ITEMS,
    ]
    made = openai.conversations.items.create(conv.id, items=to_write)
    assert [i.type for i in made.data] == ["message", "function_call", "function_call_output", "reasoning"]
    assert made.first_id == made.data[0].id and made.last_id == made.data[-1].id
    fc = made.data[1]
    assert item_id(fc).startswith("fc_") and fc.type == "function_call" and fc.arguments == '{"q": "x"}'

    page = openai.conversations.items.list(conv.id, order="asc")
    assert [i.type for i in page.data][:2] == ["message", "message"]
    assert _texts(page.data[:2]) == ["hello", "hi there"]
    got = openai.conversations.items.retrieve(fc.id, conversation_id=conv.id)
    assert got == fc

    after_delete = openai.conversations.items.delete(fc.id, conversation_id=conv.id)
    assert after_delete == updated
    with pytest.raises(openai_module.NotFoundError):
        openai.conversations.items.retrieve(fc.id, conversation_id=conv.id)

    deleted = openai.conversations.delete(conv.id)
    assert deleted.deleted is True and deleted.id == conv.id and deleted.object == "conversation.deleted"
    with pytest.raises(openai_module.NotFoundError) as caught:
        openai.conversations.retrieve(conv.id)
    assert f"No conversation found with id '{conv.id}'" in caught.value.message


@pytest.mark.parametrize("order", ["asc", "desc"])
def test_auto_paging_walks_more_than_a_hundred_items_both_ways(openai: OpenAI, order: str) -> None:
    conv = openai.conversations.create()
    for batch in range(6):
        openai.conversations.items.create(
            conv.id, items=[{"role": "user", "content": f"{batch * 20 + i}"} for i in range(20)]
        )
    seen = list(openai.conversations.items.list(conv.id, order=order, limit=7))  # type: ignore[arg-type]
    numbers = [int(t) for t in _texts(seen)]
    assert numbers == (list(range(120)) if order == "asc" else list(range(119, -1, -1)))
    empty = openai.conversations.create()
    page = openai.conversations.items.list(empty.id)
    assert page.data == [] and page.has_more is False


def test_bad_input_gets_openai_errors_with_the_json_path(openai: OpenAI) -> None:
    with pytest.raises(openai_module.BadRequestError) as caught:
        openai.conversations.create(items=[{"role": "user", "content": "x"}] * 21)
    assert (caught.value.param, caught.value.code) == ("items", "array_above_max_length")
    conv = openai.conversations.create()
    with pytest.raises(openai_module.BadRequestError) as caught:
        openai.conversations.items.create(
            conv.id,
            items=[
                {"role": "user", "content": "fine"},
                {"role": "assistant", "content": [{"type": "input_text", "text": "replayed"}]},
            ],
        )
    assert (caught.value.param, caught.value.code) == ("items[1].content[0]", "invalid_value")
    assert "Supported values are: 'output_text' and 'refusal'" in caught.value.message
    bads: list[Any] = [{"limit": 0}, {"limit": 101}, {"order": "up"}]
    for bad in bads:
        with pytest.raises(openai_module.BadRequestError):
            openai.conversations.items.list(conv.id, **bad)
    assert openai.conversations.items.list(conv.id).data == []  # nothing of the refused writes


def test_idempotency_key_makes_a_retried_write_land_once(openai: OpenAI) -> None:
    conv = openai.conversations.create()
    key = {"Idempotency-Key": "batch-1"}
    items = [{"role": "user", "content": "once"}]
    first = openai.conversations.items.create(conv.id, items=items, extra_headers=key)  # type: ignore[arg-type]
    again = openai.conversations.items.create(conv.id, items=items, extra_headers=key)  # type: ignore[arg-type]
    assert again == first
    assert len(openai.conversations.items.list(conv.id).data) == 1


def test_the_project_header_names_the_folder_and_tenants_stay_apart(server: Server) -> None:
    assert server.data_dir is not None
    other_key = create_key(server.data_dir, ["elsewhere"], "editor")
    with openai_client(server) as admin, openai_client(server, other_key) as stranger:
        mine = admin.conversations.create(items=[{"role": "user", "content": "secret"}])
        with pytest.raises(openai_module.NotFoundError):
            stranger.conversations.retrieve(mine.id)
        with pytest.raises(openai_module.NotFoundError):
            stranger.conversations.items.list(mine.id)
        theirs = stranger.conversations.create()
        their_thread = stranger.beta.threads.retrieve(theirs.id)
        assert their_thread.id == theirs.id
        with pytest.raises(openai_module.PermissionDeniedError):
            stranger.conversations.create(extra_headers={"OpenAI-Project": "not-mine"})

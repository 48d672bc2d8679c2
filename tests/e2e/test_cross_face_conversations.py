"""A conversation is a thread: what one face writes, the others read, with the real
clients (``openai`` strict, the ``yandexcloud`` stubs) over real sockets."""

from __future__ import annotations

from typing import Any

import grpc
import openai as openai_module
import pytest
from openai import OpenAI
from openai.types.conversations import Message as ItemMessage
from yandex.cloud.ai.assistants.v1.threads import message_pb2 as mp
from yandex.cloud.ai.assistants.v1.threads import message_service_pb2 as ms
from yandex.cloud.ai.assistants.v1.threads import message_service_pb2_grpc as ms_grpc
from yandex.cloud.ai.assistants.v1.threads import thread_service_pb2 as ts
from yandex.cloud.ai.assistants.v1.threads import thread_service_pb2_grpc as ts_grpc
from yandex.cloud.ai.common import common_pb2

from tests.e2e.conftest import item_id, item_text, text_value
from tests.e2e.messages_wire import content, texts_of


def _roles_and_texts(openai: OpenAI, conversation_id: str) -> list[tuple[str, str, str]]:
    out: list[tuple[str, str, str]] = []
    for item in openai.conversations.items.list(conversation_id, order="asc", limit=3):
        assert isinstance(item, ItemMessage), item
        out.append((item.role, item.content[0].type, item_text(item)))
    return out


def test_threads_made_over_either_thread_face_read_as_conversations(
    openai: OpenAI, threads: ts_grpc.ThreadServiceStub, messages: ms_grpc.MessageServiceStub
) -> None:
    t = openai.beta.threads.create(
        metadata={"via": "assistants"},
        messages=[{"role": "user", "content": "q1"}, {"role": "assistant", "content": "a1"}],
    )
    openai.beta.threads.messages.create(t.id, role="user", content="q2")
    conv = openai.conversations.retrieve(t.id)
    assert (conv.id, conv.created_at, conv.metadata) == (t.id, t.created_at, {"via": "assistants"})
    assert _roles_and_texts(openai, t.id) == [
        ("user", "input_text", "q1"),
        ("assistant", "output_text", "a1"),
        ("user", "input_text", "q2"),
    ]
    newest = openai.conversations.items.list(t.id, limit=1).data
    assert [item_text(i) for i in newest] == ["q2"]

    y = threads.Create(ts.CreateThreadRequest(folder_id="default", labels={"via": "grpc"}))
    messages.Create(ms.CreateMessageRequest(thread_id=y.id, content=content("hello")))
    messages.Create(
        ms.CreateMessageRequest(
            thread_id=y.id, content=content("hi", "there"), author=mp.Author(id="a", role="ASSISTANT")
        )
    )
    assert openai.conversations.retrieve(y.id).metadata == {"via": "grpc"}
    items = openai.conversations.items.list(y.id, order="asc").data
    assert [(getattr(i, "role", None), item_text(i, 0)) for i in items] == [
        ("user", "hello"),
        ("assistant", "hi"),
    ]
    assert item_text(items[1], 1) == "there"


TOOL_ITEMS: list[Any] = [
    {"type": "function_call", "call_id": "call_9", "name": "weather", "arguments": '{"city": "Oslo"}'},
    {"type": "function_call_output", "call_id": "call_9", "output": "-3 C"},
    {"type": "reasoning", "summary": [{"type": "summary_text", "text": "cold"}], "encrypted_content": "e30="},
]


def test_a_conversation_reads_unchanged_and_the_thread_faces_show_its_messages(
    openai: OpenAI, threads: ts_grpc.ThreadServiceStub, messages: ms_grpc.MessageServiceStub
) -> None:
    conv = openai.conversations.create(items=[{"role": "system", "content": "be terse"}])
    to_write: list[Any] = [
        {"role": "user", "content": "weather in Oslo?"},
        *TOOL_ITEMS,
        {"role": "assistant", "content": [{"type": "output_text", "text": "Cold: -3 C."}]},
    ]
    written = openai.conversations.items.create(conv.id, items=to_write)
    every = list(openai.conversations.items.list(conv.id, order="asc", limit=2))
    assert every[1:] == written.data  # read back as written, the server's ids and status included
    assert [i.type for i in every] == ["message", "message", *(t["type"] for t in TOOL_ITEMS), "message"]
    for sent, stored in zip(TOOL_ITEMS, written.data[1:4], strict=True):
        dumped = stored.model_dump(exclude_none=True)
        assert {k: v for k, v in dumped.items() if k not in ("id", "status")} == sent

    # Assistants (strict): only the user and assistant messages, in the one order
    shown = list(openai.beta.threads.messages.list(conv.id, order="asc", limit=1))
    assert [(m.role, text_value(m)) for m in shown] == [
        ("user", "weather in Oslo?"),
        ("assistant", "Cold: -3 C."),
    ]
    after_tool = openai.beta.threads.messages.list(conv.id, order="asc", after=item_id(written.data[2]))
    assert [m.id for m in after_tool.data] == [shown[1].id]

    # Yandex: the same two, newest first; and an expiry its SDK accepts
    streamed = list(messages.List(ms.ListMessagesRequest(thread_id=conv.id)))
    assert [texts_of(m) for m in streamed] == [["Cold: -3 C."], ["weather in Oslo?"]]
    got = threads.Get(ts.GetThreadRequest(thread_id=conv.id))
    assert got.expiration_config.expiration_policy == common_pb2.ExpirationConfig.SINCE_LAST_ACTIVE
    assert got.expiration_config.ttl_days == 365
    with pytest.raises(grpc.RpcError) as caught:
        messages.Get(ms.GetMessageRequest(thread_id=conv.id, message_id=item_id(written.data[1])))
    assert caught.value.code() is grpc.StatusCode.NOT_FOUND


def test_deletes_from_each_face_are_seen_by_the_others(
    openai: OpenAI, threads: ts_grpc.ThreadServiceStub, messages: ms_grpc.MessageServiceStub
) -> None:
    conv = openai.conversations.create(
        items=[{"role": "user", "content": f"m{i}"} for i in range(3)] + TOOL_ITEMS[:1]
    )
    ids = [item_id(i) for i in openai.conversations.items.list(conv.id, order="asc").data]
    openai.conversations.items.delete(ids[0], conversation_id=conv.id)
    assert ids[0] not in [m.id for m in openai.beta.threads.messages.list(conv.id).data]
    assert ids[0] not in [m.id for m in messages.List(ms.ListMessagesRequest(thread_id=conv.id))]
    openai.beta.threads.messages.delete(ids[1], thread_id=conv.id)
    assert [item_id(i) for i in openai.conversations.items.list(conv.id, order="asc").data] == ids[2:]
    with pytest.raises(openai_module.NotFoundError):  # a thread face cannot delete a tool call
        openai.beta.threads.messages.delete(ids[3], thread_id=conv.id)
    threads.Delete(ts.DeleteThreadRequest(thread_id=conv.id))
    with pytest.raises(openai_module.NotFoundError):
        openai.conversations.retrieve(conv.id)
    with pytest.raises(openai_module.NotFoundError):
        openai.conversations.items.retrieve(ids[3], conversation_id=conv.id)

    t = openai.beta.threads.create(messages=[{"role": "user", "content": "x"}])
    openai.conversations.delete(t.id)
    with pytest.raises(openai_module.NotFoundError):
        openai.beta.threads.retrieve(t.id)
    with pytest.raises(grpc.RpcError) as caught:
        threads.Get(ts.GetThreadRequest(thread_id=t.id))
    assert caught.value.code() is grpc.StatusCode.NOT_FOUND

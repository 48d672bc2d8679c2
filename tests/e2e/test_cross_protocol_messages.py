"""One message store, two views: messages written over one protocol, read over the other."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import grpc
import httpx
import openai as openai_module
import pytest
from google.rpc import error_details_pb2
from openai import OpenAI
from openai.types.beta.threads import Message
from yandex.cloud.ai.assistants.v1.threads import message_pb2 as mp
from yandex.cloud.ai.assistants.v1.threads import message_service_pb2 as ms
from yandex.cloud.ai.assistants.v1.threads import message_service_pb2_grpc as ms_grpc
from yandex.cloud.ai.assistants.v1.threads import thread_service_pb2 as ts
from yandex.cloud.ai.assistants.v1.threads import thread_service_pb2_grpc as ts_grpc

from testkit.server import Server
from tests.e2e.conftest import openai_client
from tests.e2e.messages_wire import content, texts_of
from tests.e2e.rpc_errors import details_of


@pytest.fixture
def rest(server: Server) -> Iterator[httpx.Client]:
    with server.http() as client:
        yield client


def streamed(messages: ms_grpc.MessageServiceStub, thread_id: str) -> list[mp.Message]:
    return list(messages.List(ms.ListMessagesRequest(thread_id=thread_id)))


def rest_texts(m: Message) -> list[str]:
    out = []
    for part in m.content:
        assert part.type == "text", part
        assert part.text.annotations == []
        out.append(part.text.value)
    return out


def assert_same_message(rest: Message, pb: mp.Message) -> None:
    assert pb.id == rest.id
    assert pb.thread_id == rest.thread_id
    assert texts_of(pb) == rest_texts(rest)
    assert dict(pb.labels) == rest.metadata
    assert pb.created_at.seconds == rest.created_at
    assert pb.author.role == rest.role.upper()
    assert pb.status == mp.Message.COMPLETED and rest.status == "completed"


def test_rest_written_messages_read_over_grpc(
    openai: OpenAI, threads: ts_grpc.ThreadServiceStub, messages: ms_grpc.MessageServiceStub
) -> None:
    t = openai.beta.threads.create(
        messages=[
            {"role": "user", "content": "initial user"},
            {"role": "assistant", "content": "initial assistant", "metadata": {"from": "rest"}},
            {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]},
        ]
    )
    for i in range(6):
        openai.beta.threads.messages.create(
            t.id, role="assistant" if i % 2 else "user", content=f"later {i}", metadata={"i": str(i)}
        )
    rest = list(openai.beta.threads.messages.list(t.id, order="asc", limit=4))
    assert len(rest) == 9
    pb = list(reversed(streamed(messages, t.id)))  # the stream is newest first
    assert [m.id for m in pb] == [m.id for m in rest]
    for r, p in zip(rest, pb, strict=True):
        assert_same_message(r, p)
        assert messages.Get(ms.GetMessageRequest(thread_id=t.id, message_id=r.id)) == p
    assert texts_of(pb[2]) == ["a", "b"]
    assert dict(pb[1].labels) == {"from": "rest"}

    author = threads.Get(ts.GetThreadRequest(thread_id=t.id)).default_message_author_id
    assert author
    for r, p in zip(rest, pb, strict=True):
        # a REST user message is by the thread's default author; a REST assistant message names none
        assert p.author.id == (author if r.role == "user" else "")


def test_grpc_written_messages_read_over_rest(
    openai: OpenAI, threads: ts_grpc.ThreadServiceStub, messages: ms_grpc.MessageServiceStub
) -> None:
    t = threads.Create(
        ts.CreateThreadRequest(
            folder_id="b1g-cross",
            messages=[
                mp.MessageData(content=content("initial"), labels={"k": "v"}),
                mp.MessageData(content=content("reply"), author=mp.Author(id="asst-1", role="ASSISTANT")),
            ],
        )
    )
    writes = [
        ms.CreateMessageRequest(thread_id=t.id, content=content("plain")),
        ms.CreateMessageRequest(thread_id=t.id, content=content("one", "two"), labels={"parts": "2"}),
        ms.CreateMessageRequest(
            thread_id=t.id, content=content("by a user"), author=mp.Author(id="someone", role="USER")
        ),
        ms.CreateMessageRequest(
            thread_id=t.id,
            content=content("by an assistant"),
            author=mp.Author(id="asst-2", role="assistant"),
        ),
        ms.CreateMessageRequest(
            thread_id=t.id, content=content("anonymous"), author=mp.Author(role="ASSISTANT")
        ),
    ]
    for w in writes:
        messages.Create(w)
    pb = streamed(messages, t.id)
    assert len(pb) == 7

    rest_desc = list(openai.beta.threads.messages.list(t.id, limit=3))  # default order: newest first
    assert [m.id for m in rest_desc] == [m.id for m in pb]
    rest_asc = list(openai.beta.threads.messages.list(t.id, order="asc", limit=2))
    assert [m.id for m in rest_asc] == [m.id for m in reversed(pb)]
    for r, p in zip(rest_desc, pb, strict=True):
        assert_same_message(r, p)
        assert r.run_id is None and r.attachments == []
        # an assistant author shows as assistant_id; a user author id is not shown over REST
        assert r.assistant_id == (p.author.id if p.author.role == "ASSISTANT" and p.author.id else None)
        assert openai.beta.threads.messages.retrieve(r.id, thread_id=t.id) == r
    by_text = {tuple(rest_texts(m)): m for m in rest_asc}
    assert by_text[("one", "two")].metadata == {"parts": "2"}
    assert by_text[("reply",)].assistant_id == "asst-1"
    assert by_text[("by an assistant",)].role == "assistant"
    assert by_text[("by an assistant",)].assistant_id == "asst-2"
    assert by_text[("anonymous",)].assistant_id is None
    assert by_text[("by a user",)].role == "user" and by_text[("by a user",)].assistant_id is None


def test_interleaved_writes_agree_on_order(
    openai: OpenAI, threads: ts_grpc.ThreadServiceStub, messages: ms_grpc.MessageServiceStub
) -> None:
    t = openai.beta.threads.create()
    made = []
    for i in range(30):
        if i % 3:
            made.append(openai.beta.threads.messages.create(t.id, role="user", content=str(i)).id)
        else:
            made.append(messages.Create(ms.CreateMessageRequest(thread_id=t.id, content=content(str(i)))).id)
    assert [m.id for m in openai.beta.threads.messages.list(t.id, order="asc", limit=7)] == made
    assert [m.id for m in streamed(messages, t.id)] == made[::-1]
    assert [texts_of(m)[0] for m in streamed(messages, t.id)] == [str(i) for i in reversed(range(30))]


def test_concurrent_writers_on_both_protocols_agree(
    server: Server, threads: ts_grpc.ThreadServiceStub, messages: ms_grpc.MessageServiceStub
) -> None:
    t = threads.Create(ts.CreateThreadRequest(folder_id="b1g-cross"))
    start = threading.Barrier(4)

    def rest_writer(w: int) -> list[str]:
        with openai_client(server) as client:
            start.wait(10)
            return [
                client.beta.threads.messages.create(t.id, role="user", content=f"r{w}-{i}").id
                for i in range(15)
            ]

    def grpc_writer(w: int) -> list[str]:  # concurrent calls on the one channel
        start.wait(10)
        return [
            messages.Create(ms.CreateMessageRequest(thread_id=t.id, content=content(f"g{w}-{i}"))).id
            for i in range(15)
        ]

    with ThreadPoolExecutor(4) as pool:
        futures = [pool.submit(rest_writer, 0), pool.submit(rest_writer, 1)]
        futures += [pool.submit(grpc_writer, 2), pool.submit(grpc_writer, 3)]
        per_writer = [f.result() for f in futures]
    with openai_client(server) as client:
        rest = [m.id for m in client.beta.threads.messages.list(t.id, order="asc", limit=11)]
    pb = [m.id for m in streamed(messages, t.id)]
    assert len(rest) == 60 and len(set(rest)) == 60
    assert pb == rest[::-1]
    assert set(rest) == {i for ids in per_writer for i in ids}
    for own in per_writer:
        assert [i for i in rest if i in set(own)] == own


def test_image_parts_show_as_text_over_grpc_and_stay_whole_over_rest(
    openai: OpenAI, rest: httpx.Client, messages: ms_grpc.MessageServiceStub
) -> None:
    t = openai.beta.threads.create()
    parts = [
        {"type": "text", "text": "what is in these?"},
        {"type": "image_file", "image_file": {"file_id": "file-abc123"}},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.png", "detail": "low"}},
    ]
    attachments = [{"file_id": "file-att", "tools": [{"type": "file_search"}]}]
    r = rest.post(
        f"/threads/{t.id}/messages",
        json={"role": "user", "content": parts, "attachments": attachments, "metadata": {"m": "1"}},
    )
    assert r.status_code == 200, r.text
    made: dict[str, Any] = r.json()

    got = messages.Get(ms.GetMessageRequest(thread_id=t.id, message_id=made["id"]))
    assert [p.WhichOneof("PartType") for p in got.content.content] == ["text", "text", "text"]
    assert texts_of(got) == [
        "what is in these?",
        "[image_file file-abc123]",
        "[image_url https://example.com/cat.png]",
    ]
    assert dict(got.labels) == {"m": "1"}
    assert streamed(messages, t.id) == [got]

    # the gRPC view changed nothing: REST still has the image parts, details and attachments
    after = rest.get(f"/threads/{t.id}/messages/{made['id']}").json()
    assert after == made
    assert after["content"][1] == {
        "type": "image_file",
        "image_file": {"file_id": "file-abc123", "detail": "auto"},
    }
    assert after["content"][2] == {
        "type": "image_url",
        "image_url": {"url": "https://example.com/cat.png", "detail": "low"},
    }
    assert after["attachments"] == [{"file_id": "file-att", "tools": [{"type": "file_search"}]}]

    # a metadata change over REST shows over gRPC and still keeps the parts
    openai.beta.threads.messages.update(made["id"], thread_id=t.id, metadata={"m": "2"})
    relabelled = messages.Get(ms.GetMessageRequest(thread_id=t.id, message_id=made["id"]))
    assert dict(relabelled.labels) == {"m": "2"}
    sdk_view = openai.beta.threads.messages.retrieve(made["id"], thread_id=t.id)
    assert [p.type for p in sdk_view.content] == ["text", "image_file", "image_url"]


def test_grpc_message_relabelled_and_deleted_over_rest(
    openai: OpenAI, threads: ts_grpc.ThreadServiceStub, messages: ms_grpc.MessageServiceStub
) -> None:
    t = threads.Create(ts.CreateThreadRequest(folder_id="b1g-cross"))
    keep = messages.Create(ms.CreateMessageRequest(thread_id=t.id, content=content("keep")))
    m = messages.Create(ms.CreateMessageRequest(thread_id=t.id, content=content("x"), labels={"a": "1"}))
    openai.beta.threads.messages.update(m.id, thread_id=t.id, metadata={"b": "2"})
    after = messages.Get(ms.GetMessageRequest(thread_id=t.id, message_id=m.id))
    assert dict(after.labels) == {"b": "2"}
    assert (after.author, after.content, after.created_at) == (m.author, m.content, m.created_at)

    openai.beta.threads.messages.delete(m.id, thread_id=t.id)
    with pytest.raises(grpc.RpcError) as info:
        messages.Get(ms.GetMessageRequest(thread_id=t.id, message_id=m.id))
    assert info.value.code() == grpc.StatusCode.NOT_FOUND
    resource = details_of(info.value, error_details_pb2.ResourceInfo)
    assert (resource.resource_type, resource.resource_name) == ("message", m.id)
    assert streamed(messages, t.id) == [keep]


def test_thread_deleted_over_grpc_takes_its_messages(
    openai: OpenAI, threads: ts_grpc.ThreadServiceStub, messages: ms_grpc.MessageServiceStub
) -> None:
    t = openai.beta.threads.create(messages=[{"role": "user", "content": "x"}])
    m = openai.beta.threads.messages.list(t.id).data[0]
    threads.Delete(ts.DeleteThreadRequest(thread_id=t.id))
    with pytest.raises(openai_module.NotFoundError):
        openai.beta.threads.messages.retrieve(m.id, thread_id=t.id)
    with pytest.raises(openai_module.NotFoundError):
        openai.beta.threads.messages.list(t.id)

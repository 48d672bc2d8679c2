"""MessageService in process: Create, Get and the newest-first List stream."""

from __future__ import annotations

from datetime import UTC, timedelta

from google.rpc import error_details_pb2
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.yandex._gen.yandex.cloud.ai.assistants.v1.threads import message_pb2 as mp
from adapters.yandex._gen.yandex.cloud.ai.assistants.v1.threads import message_service_pb2 as ms
from adapters.yandex._gen.yandex.cloud.ai.assistants.v1.threads import thread_pb2
from adapters.yandex._gen.yandex.cloud.ai.assistants.v1.threads import thread_service_pb2 as ts
from adapters.yandex.operations import STREAM_BATCH
from core.entries import NewMessage
from core.model import TextPart
from tests.faces_grpc.harness import (
    FOLDER,
    Code,
    Face,
    detail,
    labels,
    listed,
    method_calls,
    rejected,
    storable,
    text,
    texts_of,
)
from tests.factories import T0


async def new_thread(face: Face, **fields: object) -> thread_pb2.Thread:
    return await face.threads.Create(ts.CreateThreadRequest(folder_id=FOLDER, **fields))  # type: ignore[arg-type]


async def write(face: Face, thread_id: str, *texts: str, **fields: object) -> mp.Message:
    request = ms.CreateMessageRequest(thread_id=thread_id, content=text(*texts), **fields)  # type: ignore[arg-type]
    return await face.messages.Create(request)


async def test_create_without_an_author_uses_the_threads_default_and_get_returns_it(face: Face) -> None:
    t = await new_thread(face)
    face.clock.advance(timedelta(minutes=1))
    m = await write(face, t.id, "hello", "world", labels={"k": "v"})
    assert m.id and m.id != t.id and m.thread_id == t.id
    assert (m.author.id, m.author.role) == (t.default_message_author_id, "USER")
    assert (m.status, texts_of(m), dict(m.labels)) == (mp.Message.COMPLETED, ["hello", "world"], {"k": "v"})
    assert m.created_by == t.created_by and m.created_at.ToDatetime(tzinfo=UTC) == T0 + timedelta(minutes=1)
    assert await face.messages.Get(ms.GetMessageRequest(thread_id=t.id, message_id=m.id)) == m
    # a message is activity: a SINCE_LAST_ACTIVE thread lives on from it
    again = await face.threads.Get(ts.GetThreadRequest(thread_id=t.id))
    assert again.expires_at.ToDatetime(tzinfo=UTC) == T0 + timedelta(days=7, minutes=1)


async def test_the_author_role_comes_back_upper_case(face: Face) -> None:
    t = await new_thread(face, default_message_author_id="user-42")
    shown = []
    for role in ("assistant", "Assistant", "USER", ""):
        m = await write(face, t.id, "x", author=mp.Author(id="", role=role))
        shown.append((m.author.role, m.author.id))
    assert shown == [("ASSISTANT", ""), ("ASSISTANT", ""), ("USER", "user-42"), ("USER", "user-42")]
    m = await write(face, t.id, "x", author=mp.Author(id="someone", role="assistant"))
    assert (m.author.id, m.author.role) == ("someone", "ASSISTANT")


async def test_list_streams_the_thread_newest_first(face: Face) -> None:
    t = await new_thread(face)
    made = [(await write(face, t.id, f"m{i}")).id for i in range(5)]
    got = await listed(face.messages.List(ms.ListMessagesRequest(thread_id=t.id)))
    assert [m.id for m in got] == made[::-1]
    assert [texts_of(m) for m in got] == [[f"m{i}"] for i in reversed(range(5))]
    empty = await new_thread(face)
    assert await listed(face.messages.List(ms.ListMessagesRequest(thread_id=empty.id))) == []


async def test_a_long_thread_streams_whole_across_the_servers_read_batches(face: Face) -> None:
    t = await new_thread(face)
    caller = await face.core.access.authenticate(face.token)
    total = 2 * STREAM_BATCH + 7
    made = [
        (await face.core.messages.create(t.id, NewMessage(content=(TextPart(text=str(i)),)), caller)).id
        for i in range(total)
    ]
    got = [m.id for m in await listed(face.messages.List(ms.ListMessagesRequest(thread_id=t.id)))]
    assert got == made[::-1]


async def test_initial_messages_of_a_new_thread_keep_their_order(face: Face) -> None:
    initial = [
        mp.MessageData(content=text("first")),
        mp.MessageData(content=text("second"), author=mp.Author(role="ASSISTANT")),
        mp.MessageData(content=text("third"), labels={"n": "3"}),
    ]
    t = await new_thread(face, messages=initial)
    got = await listed(face.messages.List(ms.ListMessagesRequest(thread_id=t.id)))
    assert [texts_of(m) for m in got] == [["third"], ["second"], ["first"]]
    assert [m.author.role for m in got] == ["USER", "ASSISTANT", "USER"]
    assert dict(got[0].labels) == {"n": "3"}


async def test_missing_messages_and_threads_are_not_found(face: Face) -> None:
    t, other = await new_thread(face), await new_thread(face)
    m = await write(face, other.id, "elsewhere")
    for thread_id, message_id, resource, name in [
        (t.id, m.id, "message", m.id),  # a message, but of another thread
        (t.id, "msg_nothere", "message", "msg_nothere"),
        ("thread_x", m.id, "thread", "thread_x"),
    ]:
        request = ms.GetMessageRequest(thread_id=thread_id, message_id=message_id)
        info = detail(
            await rejected(face.messages.Get(request), Code.NOT_FOUND), error_details_pb2.ResourceInfo
        )
        assert (info.resource_type, info.resource_name) == (resource, name)
    calls = method_calls(face.editor, "thread_x", m.id)
    for method in ("Messages/Create", "Messages/List"):
        info = detail(await rejected(calls[method](), Code.NOT_FOUND), error_details_pb2.ResourceInfo)
        assert (info.resource_type, info.resource_name) == ("thread", "thread_x")


async def test_an_idempotency_key_makes_a_retried_create_return_the_first_message(face: Face) -> None:
    t = await new_thread(face)
    key = (("idempotency-key", "k-1"),)
    request = ms.CreateMessageRequest(thread_id=t.id, content=text("once"))
    first = await face.messages.Create(request, metadata=key)
    assert await face.messages.Create(request, metadata=key) == first
    different = ms.CreateMessageRequest(thread_id=t.id, content=text("twice"))
    status = await rejected(face.messages.Create(different, metadata=key), Code.INVALID_ARGUMENT)
    assert detail(status, error_details_pb2.BadRequest).field_violations[0].field == "idempotency_key"
    assert [m.id for m in await listed(face.messages.List(ms.ListMessagesRequest(thread_id=t.id)))] == [
        first.id
    ]


parts = st.lists(st.text(storable, min_size=1, max_size=200), min_size=1, max_size=4)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(texts=parts, tags=labels)
async def test_text_and_labels_round_trip(face: Face, texts: list[str], tags: dict[str, str]) -> None:
    t = await new_thread(face)
    m = await write(face, t.id, *texts, labels=tags)
    assert (texts_of(m), dict(m.labels)) == (texts, tags)
    assert await face.messages.Get(ms.GetMessageRequest(thread_id=t.id, message_id=m.id)) == m
    assert await listed(face.messages.List(ms.ListMessagesRequest(thread_id=t.id))) == [m]

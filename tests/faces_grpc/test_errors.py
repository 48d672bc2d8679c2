"""Bad input and store outages, as google.rpc statuses a Yandex client reads."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from google.protobuf import field_mask_pb2
from google.protobuf.message import Message
from google.rpc import error_details_pb2, status_pb2

from adapters.yandex._gen.yandex.cloud.ai.assistants.v1 import common_pb2 as tools_pb2
from adapters.yandex._gen.yandex.cloud.ai.assistants.v1.threads import message_pb2 as mp
from adapters.yandex._gen.yandex.cloud.ai.assistants.v1.threads import message_service_pb2 as ms
from adapters.yandex._gen.yandex.cloud.ai.assistants.v1.threads import thread_service_pb2 as ts
from adapters.yandex._gen.yandex.cloud.ai.common import common_pb2
from core.errors import Unavailable
from tests.faces_grpc.harness import (
    FOLDER,
    READ_METHODS,
    WRITE_METHODS,
    Code,
    Face,
    detail,
    listed,
    method_calls,
    names_a_field,
    rejected,
    text,
    violation,
)

THREAD = "<the thread>"  # in a request, stands for the thread the test made


def method(face: Face, name: str) -> Callable[[Any], Awaitable[object]]:
    """The editor's stub method ``Threads/Create``, ``Messages/List``…, streams read whole."""
    service, rpc = name.split("/")
    call = getattr(face.threads if service == "Threads" else face.messages, rpc)
    return (lambda r: listed(call(r))) if name == "Messages/List" else call


def data(*parts: str, **fields: object) -> mp.MessageData:
    return mp.MessageData(content=text(*parts), **fields)  # type: ignore[arg-type]


def expiring(**config: int) -> common_pb2.ExpirationConfig:
    return common_pb2.ExpirationConfig(**config)  # type: ignore[arg-type]


def mask(*paths: str) -> field_mask_pb2.FieldMask:
    return field_mask_pb2.FieldMask(paths=paths)


def new(**fields: object) -> ts.CreateThreadRequest:
    return ts.CreateThreadRequest(folder_id=FOLDER, **fields)  # type: ignore[arg-type]


def message(**fields: object) -> ms.CreateMessageRequest:
    return ms.CreateMessageRequest(thread_id=THREAD, **fields)  # type: ignore[arg-type]


BAD_INPUT: list[tuple[str, Message, str]] = [
    ("Threads/Create", ts.CreateThreadRequest(), "folder_id"),
    ("Threads/Create", new(name="n" * 257), "name"),
    ("Threads/Create", new(description="d" * 1025), "description"),
    ("Threads/Create", new(default_message_author_id="a\x00"), "default_message_author_id"),
    ("Threads/Create", new(labels={f"k{i}": "" for i in range(17)}), "labels"),
    ("Threads/Create", new(labels={"k": "v" * 513}), "labels.k"),
    ("Threads/Create", new(labels={"a\x00": ""}), "labels"),
    ("Threads/Create", new(expiration_config=expiring(ttl_days=366)), "expiration_config.ttl_days"),
    ("Threads/Create", new(expiration_config=expiring(ttl_days=-1)), "expiration_config.ttl_days"),
    (
        "Threads/Create",
        new(expiration_config=expiring(expiration_policy=9)),
        "expiration_config.expiration_policy",
    ),
    ("Threads/Create", new(messages=[mp.MessageData()]), "messages[0].content"),
    ("Threads/Create", new(messages=[data("ok"), data("a", "b\x00")]), "messages[1].content.content[1]"),
    ("Threads/Create", new(messages=[data("a", author=mp.Author(role="robot"))]), "messages[0].author.role"),
    ("Threads/Create", new(messages=[data("a", labels={"k": "\x00"})]), "messages[0].labels.k"),
    ("Threads/Create", new(messages=[data("a")] * 33), "messages"),
    (
        "Threads/Create",
        new(messages=[mp.MessageData(content=mp.MessageContent(content=[mp.ContentPart()]))]),
        "messages[0].content.content[0]",
    ),
    ("Threads/Create", new(tools=[tools_pb2.Tool()]), "tools[0]"),
    ("Threads/Update", ts.UpdateThreadRequest(thread_id=THREAD), "update_mask"),
    (
        "Threads/Update",
        ts.UpdateThreadRequest(thread_id=THREAD, update_mask=mask("folder_id")),
        "update_mask",
    ),
    (
        "Threads/Update",
        ts.UpdateThreadRequest(thread_id=THREAD, update_mask=mask("expiration_config.no")),
        "update_mask",
    ),
    (
        "Threads/Update",
        ts.UpdateThreadRequest(
            thread_id=THREAD, update_mask=mask("expiration_config"), expiration_config=expiring(ttl_days=400)
        ),
        "expiration_config.ttl_days",
    ),
    (
        "Threads/Update",
        ts.UpdateThreadRequest(thread_id=THREAD, update_mask=mask("name"), name="n" * 257),
        "name",
    ),
    ("Threads/Get", ts.GetThreadRequest(), "thread_id"),
    ("Threads/List", ts.ListThreadsRequest(), "folder_id"),
    ("Threads/List", ts.ListThreadsRequest(folder_id=FOLDER, page_size=-1), "page_size"),
    ("Threads/List", ts.ListThreadsRequest(folder_id=FOLDER, page_token="%%%"), "page_token"),
    ("Threads/List", ts.ListThreadsRequest(folder_id=FOLDER, page_token="bm90QHRoaXM="), "page_token"),
    ("Messages/Create", ms.CreateMessageRequest(content=text("x")), "thread_id"),
    ("Messages/Create", message(), "content"),
    ("Messages/Create", message(content=text("a\x00")), "content"),
    ("Messages/Create", message(content=text("a", "b", "\x00")), "content.content[2]"),
    ("Messages/Create", message(content=mp.MessageContent(content=[mp.ContentPart()])), "content.content[0]"),
    ("Messages/Create", message(content=text("a"), author=mp.Author(role="robot")), "author.role"),
    ("Messages/Create", message(content=text("a"), author=mp.Author(id="i" * 257)), "author.id"),
    ("Messages/Create", message(content=text("a"), labels={f"k{i}": "" for i in range(17)}), "labels"),
    ("Messages/Get", ms.GetMessageRequest(thread_id=THREAD), "message_id"),
    ("Messages/Get", ms.GetMessageRequest(message_id="msg_1"), "thread_id"),
    ("Messages/List", ms.ListMessagesRequest(), "thread_id"),
]


@pytest.mark.parametrize(("name", "request_", "field"), BAD_INPUT, ids=[f"{m}:{f}" for m, _, f in BAD_INPUT])
async def test_bad_input_names_the_proto_field(face: Face, name: str, request_: Message, field: str) -> None:
    t = await face.threads.Create(ts.CreateThreadRequest(folder_id=FOLDER, name="kept"))
    request = type(request_).FromString(request_.SerializeToString())
    if getattr(request, "thread_id", None) == THREAD:
        request.thread_id = t.id  # type: ignore[attr-defined]
    status = await rejected(method(face, name)(request), Code.INVALID_ARGUMENT)
    assert violation(status).field == field
    assert names_a_field(request_, field), f"{field} is no field of {request_.DESCRIPTOR.name}"
    assert await face.threads.Get(ts.GetThreadRequest(thread_id=t.id)) == t
    assert list((await face.threads.List(ts.ListThreadsRequest(folder_id=FOLDER))).threads) == [t]


def test_the_field_check_refuses_what_is_no_field() -> None:
    request = ts.CreateThreadRequest()
    assert names_a_field(request, "messages[0].author.role") and names_a_field(request, "labels.a.b")
    for path in ("folder", "name.x", "messages[0].text", "expiration_config.ttl", "request"):
        assert not names_a_field(request, path), path


async def test_a_huge_bad_value_is_not_echoed_in_full(face: Face) -> None:
    """Error details travel in trailers, which clients cap (16 KiB by default)."""
    status = await rejected(face.threads.Create(new(labels={"k" * 50_000: "v"})), Code.INVALID_ARGUMENT)
    assert len(status.SerializeToString()) < 4_000
    status = await rejected(face.threads.Get(ts.GetThreadRequest(thread_id="t" * 100_000)), Code.NOT_FOUND)
    assert len(status.SerializeToString()) < 4_000


# -- store outages ---------------------------------------------------------------------

NOTHING_CHANGED = "The thread store is unavailable; nothing was changed, retry later"
READS = ("get_thread", "list_threads", "get_message", "list_messages")  # the store's methods
WRITES = ("create_thread", "update_thread", "delete_thread", "append_messages")


def assert_retry_invited(status: status_pb2.Status) -> None:
    assert status.message == NOTHING_CHANGED
    info = detail(status, error_details_pb2.RetryInfo)
    assert (info.retry_delay.seconds, info.retry_delay.nanos) == (1, 0)


@pytest.mark.parametrize("failing", [(), READS], ids=["the whole store", "its reads"])
async def test_an_outage_is_unavailable_with_retry_info_until_it_ends(
    face: Face, failing: tuple[str, ...]
) -> None:
    thread_id, message_id = await face.thread_with_a_message()
    # the whole store: the key lookup fails first, so writes are refused before they start
    face.store.fail(Unavailable("disk I/O error", retry_safe=True), *failing)
    calls = method_calls(face.editor, thread_id, message_id)
    for name in READ_METHODS if failing else calls:
        status = await rejected(calls[name](), Code.UNAVAILABLE)
        assert_retry_invited(status)
        assert "disk" not in status.message, name  # the driver's words stay in the server's log
    face.store.recover()
    got = await listed(face.messages.List(ms.ListMessagesRequest(thread_id=thread_id)))
    assert [m.id for m in got] == [message_id]


async def test_a_write_that_may_have_committed_is_unknown_and_invites_no_retry(face: Face) -> None:
    """UNAVAILABLE would be retried by gRPC retry policies (yandexcloud's among them)."""
    thread_id, message_id = await face.thread_with_a_message()
    face.store.fail(Unavailable("I/O error at COMMIT", retry_safe=False), *WRITES)
    calls = method_calls(face.editor, thread_id, message_id)
    for name in WRITE_METHODS:
        status = await rejected(calls[name](), Code.UNKNOWN)
        assert "may or may not have been stored" in status.message, name
        assert list(status.details) == []
    assert (await face.threads.Get(ts.GetThreadRequest(thread_id=thread_id))).id == thread_id


async def test_an_unexpected_failure_is_internal_and_logged_not_sent(
    face: Face, caplog: pytest.LogCaptureFixture
) -> None:
    thread_id, message_id = await face.thread_with_a_message()
    face.store.fail(RuntimeError("secret internals"))
    caplog.set_level(logging.ERROR, logger="threadgate.grpc")
    for call in method_calls(face.editor, thread_id, message_id).values():
        status = await rejected(call(), Code.INTERNAL)
        assert (status.message, list(status.details)) == ("Internal error.", [])
    logged = [r for r in caplog.records if r.name == "threadgate.grpc"]
    assert len(logged) == 8
    assert all(r.exc_info and "secret internals" in str(r.exc_info[1]) for r in logged)

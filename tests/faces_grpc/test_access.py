"""Who may call: credentials come before anything else, folders hide what they hold."""

from __future__ import annotations

import pytest
from google.protobuf import field_mask_pb2
from google.protobuf.message import Message
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.yandex._gen.yandex.cloud.ai.assistants.v1.threads import message_service_pb2 as ms
from adapters.yandex._gen.yandex.cloud.ai.assistants.v1.threads import thread_service_pb2 as ts
from core.access import AccessRole
from tests.faces_grpc.harness import (
    FOLDER,
    READ_METHODS,
    WRITE_METHODS,
    Code,
    Face,
    listed,
    method_calls,
    rejected,
    text,
    violation,
)

THREADS = "/yandex.cloud.ai.assistants.v1.threads.ThreadService/"
MESSAGES = "/yandex.cloud.ai.assistants.v1.threads.MessageService/"
STREAMS = {f"{MESSAGES}List"}

# Every method, each with a request that is not valid: with a key, each is INVALID_ARGUMENT
# on the field named here; without one, UNAUTHENTICATED, whatever the request holds.
INVALID: dict[str, tuple[Message, str]] = {
    f"{THREADS}Create": (
        ts.CreateThreadRequest(folder_id=FOLDER, labels={"k" * 65: "v"}),
        f"labels.{'k' * 65}",
    ),
    f"{THREADS}Get": (ts.GetThreadRequest(), "thread_id"),
    f"{THREADS}Update": (ts.UpdateThreadRequest(thread_id="thread_x"), "update_mask"),
    f"{THREADS}Delete": (ts.DeleteThreadRequest(), "thread_id"),
    f"{THREADS}List": (ts.ListThreadsRequest(folder_id=FOLDER, page_size=-1), "page_size"),
    f"{MESSAGES}Create": (ms.CreateMessageRequest(), "thread_id"),
    f"{MESSAGES}Get": (ms.GetMessageRequest(), "thread_id"),
    f"{MESSAGES}List": (ms.ListMessagesRequest(), "thread_id"),
}
NAME = field_mask_pb2.FieldMask(paths=["name"])
UNDECODABLE = b"\xff\xff\xff"  # field 31 with wire type 7, which does not exist

MISSING = "Authentication required: no API key or IAM token was provided"
NOT_VALID = "The API key is not valid"


async def raw_call(face: Face, authorization: str | None, method: str, payload: bytes) -> object:
    """``payload`` sent as it is, with no serializer in between."""
    metadata = () if authorization is None else (("authorization", authorization),)
    channel = face.bare.channel
    if method in STREAMS:
        return await listed(channel.unary_stream(method, as_is, as_is)(payload, metadata=metadata))
    return await channel.unary_unary(method, as_is, as_is)(payload, metadata=metadata)


def as_is(raw: bytes) -> bytes:
    return raw


@pytest.mark.parametrize(
    ("authorization", "words"),
    [
        (None, MISSING),
        ("Bearer tgk_000001.not-the-secret", NOT_VALID),
        ("Bearer tgk_nothere.secret", NOT_VALID),
        ("Basic dXNlcjpwYXNz", NOT_VALID),
        ("Bearer", NOT_VALID),
        ("Bearer   ", NOT_VALID),
    ],
)
async def test_no_valid_key_is_unauthenticated_before_decoding_or_validation(
    face: Face, authorization: str | None, words: str
) -> None:
    for method, (request, _) in INVALID.items():
        for payload in (request.SerializeToString(), UNDECODABLE):
            status = await rejected(raw_call(face, authorization, method, payload), Code.UNAUTHENTICATED)
            assert status.message == words and list(status.details) == [], method
    assert await face.store.list_threads(FOLDER, alive_at=face.clock.now(), limit=10, after=None) == []


async def test_with_a_key_the_same_requests_are_invalid(face: Face) -> None:
    authorization = f"Bearer {face.token}"
    for method, (request, field) in INVALID.items():
        status = await rejected(
            raw_call(face, authorization, method, request.SerializeToString()), Code.INVALID_ARGUMENT
        )
        assert violation(status).field == field, method
        status = await rejected(raw_call(face, authorization, method, UNDECODABLE), Code.INVALID_ARGUMENT)
        assert (violation(status).field, violation(status).description) == (
            "request",
            "the request could not be decoded",
        )


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(payload=st.binary(max_size=64), method=st.sampled_from(sorted(INVALID)))
async def test_any_bytes_without_a_key_are_unauthenticated(face: Face, payload: bytes, method: str) -> None:
    status = await rejected(raw_call(face, None, method, payload), Code.UNAUTHENTICATED)
    assert status.message == MISSING


@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "Api-Key", "API-KEY"])
async def test_both_yandex_schemes_in_any_case(face: Face, scheme: str) -> None:
    client = face.client(f"{scheme} {face.token}")
    t = await client.threads.Create(ts.CreateThreadRequest(folder_id=FOLDER))
    assert (await client.threads.Get(ts.GetThreadRequest(thread_id=t.id))).id == t.id


async def test_another_folders_thread_is_not_found_exactly_as_a_missing_one(face: Face) -> None:
    t = await face.threads.Create(ts.CreateThreadRequest(folder_id=FOLDER, name="mine"))
    m = await face.messages.Create(ms.CreateMessageRequest(thread_id=t.id, content=text("hi")))
    stranger = face.client(await face.key("b1g-stranger"))
    for thread_id in (t.id, "thread_nothere"):
        calls = method_calls(stranger, thread_id, m.id)
        for name in set(calls) - {"Threads/Create", "Threads/List"}:
            status = await rejected(calls[name](), Code.NOT_FOUND)
            assert status.message == f"Thread {thread_id} not found", name
    assert await face.threads.Get(ts.GetThreadRequest(thread_id=t.id)) == t
    got = await listed(face.messages.List(ms.ListMessagesRequest(thread_id=t.id)))
    assert [x.id for x in got] == [m.id]


async def test_naming_a_folder_the_key_lacks_is_permission_denied(face: Face) -> None:
    calls = method_calls(face.client(await face.key("b1g-stranger")), "thread_x", "msg_x")
    for name in ("Threads/Create", "Threads/List"):
        status = await rejected(calls[name](), Code.PERMISSION_DENIED)
        assert status.message == f"Permission denied to folder {FOLDER}"


async def test_a_viewer_reads_but_does_not_write(face: Face) -> None:
    thread_id, message_id = await face.thread_with_a_message()
    calls = method_calls(face.client(await face.key(FOLDER, role=AccessRole.VIEWER)), thread_id, message_id)
    for name in READ_METHODS:
        await calls[name]()
    for name in WRITE_METHODS:
        status = await rejected(calls[name](), Code.PERMISSION_DENIED)
        assert status.message == "Permission denied: the 'editor' role is required"
    got = await listed(face.messages.List(ms.ListMessagesRequest(thread_id=thread_id)))
    assert [(m.id, m.thread_id) for m in got] == [(message_id, thread_id)]


async def test_a_revoked_key_is_refused_at_once(face: Face) -> None:
    key, token = await face.core.access.create_key([FOLDER], AccessRole.EDITOR)
    client = face.client(f"Api-Key {token}")
    await client.threads.List(ts.ListThreadsRequest(folder_id=FOLDER))
    await face.core.access.revoke(key.id)
    status = await rejected(
        client.threads.List(ts.ListThreadsRequest(folder_id=FOLDER)), Code.UNAUTHENTICATED
    )
    assert status.message == NOT_VALID

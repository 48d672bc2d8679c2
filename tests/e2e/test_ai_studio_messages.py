"""yandex-ai-studio-sdk 0.22.0's thread.write / thread.read against a running threadgate."""

from __future__ import annotations

import sys
from collections.abc import Iterator

import grpc
import pytest
import yandex_ai_studio_sdk
from yandex.cloud.ai.assistants.v1.threads import thread_service_pb2 as ts
from yandex.cloud.ai.assistants.v1.threads import thread_service_pb2_grpc as ts_grpc
from yandex_ai_studio_sdk import AIStudio
from yandex_ai_studio_sdk.auth import APIKeyAuth

from testkit.server import Server

FOLDER = "b1g-sdk-messages"


@pytest.fixture
def sdk(server: Server) -> Iterator[AIStudio]:
    yield AIStudio(
        folder_id=FOLDER,
        endpoint=None,
        service_map={"ai-assistants": server.grpc_target},
        verify=False,
        auth=APIKeyAuth(server.api_key),
    )


def test_write_plain_text(sdk: AIStudio, channel: grpc.Channel) -> None:
    thread = sdk.threads.create(name="chat")
    m = thread.write("hello there")
    assert m.text == "hello there" and m.parts == ("hello there",)
    assert m.thread_id == thread.id
    assert m.role == "USER"
    default_author = (
        ts_grpc.ThreadServiceStub(channel)
        .Get(ts.GetThreadRequest(thread_id=thread.id))
        .default_message_author_id
    )
    assert m.author.id == default_author != ""
    assert m.status.name == "COMPLETED"
    assert m.citations == ()
    assert m.created_at >= thread.created_at


def test_write_with_role_and_labels(sdk: AIStudio) -> None:
    thread = sdk.threads.create()
    m = thread.write({"text": "I can help", "role": "assistant"}, labels={"turn": "1"})
    # the SDK upper-cases the role and sends its user agent as the author id
    assert m.role == "ASSISTANT"
    python = f"python/{sys.version_info.major}.{sys.version_info.minor}"
    assert m.author.id == f"yandex-ai-studio-sdk/{yandex_ai_studio_sdk.__version__} {python}"
    assert m.labels == {"turn": "1"}
    assert m.text == "I can help"
    u = thread.write({"text": "thanks", "role": "user"})
    assert u.role == "USER"


def test_read_is_newest_first(sdk: AIStudio) -> None:
    thread = sdk.threads.create()
    written = [thread.write(str(i)) for i in range(10)]
    read = list(thread.read())
    assert [m.text for m in read] == [str(i) for i in reversed(range(10))]
    assert [m.id for m in read] == [m.id for m in reversed(written)]
    assert [m.id for m in thread] == [m.id for m in read]  # iterating the thread reads it


def test_get_message(sdk: AIStudio) -> None:
    thread = sdk.threads.create()
    m = thread.write("find me", labels={"k": "v"})
    got = sdk._messages.get(thread_id=thread.id, message_id=m.id)
    assert (got.id, got.text, got.labels, got.author, got.created_at) == (
        m.id,
        "find me",
        {"k": "v"},
        m.author,
        m.created_at,
    )


def test_read_a_long_thread(sdk: AIStudio) -> None:
    thread = sdk.threads.create()
    written = [thread.write(f"m{i}").id for i in range(120)]
    assert [m.id for m in thread.read()] == list(reversed(written))


def test_read_after_delete(sdk: AIStudio) -> None:
    thread = sdk.threads.create()
    thread.write("x")
    same = sdk.threads.get(thread.id)
    thread.delete()
    with pytest.raises(grpc.RpcError) as info:
        list(same.read())  # a second handle does not know it is gone; the server does
    assert info.value.code() == grpc.StatusCode.NOT_FOUND


def test_threads_list_terminates_with_written_threads(sdk: AIStudio) -> None:
    made = []
    for i in range(3):
        thread = sdk.threads.create(name=f"with-messages-{i}")
        thread.write(f"in {i}")
        made.append(thread.id)
    listed = [t.id for t in sdk.threads.list(page_size=2)]
    assert len(listed) == len(set(listed))
    assert [i for i in listed if i in made] == list(reversed(made))

"""What any face can store, every face can send back: size limits before the write,
and list pages bounded in bytes, through the real clients."""

from __future__ import annotations

import grpc
import httpx
import pytest
from google.rpc import error_details_pb2
from yandex.cloud.ai.assistants.v1 import common_pb2 as tools_pb2
from yandex.cloud.ai.assistants.v1.threads import message_service_pb2 as ms
from yandex.cloud.ai.assistants.v1.threads import message_service_pb2_grpc as ms_grpc
from yandex.cloud.ai.assistants.v1.threads import thread_service_pb2 as ts
from yandex.cloud.ai.assistants.v1.threads import thread_service_pb2_grpc as ts_grpc

from tests.e2e.messages_wire import content, texts_of
from tests.e2e.rpc_errors import details_of

FOLDER = "b1g-messages"
# what the Yandex clients accept by default, and what the server may send
GRPC_LIMIT = 4 * 1024 * 1024


def test_a_message_too_large_to_send_back_is_refused_before_it_is_stored(
    threads: ts_grpc.ThreadServiceStub, messages: ms_grpc.MessageServiceStub, http: httpx.Client
) -> None:
    thread = threads.Create(ts.CreateThreadRequest(folder_id=FOLDER))
    small = messages.Create(ms.CreateMessageRequest(thread_id=thread.id, content=content("before")))
    # each part is within the per-part limit; together they are over 4 MiB once stored
    parts = ["x" * 250_000] * 16 + ["y" * 190_000]
    with pytest.raises(grpc.RpcError) as info:
        messages.Create(ms.CreateMessageRequest(thread_id=thread.id, content=content(*parts)))
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    violation = details_of(info.value, error_details_pb2.BadRequest).field_violations[0]
    assert violation.field == "content"
    # nothing was written: every face still lists the thread, and only what was there
    assert [m.id for m in messages.List(ms.ListMessagesRequest(thread_id=thread.id))] == [small.id]
    r = http.get(f"/threads/{thread.id}/messages")
    assert [m["id"] for m in r.json()["data"]] == [small.id]


def test_the_largest_message_any_face_stores_is_read_back_on_every_face(
    threads: ts_grpc.ThreadServiceStub, messages: ms_grpc.MessageServiceStub, http: httpx.Client
) -> None:
    thread = threads.Create(ts.CreateThreadRequest(folder_id=FOLDER))
    largest = "\U0001f600" * 256_000  # one part at the character limit: 1,024,000 bytes
    labels = {f"k{i:02d}" + "\u00e9" * 60: "\U0001f600" * 512 for i in range(16)}
    made = messages.Create(
        ms.CreateMessageRequest(thread_id=thread.id, content=content(largest), labels=labels)
    )
    assert made.ByteSize() < GRPC_LIMIT
    for _ in range(4):  # a page of several is cut by bytes, never by the transport
        messages.Create(ms.CreateMessageRequest(thread_id=thread.id, content=content(largest)))
    got = messages.Get(ms.GetMessageRequest(thread_id=thread.id, message_id=made.id))
    assert texts_of(got) == [largest] and dict(got.labels) == labels
    assert len(list(messages.List(ms.ListMessagesRequest(thread_id=thread.id)))) == 5
    seen: list[str] = []
    after = None
    while True:
        params = {"limit": 100, **({"after": after} if after else {})}
        r = http.get(f"/threads/{thread.id}/messages", params=params)
        assert r.status_code == 200
        page = r.json()
        seen += [m["id"] for m in page["data"]]
        if not page["has_more"]:
            break
        after = page["last_id"]
    assert len(seen) == len(set(seen)) == 5


def test_thread_lists_are_cut_by_bytes_so_large_tools_block_no_one(
    threads: ts_grpc.ThreadServiceStub,
) -> None:
    folder = "b1g-cross"
    too_big = tools_pb2.Tool(search_index=tools_pb2.SearchIndexTool(search_index_ids=["i" * 1024] * 1024))
    with pytest.raises(grpc.RpcError) as info:
        threads.Create(ts.CreateThreadRequest(folder_id=folder, tools=[too_big]))
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    # just under the tools limit each: 24 of them are over 5 MiB, more than one response may carry
    big = tools_pb2.Tool(search_index=tools_pb2.SearchIndexTool(search_index_ids=["i" * 1000] * 250))
    made = {threads.Create(ts.CreateThreadRequest(folder_id=folder, tools=[big])).id for _ in range(24)}
    listed: set[str] = set()
    token = ""
    pages = 0
    while True:
        page = threads.List(ts.ListThreadsRequest(folder_id=folder, page_token=token))
        if not page.threads:
            break
        assert page.ByteSize() < GRPC_LIMIT
        listed |= {t.id for t in page.threads}
        token = page.next_page_token
        pages += 1
    assert made <= listed and pages >= 2

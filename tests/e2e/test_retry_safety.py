"""Retries must never duplicate: idempotency keys on both protocols, no retryable errors."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import grpc
import httpx
import pytest
from yandex.cloud.ai.assistants.v1.threads import message_pb2
from yandex.cloud.ai.assistants.v1.threads import message_service_pb2 as ms
from yandex.cloud.ai.assistants.v1.threads import message_service_pb2_grpc as ms_grpc
from yandex.cloud.ai.assistants.v1.threads import thread_service_pb2 as ts
from yandex.cloud.ai.assistants.v1.threads import thread_service_pb2_grpc as ts_grpc

from testkit.server import Server, running_server
from tests.e2e.rpc_errors import details_of

TEXT = message_pb2.MessageContent(content=[message_pb2.ContentPart(text=message_pb2.Text(content="once"))])


def test_grpc_idempotency_key_returns_the_first_thread(channel: grpc.Channel) -> None:
    threads = ts_grpc.ThreadServiceStub(channel)
    key = (("idempotency-key", str(uuid.uuid4())),)
    request = ts.CreateThreadRequest(folder_id="f", name="only one", labels={"a": "b"})
    first = threads.Create(request, metadata=key)
    second = threads.Create(request, metadata=key)
    assert second == first
    other = threads.Create(request, metadata=(("idempotency-key", str(uuid.uuid4())),))
    assert other.id != first.id
    with pytest.raises(grpc.RpcError) as info:
        threads.Create(ts.CreateThreadRequest(folder_id="f", name="different"), metadata=key)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    from google.rpc import error_details_pb2

    assert details_of(info.value, error_details_pb2.BadRequest).field_violations[0].field == "idempotency_key"


def test_grpc_idempotency_key_on_message_create(channel: grpc.Channel) -> None:
    threads = ts_grpc.ThreadServiceStub(channel)
    messages = ms_grpc.MessageServiceStub(channel)
    t = threads.Create(ts.CreateThreadRequest(folder_id="f"))
    key = (("idempotency-key", str(uuid.uuid4())),)
    first = messages.Create(ms.CreateMessageRequest(thread_id=t.id, content=TEXT), metadata=key)
    second = messages.Create(ms.CreateMessageRequest(thread_id=t.id, content=TEXT), metadata=key)
    assert second == first
    assert [m.id for m in messages.List(ms.ListMessagesRequest(thread_id=t.id))] == [first.id]


def test_rest_idempotency_key_header(http: httpx.Client) -> None:
    headers = {"Idempotency-Key": str(uuid.uuid4())}
    first = http.post("/threads", json={"metadata": {"x": "1"}}, headers=headers)
    second = http.post("/threads", json={"metadata": {"x": "1"}}, headers=headers)
    assert first.status_code == second.status_code == 200
    assert first.json() == second.json()
    thread_id = first.json()["id"]
    m1 = http.post(f"/threads/{thread_id}/messages", json={"role": "user", "content": "hi"}, headers=headers)
    m2 = http.post(f"/threads/{thread_id}/messages", json={"role": "user", "content": "hi"}, headers=headers)
    assert m1.json() == m2.json()
    listed = http.get(f"/threads/{thread_id}/messages").json()
    assert [m["id"] for m in listed["data"]] == [m1.json()["id"]]
    reused = http.post("/threads", json={"metadata": {"x": "2"}}, headers=headers)
    assert reused.status_code == 400 and reused.json()["error"]["param"] == "idempotency_key"


def test_idempotency_window_is_bounded(tmp_path: Path) -> None:
    with running_server(tmp_path / "d", "--idempotency-window", "1") as server, server.channel() as ch:
        threads = ts_grpc.ThreadServiceStub(ch)
        key = (("idempotency-key", "same"),)
        first = threads.Create(ts.CreateThreadRequest(folder_id="f"), metadata=key)
        assert threads.Create(ts.CreateThreadRequest(folder_id="f"), metadata=key).id == first.id
        time.sleep(1.2)
        assert threads.Create(ts.CreateThreadRequest(folder_id="f"), metadata=key).id != first.id


def test_no_rest_error_invites_a_retry(server: Server, http: httpx.Client) -> None:
    """The openai SDK retries 408/409/429/5xx unless told not to: threadgate never sends those
    for requests a retry cannot fix, and marks every error x-should-retry: false."""
    responses = [
        http.post("/threads", json={"metadata": {"a": 1}}),
        http.get("/threads/thread_missing"),
        http.post("/threads", content=b"{", headers={"content-type": "application/json"}),
        httpx.post(f"{server.base_url}/threads"),
        http.post("/threads", headers={"OpenAI-Beta": "assistants=v1"}),
    ]
    for r in responses:
        assert r.status_code < 500 and r.status_code not in (408, 409, 429), r.text
        assert r.headers["x-should-retry"] == "false"

"""API keys and tenant isolation on both protocols, with the real clients."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import httpx
import openai as openai_module
import pytest
from google.protobuf import field_mask_pb2
from yandex.cloud.ai.assistants.v1.threads import message_pb2
from yandex.cloud.ai.assistants.v1.threads import message_service_pb2 as ms
from yandex.cloud.ai.assistants.v1.threads import message_service_pb2_grpc as ms_grpc
from yandex.cloud.ai.assistants.v1.threads import thread_service_pb2 as ts
from yandex.cloud.ai.assistants.v1.threads import thread_service_pb2_grpc as ts_grpc
from yandex_ai_studio_sdk import AIStudio
from yandex_ai_studio_sdk.auth import APIKeyAuth

from testkit.server import ROOT, Server, create_key, running_server
from tests.e2e.conftest import openai_client

A_FOLDER, B_FOLDER = "folder-a", "folder-b"


class Tenant:
    def __init__(self, server: Server, token: str) -> None:
        self.token = token
        self.openai = openai_client(server, token)
        self.channel = grpc.insecure_channel(server.grpc_target)
        self.threads = ts_grpc.ThreadServiceStub(self.channel)
        self.messages = ms_grpc.MessageServiceStub(self.channel)
        self.metadata = (("authorization", f"Api-Key {token}"),)
        self.http = httpx.Client(
            base_url=server.base_url,
            headers={"Authorization": f"Bearer {token}", "OpenAI-Beta": "assistants=v2"},
        )

    def close(self) -> None:
        self.openai.close()
        self.channel.close()
        self.http.close()


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    data = tmp_path_factory.mktemp("access")
    with running_server(data, key_folders=()) as server:
        first = server.api_key  # printed by the first serve on an empty store
        assert first.startswith("tgk_")
        tenants = {
            "A": Tenant(server, create_key(data, [A_FOLDER], "editor")),
            "B": Tenant(server, create_key(data, [B_FOLDER], "editor")),
            "V": Tenant(server, create_key(data, [A_FOLDER], "viewer")),
        }
        yield {"server": server, "data": data, "first": first, **tenants}
        for t in tenants.values():
            t.close()


def test_first_key_is_printed_once_and_works_on_the_default_folder(env: dict[str, Any]) -> None:
    server: Server = env["server"]
    assert server.log().count(env["first"]) == 1
    with openai_client(server, env["first"]) as client:
        made = client.beta.threads.create()
    channel = grpc.insecure_channel(server.grpc_target)
    t = ts_grpc.ThreadServiceStub(channel).Get(
        ts.GetThreadRequest(thread_id=made.id), metadata=(("authorization", f"Bearer {env['first']}"),)
    )
    assert t.folder_id == "default"
    channel.close()


def test_rest_refuses_missing_and_wrong_keys(env: dict[str, Any]) -> None:
    server: Server = env["server"]
    r = httpx.post(f"{server.base_url}/threads")
    assert r.status_code == 401
    assert r.json()["error"]["code"] is None and "API key" in r.json()["error"]["message"]
    for header in ("Bearer tgk_nope.secret", "Bearer " + env["A"].token + "x", "Basic abc", env["A"].token):
        r = httpx.post(f"{server.base_url}/threads", headers={"Authorization": header})
        assert r.status_code == 401, header
        assert r.json()["error"]["code"] == "invalid_api_key"
    with (
        openai_client(server, "sk-wrong") as client,
        pytest.raises(openai_module.AuthenticationError) as info,
    ):
        client.beta.threads.create()
    assert info.value.code == "invalid_api_key"


def test_rest_authenticates_before_it_validates(env: dict[str, Any]) -> None:
    """A caller without a valid key learns nothing about its request: 401 on every route,
    whatever is wrong with the path, the query or the body."""
    server: Server = env["server"]
    beta = {"OpenAI-Beta": "assistants=v2"}
    calls = [
        ("GET", "/threads/not-a-thread-id", None),
        ("POST", "/threads/not-a-thread-id", b"{bad json"),
        ("DELETE", "/threads/x", None),
        ("POST", "/threads/x/messages", b"[]"),
        ("GET", "/threads/x/messages?limit=abc&order=up", None),
        ("GET", "/threads/x/messages/y", None),
        ("POST", "/threads/x/messages/y", b"{"),
        ("DELETE", "/threads/x/messages/y", None),
        ("POST", "/threads", b"{bad json"),
    ]
    for auth in ({}, {"Authorization": "Bearer tgk_nope.secret"}):
        for method, path, body in calls:
            r = httpx.request(method, server.base_url + path, content=body, headers={**beta, **auth})
            assert r.status_code == 401, (method, path, auth, r.text)


def test_grpc_authenticates_before_it_decodes(env: dict[str, Any]) -> None:
    server: Server = env["server"]
    channel = grpc.insecure_channel(server.grpc_target)
    garbage = channel.unary_unary(
        "/yandex.cloud.ai.assistants.v1.threads.ThreadService/Get",
        request_serializer=lambda b: b,
        response_deserializer=lambda b: b,
    )
    try:
        with pytest.raises(grpc.RpcError) as info:
            garbage(b"\xff\xff\xff")
        assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
        with pytest.raises(grpc.RpcError) as info:
            garbage(b"\xff\xff\xff", metadata=(("authorization", f"Bearer {env['A'].token}"),))
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    finally:
        channel.close()


def test_an_idempotency_key_never_replays_into_another_project(env: dict[str, Any]) -> None:
    """The same key and body sent for another folder is another request, not a replay."""
    server: Server = env["server"]
    token = create_key(env["data"], [A_FOLDER, B_FOLDER], "editor")
    headers = {"Authorization": f"Bearer {token}", "OpenAI-Beta": "assistants=v2", "Idempotency-Key": "same"}
    first = httpx.post(f"{server.base_url}/threads", json={}, headers={**headers, "OpenAI-Project": A_FOLDER})
    assert first.status_code == 200, first.text
    again = httpx.post(f"{server.base_url}/threads", json={}, headers={**headers, "OpenAI-Project": A_FOLDER})
    assert again.json()["id"] == first.json()["id"]
    other = httpx.post(f"{server.base_url}/threads", json={}, headers={**headers, "OpenAI-Project": B_FOLDER})
    assert other.status_code == 400, other.text
    assert other.json()["error"]["code"] == "idempotency_key_reused"


def test_grpc_refuses_missing_and_wrong_keys(env: dict[str, Any]) -> None:
    threads: ts_grpc.ThreadServiceStub = env["A"].threads
    for metadata in ((), (("authorization", "Bearer nope"),), (("authorization", "Api-Key tgk_x.y"),)):
        with pytest.raises(grpc.RpcError) as info:
            threads.List(ts.ListThreadsRequest(folder_id=A_FOLDER), metadata=metadata)
        assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED


def test_both_authorization_schemes_work_over_grpc(env: dict[str, Any]) -> None:
    a: Tenant = env["A"]
    for scheme in ("Bearer", "Api-Key"):
        t = a.threads.Create(
            ts.CreateThreadRequest(folder_id=A_FOLDER), metadata=(("authorization", f"{scheme} {a.token}"),)
        )
        assert t.folder_id == A_FOLDER and t.created_by.startswith("sub_")


def test_isolation_matrix(env: dict[str, Any]) -> None:
    a: Tenant = env["A"]
    b: Tenant = env["B"]
    thread = a.openai.beta.threads.create(metadata={"owner": "a"})
    message = a.openai.beta.threads.messages.create(thread.id, role="user", content="secret")
    g_thread = a.threads.Create(
        ts.CreateThreadRequest(folder_id=A_FOLDER, name="a-thread"), metadata=a.metadata
    )
    md = b.metadata

    rest_calls: list[Callable[[], object]] = [
        lambda: b.openai.beta.threads.retrieve(thread.id),
        lambda: b.openai.beta.threads.update(thread.id, metadata={"owner": "b"}),
        lambda: b.openai.beta.threads.delete(thread.id),
        lambda: b.openai.beta.threads.messages.create(thread.id, role="user", content="x"),
        lambda: b.openai.beta.threads.messages.list(thread.id),
        lambda: b.openai.beta.threads.messages.retrieve(message.id, thread_id=thread.id),
        lambda: b.openai.beta.threads.messages.update(message.id, thread_id=thread.id, metadata={"k": "v"}),
        lambda: b.openai.beta.threads.messages.delete(message.id, thread_id=thread.id),
        lambda: b.openai.beta.threads.retrieve(g_thread.id),
    ]
    for call in rest_calls:
        with pytest.raises(openai_module.NotFoundError):
            call()

    mask = field_mask_pb2.FieldMask(paths=["name"])
    text = message_pb2.MessageContent(content=[message_pb2.ContentPart(text=message_pb2.Text(content="x"))])
    not_found: list[Callable[[], object]] = [
        lambda: b.threads.Get(ts.GetThreadRequest(thread_id=thread.id), metadata=md),
        lambda: b.threads.Update(
            ts.UpdateThreadRequest(thread_id=thread.id, update_mask=mask, name="b"), metadata=md
        ),
        lambda: b.threads.Delete(ts.DeleteThreadRequest(thread_id=g_thread.id), metadata=md),
        lambda: b.messages.Create(ms.CreateMessageRequest(thread_id=thread.id, content=text), metadata=md),
        lambda: b.messages.Get(ms.GetMessageRequest(thread_id=thread.id, message_id=message.id), metadata=md),
        lambda: list(b.messages.List(ms.ListMessagesRequest(thread_id=thread.id), metadata=md)),
    ]
    for call in not_found:
        with pytest.raises(grpc.RpcError) as info:
            call()
        assert info.value.code() == grpc.StatusCode.NOT_FOUND
    denied: list[Callable[[], object]] = [
        lambda: b.threads.List(ts.ListThreadsRequest(folder_id=A_FOLDER), metadata=md),
        lambda: b.threads.Create(ts.CreateThreadRequest(folder_id=A_FOLDER), metadata=md),
    ]
    for call in denied:
        with pytest.raises(grpc.RpcError) as info:
            call()
        assert info.value.code() == grpc.StatusCode.PERMISSION_DENIED

    # nothing changed
    again = a.openai.beta.threads.retrieve(thread.id)
    assert again.metadata == {"owner": "a"}
    assert [m.id for m in a.openai.beta.threads.messages.list(thread.id)] == [message.id]
    assert a.threads.Get(ts.GetThreadRequest(thread_id=g_thread.id), metadata=a.metadata).name == "a-thread"
    listed = b.threads.List(ts.ListThreadsRequest(folder_id=B_FOLDER), metadata=md)
    assert thread.id not in [t.id for t in listed.threads]


def test_openai_project_header_picks_a_folder(env: dict[str, Any]) -> None:
    a: Tenant = env["A"]
    r = a.http.post("/threads", headers={"OpenAI-Project": B_FOLDER})
    assert r.status_code == 403 and r.json()["error"]["type"] == "invalid_request_error"
    r = a.http.post("/threads", headers={"OpenAI-Project": A_FOLDER})
    assert r.status_code == 200
    with (
        openai_module.OpenAI(
            base_url=env["server"].base_url, api_key=a.token, project=B_FOLDER, max_retries=0
        ) as client,
        pytest.raises(openai_module.PermissionDeniedError),
    ):
        client.beta.threads.create()


def test_viewer_reads_but_cannot_write(env: dict[str, Any]) -> None:
    a: Tenant = env["A"]
    v: Tenant = env["V"]
    thread = a.openai.beta.threads.create()
    m = a.openai.beta.threads.messages.create(thread.id, role="user", content="hi")
    assert v.openai.beta.threads.retrieve(thread.id).id == thread.id
    assert [x.id for x in v.openai.beta.threads.messages.list(thread.id)] == [m.id]
    listed = v.threads.List(ts.ListThreadsRequest(folder_id=A_FOLDER), metadata=v.metadata)
    assert thread.id in [t.id for t in listed.threads]
    writes: list[Callable[[], object]] = [
        lambda: v.openai.beta.threads.update(thread.id, metadata={"x": "y"}),
        lambda: v.openai.beta.threads.delete(thread.id),
        lambda: v.openai.beta.threads.messages.create(thread.id, role="user", content="x"),
        lambda: v.openai.beta.threads.messages.delete(m.id, thread_id=thread.id),
        lambda: v.openai.beta.threads.create(),
    ]
    for call in writes:
        with pytest.raises(openai_module.PermissionDeniedError):
            call()
    with pytest.raises(grpc.RpcError) as info:
        v.threads.Create(ts.CreateThreadRequest(folder_id=A_FOLDER), metadata=v.metadata)
    assert info.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert a.openai.beta.threads.retrieve(thread.id).metadata == {}


def test_created_by_is_the_calling_subject(env: dict[str, Any]) -> None:
    a: Tenant = env["A"]
    made = a.openai.beta.threads.create()
    t = a.threads.Get(ts.GetThreadRequest(thread_id=made.id), metadata=a.metadata)
    assert t.created_by == t.updated_by and t.created_by.startswith("sub_")
    text = message_pb2.MessageContent(content=[message_pb2.ContentPart(text=message_pb2.Text(content="x"))])
    m = a.messages.Create(ms.CreateMessageRequest(thread_id=made.id, content=text), metadata=a.metadata)
    assert m.created_by == t.created_by


def test_ai_studio_sdk_authenticates_with_api_key_auth(env: dict[str, Any]) -> None:
    a: Tenant = env["A"]
    sdk = AIStudio(
        folder_id=A_FOLDER,
        endpoint=None,
        service_map={"ai-assistants": env["server"].grpc_target},
        verify=False,
        auth=APIKeyAuth(a.token),
    )
    thread = sdk.threads.create(name="via-sdk")
    assert sdk.threads.get(thread.id).name == "via-sdk"
    thread.delete()


def test_revocation_takes_effect_at_once(env: dict[str, Any]) -> None:
    data: Path = env["data"]
    server: Server = env["server"]
    token = create_key(data, [A_FOLDER], "editor")
    tenant = Tenant(server, token)
    try:
        tenant.openai.beta.threads.create()
        listing = subprocess.run(
            [sys.executable, "-m", "adapters.cli", "keys", "list", "--data-dir", str(data)],
            capture_output=True,
            text=True,
            check=True,
            cwd=ROOT,
        ).stdout
        key_id = token.split(".")[0]
        assert key_id in listing and token.split(".")[1] not in listing
        subprocess.run(
            [sys.executable, "-m", "adapters.cli", "keys", "revoke", key_id, "--data-dir", str(data)],
            check=True,
            cwd=ROOT,
            capture_output=True,
        )
        with pytest.raises(openai_module.AuthenticationError):
            tenant.openai.beta.threads.create()
        with pytest.raises(grpc.RpcError) as info:
            tenant.threads.List(ts.ListThreadsRequest(folder_id=A_FOLDER), metadata=tenant.metadata)
        assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
    finally:
        tenant.close()


def test_no_secret_in_any_log_line(env: dict[str, Any]) -> None:
    server: Server = env["server"]
    wrong = "tgk_AAAAAAAAAAAAAAAAAAAAAAAA.this-secret-must-not-be-logged"
    httpx.get(f"{server.base_url}/threads/thread_x", headers={"Authorization": f"Bearer {wrong}"})
    log = server.log()
    for tenant in ("A", "B", "V"):
        assert env[tenant].token.split(".")[1] not in log
    assert "this-secret-must-not-be-logged" not in log
    # the first key's secret appears exactly once: the line that announces it
    assert log.count(env["first"].split(".")[1]) == 1


def test_anonymous_mode_is_explicit_and_loud(tmp_path: Path) -> None:
    with running_server(tmp_path / "anon", "--allow-anonymous", key_folders=()) as server:
        r = httpx.post(f"{server.base_url}/threads", headers={"OpenAI-Beta": "assistants=v2"})
        assert r.status_code == 200
        r = httpx.post(f"{server.base_url}/threads", headers={"Authorization": "Bearer wrong"})
        assert r.status_code == 401
        channel = grpc.insecure_channel(server.grpc_target)
        t = ts_grpc.ThreadServiceStub(channel).Create(ts.CreateThreadRequest(folder_id="anything"))
        assert t.created_by == "anonymous"
        channel.close()
        assert "ANONYMOUS ACCESS IS ON" in server.log()

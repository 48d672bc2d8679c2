"""Every row of docs/errors.md, on both protocols, against a running server."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
from google.rpc import error_details_pb2
from yandex.cloud.ai.assistants.v1.threads import message_pb2
from yandex.cloud.ai.assistants.v1.threads import message_service_pb2 as ms
from yandex.cloud.ai.assistants.v1.threads import message_service_pb2_grpc as ms_grpc
from yandex.cloud.ai.assistants.v1.threads import thread_service_pb2 as ts
from yandex.cloud.ai.assistants.v1.threads import thread_service_pb2_grpc as ts_grpc
from yandex.cloud.ai.common import common_pb2

from testkit.server import Server, running_server
from tests.e2e.rpc_errors import details_of


def text(value: str) -> message_pb2.MessageContent:
    return message_pb2.MessageContent(content=[message_pb2.ContentPart(text=message_pb2.Text(content=value))])


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server whose threads hold at most 3 messages."""
    with running_server(tmp_path_factory.mktemp("small"), "--max-messages-per-thread", "3") as s:
        yield s


Stubs = tuple[ts_grpc.ThreadServiceStub, ms_grpc.MessageServiceStub]


@pytest.fixture(scope="module")
def stubs(small: Server) -> Iterator[Stubs]:
    ch = small.channel()
    yield ts_grpc.ThreadServiceStub(ch), ms_grpc.MessageServiceStub(ch)
    ch.close()


@pytest.fixture(scope="module")
def rest(small: Server) -> Iterator[httpx.Client]:
    with small.http() as client:
        yield client


def rest_error(r: httpx.Response, status: int) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/json"
    body = r.json()
    assert set(body) == {"error"} and set(body["error"]) == {"message", "type", "param", "code"}
    error: dict[str, Any] = body["error"]
    return error


def grpc_violation(call: Callable[[], object]) -> str:
    with pytest.raises(grpc.RpcError) as info:
        call()
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    field: str = details_of(info.value, error_details_pb2.BadRequest).field_violations[0].field
    return field


def test_not_found_thread_and_message(rest: httpx.Client, stubs: Stubs) -> None:
    _threads, messages = stubs
    err = rest_error(rest.get("/threads/thread_nothere"), 404)
    assert err == {
        "message": "No thread found with id 'thread_nothere'.",
        "type": "invalid_request_error",
        "param": None,
        "code": None,
    }
    t = rest.post("/threads").json()
    err = rest_error(rest.get(f"/threads/{t['id']}/messages/msg_nothere"), 404)
    assert err["message"] == "No message found with id 'msg_nothere'."
    with pytest.raises(grpc.RpcError) as info:
        messages.Get(ms.GetMessageRequest(thread_id=t["id"], message_id="msg_nothere"))
    assert info.value.code() == grpc.StatusCode.NOT_FOUND
    resource = details_of(info.value, error_details_pb2.ResourceInfo)
    assert (resource.resource_type, resource.resource_name) == ("message", "msg_nothere")


@pytest.mark.parametrize(
    ("labels", "rest_param", "grpc_field", "code"),
    [
        ({str(i): "v" for i in range(17)}, "metadata", "labels", "object_above_max_properties"),
        ({"k": "v" * 513}, "metadata.k", "labels.k", "string_above_max_length"),
        ({"k" * 65: "v"}, "metadata." + "k" * 65, "labels." + "k" * 65, "string_above_max_length"),
    ],
)
def test_label_limits(
    rest: httpx.Client, stubs: Stubs, labels: dict[str, str], rest_param: str, grpc_field: str, code: str
) -> None:
    threads, _ = stubs
    err = rest_error(rest.post("/threads", json={"metadata": labels}), 400)
    assert (err["param"], err["code"]) == (rest_param, code)
    assert (
        grpc_violation(lambda: threads.Create(ts.CreateThreadRequest(folder_id="f", labels=labels)))
        == grpc_field
    )


def test_ttl_out_of_range(stubs: Stubs) -> None:
    threads, _ = stubs
    config = common_pb2.ExpirationConfig(ttl_days=366)
    field = grpc_violation(
        lambda: threads.Create(ts.CreateThreadRequest(folder_id="f", expiration_config=config))
    )
    assert field == "expiration_config.ttl_days"


def test_too_many_initial_messages(rest: httpx.Client, stubs: Stubs) -> None:
    threads, _ = stubs
    err = rest_error(rest.post("/threads", json={"messages": [{"role": "user", "content": "x"}] * 33}), 400)
    assert (err["param"], err["code"]) == ("messages", "array_above_max_length")
    many = [message_pb2.MessageData(content=text("x"))] * 33
    assert (
        grpc_violation(lambda: threads.Create(ts.CreateThreadRequest(folder_id="f", messages=many)))
        == "messages"
    )


def test_text_too_long(rest: httpx.Client, stubs: Stubs) -> None:
    _threads, messages = stubs
    t = rest.post("/threads").json()
    err = rest_error(
        rest.post(f"/threads/{t['id']}/messages", json={"role": "user", "content": "x" * 256_001}), 400
    )
    assert (err["param"], err["code"]) == ("content", "string_above_max_length")
    field = grpc_violation(
        lambda: messages.Create(ms.CreateMessageRequest(thread_id=t["id"], content=text("x" * 256_001)))
    )
    assert field == "content"


def test_bad_role(rest: httpx.Client, stubs: Stubs) -> None:
    _, messages = stubs
    t = rest.post("/threads").json()
    err = rest_error(rest.post(f"/threads/{t['id']}/messages", json={"role": "system", "content": "x"}), 400)
    assert (err["param"], err["code"]) == ("role", "invalid_value")
    author = message_pb2.Author(role="SYSTEM")
    field = grpc_violation(
        lambda: messages.Create(ms.CreateMessageRequest(thread_id=t["id"], author=author, content=text("x")))
    )
    assert field == "author.role"


def test_message_limit_is_resource_exhausted(rest: httpx.Client, stubs: Stubs) -> None:
    _, messages = stubs
    t = rest.post("/threads", json={"messages": [{"role": "user", "content": "x"}] * 3}).json()
    err = rest_error(rest.post(f"/threads/{t['id']}/messages", json={"role": "user", "content": "x"}), 400)
    assert err["code"] == "messages_per_thread_exceeded"
    with pytest.raises(grpc.RpcError) as info:
        messages.Create(ms.CreateMessageRequest(thread_id=t["id"], content=text("x")))
    assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    quota = details_of(info.value, error_details_pb2.QuotaFailure)
    assert quota.violations[0].subject == "messages_per_thread"
    assert len(rest.get(f"/threads/{t['id']}/messages").json()["data"]) == 3


@pytest.mark.parametrize(
    ("kwargs", "status", "param", "code"),
    [
        ({"content": b"{", "headers": {"content-type": "application/json"}}, 400, None, None),
        ({"content": b"[]", "headers": {"content-type": "application/json"}}, 400, None, "invalid_type"),
        ({"content": b"a", "headers": {"content-type": "text/plain"}}, 400, None, "unsupported_content_type"),
        ({"json": {"file_ids": []}}, 400, "file_ids", "unknown_parameter"),
        ({"json": {"metadata": []}}, 400, "metadata", "invalid_type"),
        ({"json": {"messages": [{"content": "x"}]}}, 400, "messages[0].role", "missing_required_parameter"),
        (
            {"json": {"tool_resources": {"file_search": {"vector_stores": [{}]}}}},
            400,
            "tool_resources.file_search.vector_stores",
            "unsupported_parameter",
        ),
        (
            {"content": b" " * (2 * 1024 * 1024 + 1), "headers": {"content-type": "application/json"}},
            413,
            None,
            "request_too_large",
        ),
    ],
)
def test_rest_errors_before_the_core(
    small: Server, kwargs: dict[str, Any], status: int, param: str | None, code: str | None
) -> None:
    # a connection of its own: the server may close it after refusing a large body unread
    with small.http() as client:
        err = rest_error(client.post("/threads", **kwargs), status)
    assert (err["param"], err["code"]) == (param, code)


def test_rest_ids_routes_and_beta(small: Server, rest: httpx.Client) -> None:
    # any id works on every face (conv_ ids, vendor ids): one that names nothing is a 404
    err = rest_error(rest.get("/threads/msg_abc"), 404)
    assert err["message"] == "No thread found with id 'msg_abc'."
    err = rest_error(rest.get(f"/threads/{'x' * 257}"), 400)
    assert err["param"] == "thread_id"
    rest_error(rest.get("/v2/nothing"), 404)
    rest_error(rest.patch("/threads/thread_abc"), 405)
    auth = {"Authorization": small.auth_headers["Authorization"]}
    err = rest_error(httpx.post(f"{small.base_url}/threads", headers=auth), 400)
    assert err["code"] == "invalid_beta" and "OpenAI-Beta: assistants=v2" in err["message"]
    err = rest_error(
        httpx.post(f"{small.base_url}/threads", headers={**auth, "OpenAI-Beta": "assistants=v1"}), 400
    )
    assert err["code"] == "invalid_beta" and "v1 Assistants API has been deprecated" in err["message"]


def test_beta_header_can_be_relaxed(tmp_path: Path) -> None:
    with running_server(tmp_path / "d", "--no-require-openai-beta") as server:
        r = httpx.post(f"{server.base_url}/threads", headers={"Authorization": f"Bearer {server.api_key}"})
        assert r.status_code == 200

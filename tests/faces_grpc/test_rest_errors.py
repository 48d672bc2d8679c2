"""Every error of the Yandex REST face: a google.rpc.Status as JSON, with the HTTP status
of the gRPC -> HTTP table, a RequestInfo naming the request and, for input the face cannot
read, the field by its proto name.  No bad input is a 500."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest
from google.rpc import code_pb2

from adapters.yandex.rest.errors import HTTP_STATUS
from core.access import AccessRole
from core.errors import Unavailable
from core.services import CoreSettings
from tests.faces_grpc.rest_harness import (
    FOLDER,
    OTHER_FOLDER,
    READ_ROUTES,
    STREAM,
    WRITE_ROUTES,
    RestFace,
    error_of,
    route_calls,
    start_rest,
    status_of,
    violation_of,
)

TEXT = {"content": [{"text": {"content": "x"}}]}


def test_the_grpc_to_http_table_is_grpc_gateways() -> None:
    assert {code_pb2.Code.Name(c): h for c, h in HTTP_STATUS.items()} == {
        "OK": 200,
        "CANCELLED": 499,
        "UNKNOWN": 500,
        "INVALID_ARGUMENT": 400,
        "DEADLINE_EXCEEDED": 504,
        "NOT_FOUND": 404,
        "ALREADY_EXISTS": 409,
        "PERMISSION_DENIED": 403,
        "RESOURCE_EXHAUSTED": 429,
        "FAILED_PRECONDITION": 400,
        "ABORTED": 409,
        "OUT_OF_RANGE": 400,
        "UNIMPLEMENTED": 501,
        "INTERNAL": 500,
        "UNAVAILABLE": 503,
        "DATA_LOSS": 500,
        "UNAUTHENTICATED": 401,
    }


@pytest.mark.parametrize(
    ("body", "field", "description"),
    [
        (b"{", "body", "not valid JSON"),
        (b'{"folderId": "a",}', "body", "not valid JSON"),
        (b"[1]", "body", "expected a JSON object"),
        (b'"folder"', "body", "expected a JSON object"),
        (b"null", "body", "expected a JSON object"),
        (b'{"name": "\\ud800"}', "body", "not valid JSON"),  # an unpaired surrogate
        (
            b'{"folderId": "f", "expirationConfig": {"ttlDays": "abc"}}',
            "expiration_config.ttl_days",
            "expected an integer",
        ),
        (b'{"expirationConfig": {"ttlDays": 5.5}}', "expiration_config.ttl_days", "expected an integer"),
        (b'{"expirationConfig": {"ttlDays": 1e30}}', "expiration_config.ttl_days", "expected an integer"),
        (b'{"expirationConfig": {"ttlDays": true}}', "expiration_config.ttl_days", "expected an integer"),
        (
            b'{"expirationConfig": {"expirationPolicy": {}}}',
            "expiration_config.expiration_policy",
            "expected one of",
        ),
        (b'{"expirationConfig": "STATIC"}', "expiration_config", "expected an object"),
        (b'{"expirationConfig": {"ttlDays": "1_000"}}', "expiration_config.ttl_days", "expected an integer"),
        (b'{"expirationConfig": {"ttlDays": "+5"}}', "expiration_config.ttl_days", "expected an integer"),
        (b'{"expirationConfig": {"ttlDays": " 5"}}', "expiration_config.ttl_days", "expected an integer"),
        (
            b'{"expirationConfig": {"expirationPolicy": true}}',
            "expiration_config.expiration_policy",
            "expected one of",
        ),
        (
            b'{"expirationConfig": {"expirationPolicy": 1.5}}',
            "expiration_config.expiration_policy",
            "expected one of",
        ),
        (b'{"name": 5}', "name", "expected a string"),
        (b'{"name": true}', "name", "expected a string"),
        (b'{"labels": {"k": null}}', "labels.k", "null is not allowed"),
        (
            b'{"tools": [{"searchIndex": {"maxNumResults": true}}]}',
            "tools[0].search_index.max_num_results",
            "expected an integer",
        ),
        (b'{"labels": {"k": 1}}', "labels.k", "expected a string"),
        (b'{"labels": ["k"]}', "labels", "expected an object"),
        (b'{"messages": {}}', "messages", "expected an array"),
        (b'{"messages": [null]}', "messages[0]", "null is not allowed"),
        (b'{"messages": [{"author": "me"}]}', "messages[0].author", "expected an object"),
        (
            b'{"messages": [{"content": {"content": [{"text": {"content": 1}}]}}]}',
            "messages[0].content.content[0].text.content",
            "expected a string",
        ),
        (b'{"tools": [{"function": {}, "genSearch": {}}]}', "tools[0]", "only one of function, gen_search"),
        (
            b'{"tools": [{"searchIndex": {"maxNumResults": "x"}}]}',
            "tools[0].search_index.max_num_results",
            "expected an integer",
        ),
        (
            b'{"tools": [{"searchIndex": {"searchIndexIds": ["a", 1]}}]}',
            "tools[0].search_index.search_index_ids[1]",
            "expected a string",
        ),
        (
            b'{"tools": [{"function": {"parameters": [1]}}]}',
            "tools[0].function.parameters",
            "Struct must be in a dict",
        ),
        (b'{"folderId": "a", "folder_id": "b"}', "folder_id", "given twice, as folderId and folder_id"),
    ],
)
async def test_a_body_the_face_cannot_read_is_400_naming_the_field(
    rest: RestFace, body: bytes, field: str, description: str
) -> None:
    status = status_of(await rest.client.post("/threads", content=body), 400, 3)
    got_field, got_description = violation_of(status)
    assert got_field == field and got_description.startswith(description), (got_field, got_description)


@pytest.mark.parametrize(
    ("mask", "description"),
    [
        ("expiration_config.ttl_days", "expected camelCase paths"),  # a snake_case path
        ({"paths": ["name"]}, "expected camelCase paths"),  # the object form
        (["name"], "expected camelCase paths"),
        ("nothing", "invalid path 'nothing'"),
        ("name,,labels", "invalid path ''"),
    ],
)
async def test_a_mask_the_face_cannot_use_is_400_on_update_mask(
    rest: RestFace, mask: Any, description: str
) -> None:
    t = await rest.thread()
    r = await rest.client.patch(f"/threads/{t['id']}", json={"updateMask": mask, "name": "x"})
    field, said = violation_of(status_of(r, 400, 3))
    assert field == "update_mask" and said.startswith(description), said


@pytest.mark.parametrize(
    ("path", "params", "field", "description"),
    [
        ("/threads", [("pageSize", "abc")], "page_size", "expected an integer in range, got 'abc'"),
        ("/threads", [("pageSize", "9223372036854775808")], "page_size", "expected an integer in range"),
        ("/threads", [("folderId", "a"), ("folderId", "b")], "folder_id", "too many values: a, b"),
        ("/threads", [("folderId", "a"), ("folder_id", "a")], "folder_id", "too many values: a, a"),
        ("/threads", [], "folder_id", "a value is required"),
        ("/threads", [("folderId", FOLDER), ("pageSize", "-1")], "page_size", "must be at least 0"),
        ("/messages/m1", [], "thread_id", "a value is required"),
        ("/messages/m1", [("threadId", "a"), ("threadId", "b")], "thread_id", "too many values: a, b"),
        ("/messages", [], "thread_id", "a value is required"),
        ("/messages", [("threadId", "a"), ("thread_id", "b")], "thread_id", "too many values: a, b"),
    ],
)
async def test_a_query_the_face_cannot_read_is_400_naming_the_field(
    rest: RestFace, path: str, params: list[tuple[str, str]], field: str, description: str
) -> None:
    r = await rest.client.get(path, params=tuple(params))
    status = error_of(r, 400, 3, stream=path == "/messages")
    got = violation_of(status)
    assert got[0] == field and got[1].startswith(description), got


async def test_unknown_routes_and_methods_answer_a_status(rest: RestFace) -> None:
    status_of(await rest.client.get("/threads/%0Ax"), 404, 5)  # a newline in an id: still this face
    for path in (
        "/nothing",
        "/threads/",
        "/threads/a/b",
        "/messages/",
        "/runs:getByThread",
        "/x%0Ay",
        "/%0A",
    ):
        r = await rest.client.get(path)
        assert "location" not in r.headers
        assert status_of(r, 404, 5)["message"] == "Not Found"
    for method, path, allowed in [
        ("PUT", "/threads", "GET, HEAD, POST"),
        ("POST", "/threads/t1", "DELETE, GET, HEAD, PATCH"),
        ("DELETE", "/messages", "GET, HEAD, POST"),
        ("PATCH", "/messages/m1", "GET, HEAD"),
    ]:
        r = await rest.client.request(method, path)
        assert status_of(r, 405, 12)["message"] == "Method Not Allowed"
        assert r.headers["allow"] == allowed


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "",
        "Bearer",
        "Bearer tgk_nope.secret",
        "Api-Key tgk_nope.secret",
        "ApiKey x",
        "OAuth x",
        "Basic eDp5",
    ],
)
async def test_no_valid_key_is_401_before_anything_else_is_looked_at(
    rest: RestFace, authorization: str | None
) -> None:
    client = rest.http(None if authorization is None else {"Authorization": authorization})
    bad = {
        "ThreadService/Create": lambda: client.post("/threads", content=b"{not json"),
        "ThreadService/Update": lambda: client.patch("/threads/x", json={"updateMask": "a_b"}),
        "ThreadService/List": lambda: client.get("/threads", params={"pageSize": "x"}),
        "MessageService/Get": lambda: client.get(
            "/messages/m", params=[("threadId", "a"), ("threadId", "b")]
        ),
        "MessageService/List": lambda: client.get("/messages"),
    }
    for name, call in [*route_calls(client, "t1", "m1").items(), *bad.items()]:
        r = await call()
        status = error_of(r, 401, 16, stream=name == STREAM)
        assert r.headers["www-authenticate"] == "Bearer, Api-Key", name
        assert ("Authentication required" in status["message"]) == (authorization is None), status


async def test_both_schemes_authenticate(rest: RestFace) -> None:
    for scheme in ("Bearer", "Api-Key", "bearer", "API-KEY"):
        r = await rest.http({"Authorization": f"{scheme} {rest.token}"}).get(
            "/threads", params={"folderId": FOLDER}
        )
        assert r.status_code == 200, (scheme, r.text)


async def test_a_folder_or_role_the_key_lacks_is_403(rest: RestFace) -> None:
    viewer = rest.http({"Authorization": await rest.key(FOLDER, role=AccessRole.VIEWER)})
    t = await rest.thread()
    m = await rest.message(t["id"])
    for name in WRITE_ROUTES:
        status_of(await route_calls(viewer, t["id"], m["id"])[name](), 403, 7)
    for name in READ_ROUTES:
        assert (await route_calls(viewer, t["id"], m["id"])[name]()).status_code == 200, name
    elsewhere = rest.http({"Authorization": await rest.key(OTHER_FOLDER)})
    assert (
        "b1g-face"
        in status_of(await elsewhere.post("/threads", json={"folderId": FOLDER}), 403, 7)["message"]
    )
    status_of(await elsewhere.get("/threads", params={"folderId": FOLDER}), 403, 7)


async def test_another_folders_thread_is_404_as_if_it_did_not_exist(rest: RestFace) -> None:
    t = await rest.thread()
    m = await rest.message(t["id"])
    elsewhere = rest.http({"Authorization": await rest.key(OTHER_FOLDER)})
    calls = route_calls(elsewhere, t["id"], m["id"])
    for name in (
        "ThreadService/Get",
        "ThreadService/Update",
        "ThreadService/Delete",
        "MessageService/Create",
        "MessageService/Get",
        STREAM,
    ):
        status = error_of(await calls[name](), 404, 5, stream=name == STREAM)
        assert status["message"] == f"Thread {t['id']} not found", name
        info = status["details"][0]
        assert info["@type"] == "type.googleapis.com/google.rpc.ResourceInfo"
        assert (info["resource_type"], info["resource_name"]) == ("thread", t["id"])
    status = status_of(await rest.client.get("/messages/msg_nothere", params={"threadId": t["id"]}), 404, 5)
    assert status["details"][0]["resource_type"] == "message"


async def test_a_full_thread_is_resource_exhausted_429() -> None:
    rest = await start_rest(CoreSettings(max_messages_per_thread=1))
    try:
        t = await rest.thread()
        await rest.message(t["id"])
        r = await rest.client.post("/messages", json={"threadId": t["id"], "content": TEXT})
        status = status_of(r, 429, 8)
        assert status["details"][0]["@type"] == "type.googleapis.com/google.rpc.QuotaFailure"
    finally:
        await rest.close()


async def test_an_outage_is_503_with_retry_info_and_retry_after(rest: RestFace) -> None:
    t = await rest.thread()
    m = await rest.message(t["id"])
    rest.store.fail(Unavailable("disk I/O error", retry_safe=True))
    for name, call in route_calls(rest.client, t["id"], m["id"]).items():
        r = await call()
        status = error_of(r, 503, 14, stream=name == STREAM)
        assert r.headers["retry-after"] == "1", name
        assert status["details"][0] == {
            "@type": "type.googleapis.com/google.rpc.RetryInfo",
            "retry_delay": "1s",
        }
        assert "disk" not in status["message"]
    rest.store.recover()
    assert (await rest.client.get(f"/threads/{t['id']}")).status_code == 200


async def test_a_write_that_may_have_committed_is_500_unknown_and_invites_no_retry(rest: RestFace) -> None:
    """Not 503: HTTP clients and proxies retry 503 by themselves, and would store it twice."""
    t = await rest.thread()
    m = await rest.message(t["id"])
    rest.store.fail(
        Unavailable("I/O error at COMMIT", retry_safe=False),
        "create_thread",
        "update_thread",
        "delete_thread",
        "append_messages",
    )
    calls = route_calls(rest.client, t["id"], m["id"])
    for name in WRITE_ROUTES:
        r = await calls[name]()
        status = status_of(r, 500, 2)
        assert "may or may not have been stored" in status["message"], name
        assert "retry-after" not in r.headers and len(status["details"]) == 1
    # with an idempotency key (the store says so) a retry is safe: it returns what was stored
    rest.store.fail(Unavailable("I/O error at COMMIT", retry_safe=False).deduplicated(), "create_thread")
    keyed = await rest.client.post("/threads", json={"folderId": FOLDER}, headers={"Idempotency-Key": "k1"})
    assert "retry with the same idempotency-key" in status_of(keyed, 503, 14)["message"]


async def test_the_same_idempotency_key_and_request_make_one_thread(rest: RestFace) -> None:
    first = await rest.client.post(
        "/threads", json={"folderId": FOLDER, "name": "a"}, headers={"Idempotency-Key": "k"}
    )
    again = await rest.client.post(
        "/threads", json={"folder_id": FOLDER, "name": "a"}, headers={"Idempotency-Key": "k"}
    )
    assert first.json() == again.json()
    other = await rest.client.post(
        "/threads", json={"folderId": FOLDER, "name": "b"}, headers={"Idempotency-Key": "k"}
    )
    assert violation_of(status_of(other, 400, 3))[0] == "idempotency_key"


async def test_an_unexpected_failure_is_500_internal_logged_not_sent(
    rest: RestFace, caplog: pytest.LogCaptureFixture
) -> None:
    t = await rest.thread()
    m = await rest.message(t["id"])
    calls = route_calls(rest.client, t["id"], m["id"])
    rest.store.fail(
        RuntimeError("secret internals"),
        "get_thread",
        "list_threads",
        "create_thread",
        "get_message",
        "list_messages",
        "update_thread",
        "delete_thread",
        "append_messages",
    )
    caplog.set_level(logging.ERROR, logger="threadgate.yandex_rest")
    for name, call in calls.items():
        r = await call()
        status = error_of(r, 500, 13, stream=name == STREAM)
        assert (status["message"], len(status["details"])) == ("Internal error.", 1)
        assert "secret" not in r.text and "Traceback" not in r.text
    logged = [r for r in caplog.records if r.name == "threadgate.yandex_rest"]
    assert len(logged) == 8 and all(r.exc_info for r in logged)


async def test_request_ids_in_and_out(rest: RestFace) -> None:
    r = await rest.client.get("/threads/nope", headers={"x-client-request-id": "my-id-1"})
    assert r.headers["x-request-id"] == "my-id-1"
    status_of(r, 404, 5)  # RequestInfo.request_id is the same id
    again = await rest.client.get("/threads/nope")
    assert again.headers["x-request-id"] != "my-id-1"
    traces = {r.headers["x-server-trace-id"], again.headers["x-server-trace-id"]}
    assert len(traces) == 2 and all(len(t) == 32 for t in traces)
    ok = await rest.client.get("/threads", params={"folderId": FOLDER})
    assert ok.headers["x-request-id"] and ok.headers["x-server-trace-id"]


async def test_a_body_over_the_cap_is_413_before_or_while_it_is_read(rest: RestFace) -> None:
    big = b'{"folderId": "' + b"x" * (2 * 1024 * 1024) + b'"}'
    r = await rest.client.post("/threads", content=big)
    assert violation_of(status_of(r, 413, 3))[0] == "body"
    assert r.headers["connection"] == "close"

    async def chunked() -> AsyncIterator[bytes]:
        for _ in range(3):
            yield b" " * (1024 * 1024)

    r = await rest.client.post("/threads", content=chunked())  # no Content-Length
    assert violation_of(status_of(r, 413, 3)) == ("body", "too large: at most 2097152 bytes are accepted")


async def test_a_body_that_stalls_is_400_at_the_deadline() -> None:
    rest = await start_rest(body_timeout=0.05)
    try:

        async def stalled() -> AsyncIterator[bytes]:
            yield b'{"folderId":'
            await asyncio.sleep(1)
            yield b'"x"}'

        r = await rest.client.post("/threads", content=stalled())
        assert violation_of(status_of(r, 400, 3)) == ("body", "not received within 0.05 seconds")
        assert r.headers["connection"] == "close"
    finally:
        await rest.close()


async def test_a_client_gone_before_its_body_arrived_is_answered_nothing(rest: RestFace) -> None:
    sent: list[Any] = []
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/assistants/v1/threads",
        "raw_path": b"/assistants/v1/threads",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"authorization", f"Api-Key {rest.token}".encode()), (b"content-length", b"10")],
        "client": ("127.0.0.1", 1),
        "server": ("face", 80),
    }

    async def receive() -> dict[str, Any]:
        return {"type": "http.disconnect"}

    async def send(message: Any) -> None:
        sent.append(message)

    await rest.app(scope, receive, send)
    assert sent == []


@pytest.mark.parametrize("route", ["/threads", "/messages"])
async def test_no_json_value_anywhere_in_a_body_is_a_server_error(rest: RestFace, route: str) -> None:
    t = await rest.thread()
    values: list[Any] = [None, True, 0, -1, 2**70, 1.5, "", "x", [], [None], {}, {"a": None}, [[]], [{}]]
    keys = [
        "folderId",
        "threadId",
        "messages",
        "content",
        "author",
        "labels",
        "tools",
        "expirationConfig",
        "name",
    ]
    for key in keys:
        for value in values:
            body = {"folderId": FOLDER, "threadId": t["id"], key: value}
            r = await rest.client.post(route, json=body)
            assert r.status_code in (200, 400, 403, 404), (key, value, r.text)
            if r.status_code == 400:
                assert isinstance(violation_of(status_of(r, 400, 3))[0], str)


async def test_patch_of_a_thread_that_is_gone_is_404(rest: RestFace) -> None:
    r = await rest.client.patch("/threads/thread_gone", json={"updateMask": "name"})
    status_of(r, 404, 5)


async def test_error_bodies_are_json_even_for_a_head_request(rest: RestFace) -> None:
    r = await rest.client.head("/threads/nope")
    assert (r.status_code, r.content) == (404, b"")
    assert r.headers["content-type"] == "application/json"

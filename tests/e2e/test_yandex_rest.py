"""The Yandex REST face end to end: plain HTTP against ``threadgate serve``, replaying the
request and response examples of yandex-rest.md §7 (the bodies the docs' curl sends, the
JSON rest-assistant printed: key sets and order compared, values aside)."""

from __future__ import annotations

import http.client
import json
import time
from pathlib import Path
from typing import Any

import httpx
import orjson

from testkit.server import Server, running_server

FOLDER = "b1g-rest"
REQUEST_INFO = "type.googleapis.com/google.rpc.RequestInfo"

# Captured from rest-assistant.api.cloud.yandex.net (yandex-rest.md §7.1 and §7.6)
CAPTURED_THREAD = (
    b'{"id":"fvt8rn2ip0fgabcdefgh","folder_id":"b1gt6g8ht345abcdefgh","name":"support","description":"",'
    b'"default_message_author_id":"fvtgsemis1k5abcdefgh","created_by":"ajeol2afu1jsabcdefgh",'
    b'"created_at":"2025-08-27T08:51:05.255025Z","updated_by":"ajeol2afu1jsabcdefgh",'
    b'"updated_at":"2025-08-27T08:51:05.255025Z","expiration_config":{"expiration_policy":"STATIC",'
    b'"ttl_days":"5"},"expires_at":"2025-09-01T08:51:05.255025Z","labels":{"team":"a"},"tools":[]}'
)
CAPTURED_MESSAGE = (
    b'{"id":"fvtel9i871raabcdefgh","thread_id":"fvt8rn2ip0fgabcdefgh","created_by":"ajeol2afu1jsabcdefgh",'
    b'"created_at":"2025-08-27T08:58:47.758337Z","author":{"id":"fvtgsemis1k5abcdefgh","role":"USER"},'
    b'"labels":{},"content":{"content":[{"text":{"content":"How much is a visa to Bali?"}}]},'
    b'"status":"COMPLETED","citations":[]}'
)
BALI = {"content": [{"text": {"content": "How much is a visa to Bali?"}}]}


def keys(value: Any) -> Any:
    """Every object's keys in order, all the way down (a map's keys are data: ``{}``)."""
    if isinstance(value, dict):
        return [(k, keys(v)) for k, v in value.items()]
    if isinstance(value, list):
        return [keys(value[0])] if value else []
    return None


def create(client: httpx.Client, **fields: Any) -> dict[str, Any]:
    r = client.post("/threads", content=orjson.dumps({"folderId": FOLDER, **fields}))
    assert r.status_code == 200, r.text
    return dict(r.json())


def error(r: httpx.Response, http_status: int, code: int) -> dict[str, Any]:
    assert r.status_code == http_status, r.text
    assert r.headers["content-type"] == "application/json"
    body = r.json()
    assert list(body) == ["code", "message", "details"] and body["code"] == code
    assert body["details"][-1] == {
        "@type": REQUEST_INFO,
        "request_id": r.headers["x-request-id"],
        "serving_data": "",
    }
    return dict(body)


def test_the_worked_examples_one_to_eight(yandex_rest: httpx.Client) -> None:
    # 1. Create: camelCase in, every field out with proto names, in the captured order
    body = {
        "folderId": FOLDER,
        "name": "support",
        "labels": {"team": "a"},
        "expirationConfig": {"expirationPolicy": "STATIC", "ttlDays": "5"},
    }
    r = yandex_rest.post("/threads", content=orjson.dumps(body))
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    thread = r.json()
    assert keys(thread) == keys(orjson.loads(CAPTURED_THREAD))
    assert thread["expiration_config"] == {"expiration_policy": "STATIC", "ttl_days": "5"}
    assert thread["created_at"].endswith("Z") and len(thread["created_at"]) == len(
        "2025-08-27T08:51:05.255025Z"
    )
    tid = thread["id"]
    # 2. Get: the same object
    assert yandex_rest.get(f"/threads/{tid}").json() == thread
    # 3. Update with nested mask paths; a snake_case path is a 400
    patch = {
        "updateMask": "name,labels,expirationConfig.ttlDays",
        "name": "renamed",
        "labels": {"x": "y"},
        "expirationConfig": {"ttlDays": "3"},
    }
    updated = yandex_rest.patch(f"/threads/{tid}", content=orjson.dumps(patch)).json()
    assert (updated["name"], updated["labels"]) == ("renamed", {"x": "y"})
    assert updated["expiration_config"] == {"expiration_policy": "STATIC", "ttl_days": "3"}
    bad = yandex_rest.patch(f"/threads/{tid}", json={"updateMask": "expiration_config.ttl_days"})
    assert "update_mask" in error(bad, 400, 3)["message"]
    # 6. Create a message with no Content-Type at all (the docs' curl --data @file)
    r = yandex_rest.post("/messages", content=orjson.dumps({"threadId": tid, "content": BALI}))
    assert "content-type" not in r.request.headers
    message = r.json()
    assert keys(message) == keys(orjson.loads(CAPTURED_MESSAGE))
    assert message["author"] == {"id": thread["default_message_author_id"], "role": "USER"}
    # 7. Get the message; without threadId a 400
    assert yandex_rest.get(f"/messages/{message['id']}", params={"threadId": tid}).json() == message
    assert "thread_id" in error(yandex_rest.get(f"/messages/{message['id']}"), 400, 3)["message"]
    # 8. The stream, read line by line off a chunked response
    second = yandex_rest.post("/messages", json={"threadId": tid, "content": BALI}).json()
    with yandex_rest.stream("GET", "/messages", params={"threadId": tid}) as streamed:
        assert streamed.status_code == 200 and streamed.headers["transfer-encoding"] == "chunked"
        assert streamed.headers["content-type"] == "application/json"
        lines = [orjson.loads(line) for line in streamed.iter_lines()]
    assert lines == [{"result": second}, {"result": message}]
    # 5. List: folderId or folder_id, pageSize, pageToken; the last page is empty
    page = yandex_rest.get("/threads", params={"folder_id": FOLDER, "pageSize": "1"}).json()
    assert list(page) == ["threads", "next_page_token"] and len(page["threads"]) == 1
    # 4. Delete: {}; the thread and its stream are gone
    r = yandex_rest.delete(f"/threads/{tid}")
    assert (r.status_code, r.content) == (200, b"{}")
    error(yandex_rest.get(f"/threads/{tid}"), 404, 5)
    gone = yandex_rest.get("/messages", params={"threadId": tid})
    assert gone.status_code == 404 and list(orjson.loads(gone.content.splitlines()[0])) == ["error"]


def test_list_pages_to_an_empty_last_page(yandex_rest: httpx.Client) -> None:
    made = {create(yandex_rest, name=f"page-{i}")["id"] for i in range(3)}
    seen: list[str] = []
    params = {"folderId": FOLDER, "pageSize": "2"}
    for _ in range(100):
        page = yandex_rest.get("/threads", params=params).json()
        if not page["threads"]:
            assert page == {"threads": [], "next_page_token": ""}
            break
        seen += [t["id"] for t in page["threads"]]
        params["pageToken"] = page["next_page_token"]
    assert made <= set(seen) and len(seen) == len(set(seen))


def test_a_curl_style_request_with_a_form_content_type_is_json_all_the_same(server: Server) -> None:
    """``curl --data @body.json``: Content-Type application/x-www-form-urlencoded."""
    conn = http.client.HTTPConnection("127.0.0.1", server.rest_port, timeout=30)
    try:
        body = orjson.dumps({"folderId": FOLDER, "name": "curl"})
        headers = {
            "Authorization": f"Bearer {server.api_key}",
            "Content-Type": "application/x-www-form-urlencoded",
        }
        conn.request("POST", "/assistants/v1/threads", body=body, headers=headers)
        answer = conn.getresponse()
        assert answer.status == 200
        assert json.loads(answer.read())["name"] == "curl"
    finally:
        conn.close()


def test_headers_in_and_out_and_the_request_line(server: Server, yandex_rest: httpx.Client) -> None:
    r = yandex_rest.post(
        "/threads", json={"folderId": FOLDER}, headers={"x-client-request-id": "rest-yandex-1"}
    )
    assert r.headers["x-request-id"] == "rest-yandex-1"
    trace = r.headers["x-server-trace-id"]
    assert len(trace) == 32
    mine: list[dict[str, Any]] = []
    deadline = time.monotonic() + 5
    while not mine and time.monotonic() < deadline:
        logged = [json.loads(line) for line in server.log().splitlines() if line.startswith("{")]
        mine = [x for x in logged if x.get("request_id") == "rest-yandex-1"]
        time.sleep(0.02)
    assert len(mine) == 1
    assert (mine[0]["method"], mine[0]["status"], mine[0]["trace_id"]) == ("ThreadService/Create", 200, trace)
    metrics = httpx.get(f"{server.origin}/metrics").text
    assert 'method="ThreadService/Create"' in metrics


def test_errors_have_the_status_shape_and_the_mapped_http_status(
    server: Server, yandex_rest: httpx.Client
) -> None:
    no_key = httpx.post(f"{server.yandex_rest_url}/threads", content=b"{not json")
    assert error(no_key, 401, 16)["message"].startswith("Authentication required")
    assert no_key.headers["www-authenticate"] == "Bearer, Api-Key"
    bad_json = yandex_rest.post("/threads", content=b"{not json")
    assert error(bad_json, 400, 3)["message"].startswith("Request validation error: body: not valid JSON")
    twice = yandex_rest.get("/messages/m", params=[("threadId", "a"), ("threadId", "b")])
    assert error(twice, 400, 3)["message"] == "Request validation error: thread_id: too many values: a, b"
    assert error(yandex_rest.get("/threads", params={"folderId": "not-mine"}), 403, 7)
    assert error(yandex_rest.get("/nothing"), 404, 5)["message"] == "Not Found"
    wrong = yandex_rest.put("/threads")
    assert error(wrong, 405, 12) and wrong.headers["allow"] == "GET, HEAD, POST"
    huge = yandex_rest.post("/threads", content=b"{" + b" " * (2 * 1024 * 1024) + b"}")
    assert "body" in error(huge, 413, 3)["message"]
    assert "Traceback" not in server.log()


def test_the_openai_face_still_answers_its_own_shape_beside_it(
    server: Server, yandex_rest: httpx.Client
) -> None:
    with server.http() as openai_http:
        r = openai_http.get("/threads/thread_nothere")
        assert r.status_code == 404 and set(r.json()) == {"error"} and "x-server-trace-id" not in r.headers


def test_a_full_thread_is_429_resource_exhausted(tmp_path: Path) -> None:
    with (
        running_server(tmp_path / "data", "--max-messages-per-thread", "1") as small,
        small.yandex_http() as client,
    ):
        thread = create(client)
        body = {"threadId": thread["id"], "content": BALI}
        assert client.post("/messages", json=body).status_code == 200
        full = error(client.post("/messages", json=body), 429, 8)
        assert full["details"][0]["@type"] == "type.googleapis.com/google.rpc.QuotaFailure"

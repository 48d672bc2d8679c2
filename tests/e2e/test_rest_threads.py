"""The openai SDK's beta.threads against a running threadgate, strict validation on."""

from __future__ import annotations

import httpx
import openai as openai_module
import pytest
from openai import OpenAI

from testkit.server import Server


def test_create_retrieve_update_delete(openai: OpenAI) -> None:
    created = openai.beta.threads.create(metadata={"user": "u1", "topic": "x"})
    assert created.object == "thread"
    assert created.id.startswith("thread_") and len(created.id) == len("thread_") + 24
    assert created.metadata == {"user": "u1", "topic": "x"}
    assert created.tool_resources is not None

    got = openai.beta.threads.retrieve(created.id)
    assert got == created

    updated = openai.beta.threads.update(created.id, metadata={"topic": "y"})
    assert updated.metadata == {"topic": "y"}  # the whole map is replaced
    assert updated.created_at == created.created_at

    same = openai.beta.threads.update(created.id)  # metadata absent: unchanged
    assert same.metadata == {"topic": "y"}

    deleted = openai.beta.threads.delete(created.id)
    assert (deleted.id, deleted.object, deleted.deleted) == (created.id, "thread.deleted", True)
    with pytest.raises(openai_module.NotFoundError) as info:
        openai.beta.threads.retrieve(created.id)
    assert info.value.status_code == 404
    assert info.value.body == {
        "message": f"No thread found with id '{created.id}'.",
        "type": "invalid_request_error",
        "param": None,
        "code": None,
    }
    with pytest.raises(openai_module.NotFoundError):
        openai.beta.threads.delete(created.id)


def test_create_with_no_body(server: Server) -> None:
    r = httpx.post(f"{server.base_url}/threads", headers=server.auth_headers)  # no body, no content-type
    assert r.status_code == 200
    body = r.json()
    assert set(body) == {"id", "object", "created_at", "metadata", "tool_resources"}
    assert body["metadata"] == {} and body["tool_resources"] == {}


def test_metadata_null_clears(http: httpx.Client, openai: OpenAI) -> None:
    t = openai.beta.threads.create(metadata={"a": "b"})
    r = http.post(f"/threads/{t.id}", json={"metadata": None})
    assert r.status_code == 200 and r.json()["metadata"] == {}


def test_tool_resources_round_trip(openai: OpenAI) -> None:
    t = openai.beta.threads.create(
        tool_resources={
            "code_interpreter": {"file_ids": ["file-1"]},
            "file_search": {"vector_store_ids": ["vs_1"]},
        }
    )
    assert t.tool_resources is not None
    assert t.tool_resources.code_interpreter is not None
    assert t.tool_resources.code_interpreter.file_ids == ["file-1"]
    assert t.tool_resources.file_search is not None
    assert t.tool_resources.file_search.vector_store_ids == ["vs_1"]
    u = openai.beta.threads.update(t.id, tool_resources={"file_search": {"vector_store_ids": ["vs_2"]}})
    assert u.tool_resources is not None and u.tool_resources.code_interpreter is None
    assert u.tool_resources.file_search is not None
    assert u.tool_resources.file_search.vector_store_ids == ["vs_2"]


@pytest.mark.parametrize(
    ("body", "param", "code"),
    [
        ({"metadata": {"a": 1}}, "metadata.a", "invalid_type"),
        ({"metadata": {str(i): "v" for i in range(17)}}, "metadata", "object_above_max_properties"),
        ({"metadata": {"k": "v" * 513}}, "metadata.k", "string_above_max_length"),
        ({"file_ids": []}, "file_ids", "unknown_parameter"),
        ({"messages": [{"role": "bot", "content": "x"}]}, "messages[0].role", "invalid_value"),
        ({"messages": [{"content": "x"}]}, "messages[0].role", "missing_required_parameter"),
        ({"messages": [{"role": "user", "content": "x"}] * 33}, "messages", "array_above_max_length"),
        (
            {"tool_resources": {"file_search": {"vector_stores": [{}]}}},
            "tool_resources.file_search.vector_stores",
            "unsupported_parameter",
        ),
    ],
)
def test_bad_input_is_a_400_in_openai_shape(http: httpx.Client, body: object, param: str, code: str) -> None:
    r = http.post("/threads", json=body)
    assert r.status_code == 400, r.text
    err = r.json()["error"]
    assert set(err) == {"message", "type", "param", "code"}
    assert (err["type"], err["param"], err["code"]) == ("invalid_request_error", param, code)
    assert r.headers["x-should-retry"] == "false"


def test_malformed_json_and_wrong_content_type(http: httpx.Client) -> None:
    r = http.post("/threads", content=b"{nope", headers={"content-type": "application/json"})
    assert r.status_code == 400 and r.json()["error"]["type"] == "invalid_request_error"
    r = http.post("/threads", content=b"a=b", headers={"content-type": "text/plain"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "unsupported_content_type"
    r = http.post("/threads", content=b"[1,2]", headers={"content-type": "application/json"})
    assert r.status_code == 400


def test_an_id_that_names_nothing_is_a_404(http: httpx.Client) -> None:
    r = http.get("/threads/undefined")  # a JavaScript client's missing id
    assert r.status_code == 404
    err = r.json()["error"]
    assert err["message"] == "No thread found with id 'undefined'."


def test_unknown_route_and_method(http: httpx.Client) -> None:
    r = http.get("/nope")
    assert r.status_code == 404 and "error" in r.json()
    r = http.put("/threads/thread_x")
    assert r.status_code == 405 and "error" in r.json()


def test_server_keeps_serving_after_bad_input(http: httpx.Client, openai: OpenAI) -> None:
    for junk in (b"\xff\xfe", b'{"metadata": {"a": "\\ud800"}}', b"null", b'"x"', b"{" * 10000):
        r = http.post("/threads", content=junk, headers={"content-type": "application/json"})
        assert r.status_code == 400, (junk[:20], r.text)
    assert openai.beta.threads.create().object == "thread"

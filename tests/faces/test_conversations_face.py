"""The Conversations routes in process (httpx's ASGI transport on the memory store):
every branch of the face, fast.  tests/e2e drive the same routes with the real SDKs."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from adapters.http.app import build_app
from adapters.openai.requests import RestOptions
from adapters.storage.memory import InMemoryStore
from core.access import AccessRole
from core.services import Core
from tests.doubles import ManualClock, SequentialIds
from tests.factories import T0


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    core = Core(InMemoryStore(), ManualClock(T0), SequentialIds())
    _, token = await core.access.create_key(["f", "g"], AccessRole.EDITOR)
    app = build_app(core, RestOptions(default_folder="f"))
    transport = httpx.ASGITransport(app=app)
    headers = {"Authorization": f"Bearer {token}"}  # no OpenAI-Beta: not needed here
    async with httpx.AsyncClient(transport=transport, base_url="http://face/v1", headers=headers) as c:
        yield c


def error_of(r: httpx.Response, status: int) -> dict[str, Any]:
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"error"} and set(body["error"]) == {"message", "type", "param", "code"}
    return dict(body["error"])


async def _conversation(client: httpx.AsyncClient, **body: Any) -> dict[str, Any]:
    r = await client.post("/conversations", json=body)
    assert r.status_code == 200, r.text
    return dict(r.json())


TOOL_ITEMS: list[dict[str, Any]] = [
    {"type": "function_call", "call_id": "call_1", "name": "f", "arguments": "{}"},
    {"type": "function_call_output", "call_id": "call_1", "output": "42"},
    {"type": "reasoning", "id": "rs_given", "summary": [{"type": "summary_text", "text": "hm"}]},
    {"type": "something_new", "payload": {"x": [1, None]}},
]


async def test_a_conversation_and_its_items_round_trip(client: httpx.AsyncClient) -> None:
    c = await _conversation(client, metadata={"topic": "demo"}, items=[{"role": "user", "content": "hi"}])
    assert set(c) == {"id", "object", "created_at", "metadata"} and c["id"].startswith("conv_")
    assert c["object"] == "conversation" and c["metadata"] == {"topic": "demo"}
    r = await client.post(
        f"/conversations/{c['id']}/items",
        json={"items": [{"role": "assistant", "content": "hello"}, *TOOL_ITEMS]},
    )
    made = r.json()
    assert made["object"] == "list" and made["has_more"] is False and len(made["data"]) == 5
    assert made["data"][0]["content"] == [
        {"type": "output_text", "text": "hello", "annotations": [], "logprobs": []}
    ]
    fc, out, rs, new = made["data"][1:]
    assert fc["id"].startswith("fc_") and fc["status"] == "completed" and fc["arguments"] == "{}"
    assert out == {"type": "function_call_output", "id": out["id"], "status": "completed", **TOOL_ITEMS[1]}
    assert rs["id"] == "rs_given" and rs["summary"] == TOOL_ITEMS[2]["summary"]
    assert new["payload"] == {"x": [1, None]} and new["type"] == "something_new"
    asc = (await client.get(f"/conversations/{c['id']}/items", params={"order": "asc"})).json()
    assert [i["type"] for i in asc["data"]] == ["message"] * 2 + [i["type"] for i in TOOL_ITEMS]
    assert asc["data"][0]["content"] == [{"type": "input_text", "text": "hi"}]
    desc = (await client.get(f"/conversations/{c['id']}/items", params={"limit": 2})).json()
    assert [i["id"] for i in desc["data"]] == [new["id"], rs["id"]] and desc["has_more"] is True
    assert desc["last_id"] == rs["id"]
    rest = (await client.get(f"/conversations/{c['id']}/items", params={"after": rs["id"]})).json()
    assert [i["id"] for i in rest["data"]] == [i["id"] for i in reversed(asc["data"][:4])]
    got = (await client.get(f"/conversations/{c['id']}/items/{fc['id']}")).json()
    assert got == fc


async def test_items_are_hidden_from_threads_but_their_positions_page(client: httpx.AsyncClient) -> None:
    c = await _conversation(
        client,
        items=[
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": "one"},
            TOOL_ITEMS[0],
            {"role": "assistant", "content": [{"type": "refusal", "refusal": "no"}]},
        ],
    )
    beta = {"OpenAI-Beta": "assistants=v2"}
    page = (await client.get(f"/threads/{c['id']}/messages", params={"order": "asc"}, headers=beta)).json()
    assert [m["role"] for m in page["data"]] == ["user", "assistant"]
    assert page["data"][1]["content"] == [{"type": "refusal", "refusal": "no"}]
    items = (await client.get(f"/conversations/{c['id']}/items", params={"order": "asc"})).json()["data"]
    after_fc = await client.get(
        f"/threads/{c['id']}/messages", params={"order": "asc", "after": items[2]["id"]}, headers=beta
    )
    assert [m["id"] for m in after_fc.json()["data"]] == [items[3]["id"]]
    hidden = await client.get(f"/threads/{c['id']}/messages/{items[0]['id']}", headers=beta)
    assert error_of(hidden, 404)["message"] == f"No message found with id '{items[0]['id']}'."


async def test_delete_item_answers_the_conversation_and_delete_removes_everything(
    client: httpx.AsyncClient,
) -> None:
    c = await _conversation(client, items=[{"role": "user", "content": "x"}, TOOL_ITEMS[0]])
    items = (await client.get(f"/conversations/{c['id']}/items")).json()["data"]
    r = await client.delete(f"/conversations/{c['id']}/items/{items[0]['id']}")
    assert r.json() == c
    left = (await client.get(f"/conversations/{c['id']}/items")).json()
    assert [i["id"] for i in left["data"]] == [items[1]["id"]]
    r = await client.delete(f"/conversations/{c['id']}")
    assert r.json() == {"id": c["id"], "object": "conversation.deleted", "deleted": True}
    err = error_of(await client.get(f"/conversations/{c['id']}/items"), 404)
    assert err["message"] == f"No conversation found with id '{c['id']}'."


async def test_update_replaces_metadata_and_needs_it(client: httpx.AsyncClient) -> None:
    c = await _conversation(client, metadata={"a": "1", "b": "2"})
    r = await client.post(f"/conversations/{c['id']}", json={"metadata": {"c": "3"}})
    assert r.json()["metadata"] == {"c": "3"}
    r = await client.post(f"/conversations/{c['id']}", json={"metadata": None})
    assert r.json()["metadata"] == {}
    err = error_of(await client.post(f"/conversations/{c['id']}", json={}), 400)
    assert (err["param"], err["code"]) == ("metadata", "missing_required_parameter")


async def test_a_body_is_optional_on_create(client: httpx.AsyncClient) -> None:
    r = await client.post("/conversations")
    assert r.status_code == 200 and r.json()["metadata"] == {}
    r = await client.post("/conversations", json={"items": None, "metadata": None})
    assert r.status_code == 200


@pytest.mark.parametrize(
    ("body", "param", "code"),
    [
        ({"items": [{"role": "user", "content": "x"}] * 21}, "items", "array_above_max_length"),
        (
            {"items": [{"role": "user", "content": [{"type": "input_txt", "text": "x"}]}]},
            "items[0].content[0]",
            "invalid_value",
        ),
        (
            {"items": [{"role": "assistant", "content": [{"type": "input_text", "text": "x"}]}]},
            "items[0].content[0]",
            "invalid_value",
        ),
        ({"items": [{"role": "tool", "content": "x"}]}, "items[0].role", "invalid_value"),
        ({"items": [{"content": "x"}]}, "items[0].type", "missing_required_parameter"),
        ({"items": [{"type": "item_reference", "id": "x"}]}, "items[0].type", "invalid_value"),
        ({"items": [TOOL_ITEMS[2], TOOL_ITEMS[2]]}, "items[1].id", "duplicate_id"),
        ({"metadata": {"k": 1}}, "metadata.k", "invalid_type"),
        ({"metadata": {f"k{i}": "v" for i in range(17)}}, "metadata", "object_above_max_properties"),
        ({"items": [{"role": "user", "content": "x\x00"}]}, "items[0].content", "invalid_value"),
        ({"extra": 1}, "extra", "unknown_parameter"),
    ],
)
async def test_bad_writes_get_openai_errors_and_store_nothing(
    client: httpx.AsyncClient, body: dict[str, Any], param: str, code: str
) -> None:
    c = await _conversation(client)
    for r in (
        await client.post("/conversations", json=body),
        await client.post(f"/conversations/{c['id']}/items", json={"items": [], **body}),
    ):
        conversation_only = param.startswith("metadata") or param == "extra"
        if conversation_only and "/items" in str(r.request.url):
            continue  # items writes take no metadata
        err = error_of(r, 400)
        assert (err["param"], err["code"]) == (param, code), err
    assert (await client.get(f"/conversations/{c['id']}/items")).json()["data"] == []


async def test_an_item_id_is_unique_within_its_conversation_only(client: httpx.AsyncClient) -> None:
    first = await _conversation(client, items=[TOOL_ITEMS[2]])
    err = error_of(
        await client.post(f"/conversations/{first['id']}/items", json={"items": [TOOL_ITEMS[2]]}), 400
    )
    assert (err["param"], err["code"]) == ("items[0].id", "duplicate_id")
    # a forked conversation may replay the same items, ids and all
    fork = await _conversation(client, items=[TOOL_ITEMS[2]])
    got = await client.get(f"/conversations/{fork['id']}/items/{TOOL_ITEMS[2]['id']}")
    assert got.status_code == 200 and got.json()["summary"] == TOOL_ITEMS[2]["summary"]


@pytest.mark.parametrize(
    ("query", "param", "code"),
    [
        ({"limit": "0"}, "limit", "integer_below_min_value"),
        ({"limit": "101"}, "limit", "integer_above_max_value"),
        ({"limit": "abc"}, "limit", "invalid_type"),
        ({"order": "up"}, "order", "invalid_value"),
        ({"include[]": "nope"}, "include", "invalid_value"),
    ],
)
async def test_bad_list_queries(
    client: httpx.AsyncClient, query: dict[str, str], param: str, code: str
) -> None:
    c = await _conversation(client)
    err = error_of(await client.get(f"/conversations/{c['id']}/items", params=query), 400)
    assert (err["param"], err["code"]) == (param, code)


async def test_cursors_and_ids_of_other_tenants_reveal_nothing(client: httpx.AsyncClient) -> None:
    mine = await _conversation(client, items=[{"role": "user", "content": "a"}])
    theirs = await _conversation(client, items=[{"role": "user", "content": "b"}])
    their_item = (await client.get(f"/conversations/{theirs['id']}/items")).json()["data"][0]["id"]
    err = error_of(await client.get(f"/conversations/{mine['id']}/items", params={"after": their_item}), 400)
    assert err["param"] == "after"
    error_of(await client.get(f"/conversations/{mine['id']}/items/{their_item}"), 404)
    ok = await client.get(
        f"/conversations/{mine['id']}/items", params=[("include[]", "reasoning.encrypted_content")]
    )
    assert ok.status_code == 200


async def test_one_idempotency_key_on_both_creates_names_two_requests(client: httpx.AsyncClient) -> None:
    key = {"Idempotency-Key": "k1", "OpenAI-Beta": "assistants=v2"}
    thread = (await client.post("/threads", json={}, headers=key)).json()
    conversation = (await client.post("/conversations", json={}, headers=key)).json()
    assert thread["id"].startswith("thread_") and conversation["id"].startswith("conv_")
    again = (await client.post("/conversations", json={}, headers=key)).json()
    assert again == conversation


async def test_a_path_id_with_nul_is_refused_in_words(client: httpx.AsyncClient) -> None:
    err = error_of(await client.get("/conversations/conv_%00x"), 400)
    assert err["param"] == "conversation_id" and "NUL" in err["message"]


async def test_an_item_sent_with_a_null_status_is_stored_completed(client: httpx.AsyncClient) -> None:
    """null is "left out", as for every other field: a stored item's status is a string."""
    c = await _conversation(client, items=[{**TOOL_ITEMS[0], "status": None}])
    r = await client.post(
        f"/conversations/{c['id']}/items", json={"items": [{**TOOL_ITEMS[1], "status": None}]}
    )
    assert [i["status"] for i in r.json()["data"]] == ["completed"]
    listed = (await client.get(f"/conversations/{c['id']}/items", params={"order": "asc"})).json()["data"]
    assert [(i["type"], i["status"]) for i in listed] == [
        ("function_call", "completed"),
        ("function_call_output", "completed"),
    ]


async def test_the_cache_hint_goes_only_on_input_parts(client: httpx.AsyncClient) -> None:
    """``prompt_cache_breakpoint`` is a field of OpenAI's input parts, accepted and not kept;
    on a message or an output part it is an unknown parameter like any other."""
    hint = {"mode": "explicit"}
    c = await _conversation(
        client,
        items=[
            {
                "role": "user",
                "content": [{"type": "input_text", "text": "x", "prompt_cache_breakpoint": hint}],
            }
        ],
    )
    listed = (await client.get(f"/conversations/{c['id']}/items")).json()["data"]
    assert listed[0]["content"] == [{"type": "input_text", "text": "x"}]
    for item, param in [
        (
            {"role": "user", "content": "x", "prompt_cache_breakpoint": hint},
            "items[0].prompt_cache_breakpoint",
        ),
        (
            {
                "role": "assistant",
                "content": [{"type": "output_text", "text": "x", "prompt_cache_breakpoint": hint}],
            },
            "items[0].content[0].prompt_cache_breakpoint",
        ),
    ]:
        err = error_of(await client.post(f"/conversations/{c['id']}/items", json={"items": [item]}), 400)
        assert (err["param"], err["code"]) == (param, "unknown_parameter")


@pytest.mark.parametrize("item_id", ["a/b", "/", ".", ".."])
async def test_an_item_id_that_is_no_path_segment_is_refused(client: httpx.AsyncClient, item_id: str) -> None:
    """Stored, such an item could never be retrieved or deleted by its id (and ``..``
    would name the conversation itself)."""
    c = await _conversation(client)
    for item in ({"type": "function_call", "id": item_id}, {"role": "user", "content": "x", "id": item_id}):
        err = error_of(await client.post(f"/conversations/{c['id']}/items", json={"items": [item]}), 400)
        assert (err["param"], err["code"]) == ("items[0].id", "invalid_value"), err
    assert (await client.get(f"/conversations/{c['id']}/items")).json()["data"] == []

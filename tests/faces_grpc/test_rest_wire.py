"""The Yandex REST face's routes and JSON conventions, as Yandex's rest-assistant printed
and read them (yandex-rest.md §1-3, the worked examples of §7)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import orjson
import pytest

from adapters.yandex._gen.yandex.cloud.ai.assistants.v1 import common_pb2 as tools_pb2
from adapters.yandex._gen.yandex.cloud.ai.assistants.v1.threads import thread_pb2
from tests.faces_grpc.rest_harness import (
    CAPTURED_MESSAGE,
    CAPTURED_THREAD,
    FOLDER,
    RestFace,
    lines_of,
    shape,
    status_of,
    violation_of,
)

TEXT = {"content": [{"text": {"content": "How much is a visa to Bali?"}}]}


async def test_create_thread_prints_the_captured_key_set_in_its_order(rest: RestFace) -> None:
    """Example 1: camelCase in, proto names out, every field, int64 as a string."""
    body = (
        b'{"folderId":"b1g-face","name":"support","labels":{"team":"a"},'
        b'"expirationConfig":{"expirationPolicy":"STATIC","ttlDays":"5"}}'
    )
    r = await rest.client.post("/threads", content=body)
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    t = r.json()
    assert shape(t) == shape(CAPTURED_THREAD)
    assert list(t) == list(CAPTURED_THREAD)  # byte for byte, the keys and their order
    assert t["folder_id"] == FOLDER and t["name"] == "support" and t["description"] == ""
    assert t["expiration_config"] == {"expiration_policy": "STATIC", "ttl_days": "5"}
    assert t["created_at"] == t["updated_at"] == "2026-01-02T03:04:05.123456Z"
    assert t["expires_at"] == "2026-01-07T03:04:05.123456Z"
    assert t["labels"] == {"team": "a"} and t["tools"] == []
    assert t["created_by"] == t["updated_by"] != ""
    r = await rest.client.get(f"/threads/{t['id']}")  # example 2
    assert r.status_code == 200 and r.json() == t
    assert r.content == orjson.dumps(t)  # compact, in that order


async def test_create_message_without_content_type_prints_the_captured_message(rest: RestFace) -> None:
    """Example 6, sent as the docs' curl sends it (``--data @file``: no JSON Content-Type)."""
    t = await rest.thread()
    body = orjson.dumps({"threadId": t["id"], "content": TEXT})
    for content_type in (None, "application/x-www-form-urlencoded", "text/plain"):
        headers = {} if content_type is None else {"content-type": content_type}
        r = await rest.client.post("/messages", content=body, headers=headers)
        assert r.status_code == 200, r.text
        m = r.json()
        assert shape(m) == shape(CAPTURED_MESSAGE) and list(m) == list(CAPTURED_MESSAGE)
        assert m["author"] == {"id": t["default_message_author_id"], "role": "USER"}
        assert (m["thread_id"], m["content"], m["status"], m["citations"]) == (t["id"], TEXT, "COMPLETED", [])
        got = await rest.client.get(f"/messages/{m['id']}", params={"threadId": t["id"]})  # example 7
        assert got.status_code == 200 and got.json() == m


async def test_camel_snake_and_mixed_keys_read_the_same(rest: RestFace) -> None:
    camel = {"folderId": FOLDER, "defaultMessageAuthorId": "me", "expirationConfig": {"ttlDays": 3}}
    snake = {"folder_id": FOLDER, "default_message_author_id": "me", "expiration_config": {"ttl_days": 3}}
    mixed = {"folder_id": FOLDER, "defaultMessageAuthorId": "me", "expiration_config": {"ttlDays": "3"}}
    made = [(await rest.client.post("/threads", json=body)).json() for body in (camel, snake, mixed)]
    for t in made:
        assert (t["default_message_author_id"], t["expiration_config"]["ttl_days"]) == ("me", "3")
        assert t["expiration_config"]["expiration_policy"] == "SINCE_LAST_ACTIVE"


@pytest.mark.parametrize("ttl", [5, "5", 5.0, "5.0", "5e0", 5e0])
@pytest.mark.parametrize("policy", ["STATIC", 1])
async def test_int64_as_number_or_string_and_enums_by_name_or_number(
    rest: RestFace, ttl: object, policy: object
) -> None:
    t = await rest.thread(expirationConfig={"expirationPolicy": policy, "ttlDays": ttl})
    assert t["expiration_config"] == {"expiration_policy": "STATIC", "ttl_days": "5"}


async def test_null_is_unset_and_unknown_fields_are_ignored(rest: RestFace) -> None:
    t = await rest.thread(
        name=None, labels=None, expirationConfig=None, tools=None, role="USER", nothing={"x": [1]}
    )
    assert (t["name"], t["labels"], t["tools"]) == ("", {}, [])
    assert t["expiration_config"] == {"expiration_policy": "SINCE_LAST_ACTIVE", "ttl_days": "7"}
    m = await rest.message(t["id"], author=None, labels=None, role="USER")  # a client's extra "role"
    assert m["author"]["role"] == "USER"


async def test_an_empty_body_is_an_empty_request(rest: RestFace) -> None:
    for body in (b"", b"  \n"):
        status = status_of(await rest.client.post("/threads", content=body), 400, 3)
        assert violation_of(status) == ("folder_id", "a value is required")


async def test_the_path_wins_over_the_body(rest: RestFace) -> None:
    t, other = await rest.thread(name="mine"), await rest.thread(name="other")
    body = {"threadId": other["id"], "thread_id": None, "updateMask": "name", "name": "renamed"}
    r = await rest.client.patch(f"/threads/{t['id']}", json=body)
    assert r.status_code == 200 and r.json()["id"] == t["id"] and r.json()["name"] == "renamed"
    assert (await rest.client.get(f"/threads/{other['id']}")).json()["name"] == "other"
    got = await rest.client.get(f"/threads/{t['id']}", params={"threadId": other["id"]})  # query: ignored
    assert got.json()["id"] == t["id"]


async def test_patch_masks_name_nested_paths_in_camel_case(rest: RestFace) -> None:
    """Example 3: a comma-separated camelCase string; nested paths change only their part."""
    t = await rest.thread(
        name="n", labels={"a": "b"}, expirationConfig={"expirationPolicy": "STATIC", "ttlDays": 5}
    )
    rest.clock.advance(timedelta(minutes=1))
    body = {
        "updateMask": "name,labels,expirationConfig.ttlDays",
        "name": "renamed",
        "labels": {"x": "y"},
        "expirationConfig": {"ttlDays": "3", "expirationPolicy": "SINCE_LAST_ACTIVE"},
    }
    r = await rest.client.patch(f"/threads/{t['id']}", json=body)
    assert r.status_code == 200, r.text
    u = r.json()
    assert (u["name"], u["labels"]) == ("renamed", {"x": "y"})
    assert u["expiration_config"] == {"expiration_policy": "STATIC", "ttl_days": "3"}  # the policy kept
    assert u["updated_at"] == "2026-01-02T03:05:05.123456Z" and u["created_at"] == t["created_at"]
    assert u["expires_at"] == "2026-01-05T03:04:05.123456Z"
    r = await rest.client.patch(
        f"/threads/{t['id']}",
        json={
            "update_mask": " expirationConfig.expirationPolicy ",
            "expiration_config": {"expiration_policy": 2},
        },
    )
    assert r.json()["expiration_config"] == {"expiration_policy": "SINCE_LAST_ACTIVE", "ttl_days": "3"}
    r = await rest.client.patch(f"/threads/{t['id']}", json={"updateMask": "description,name"})
    assert (r.json()["name"], r.json()["description"]) == ("", "")  # named, not given: reset


async def test_patch_without_a_mask_is_invalid_argument_and_changes_nothing(rest: RestFace) -> None:
    t = await rest.thread(name="kept")
    for body in ({"name": "x"}, {"name": "x", "updateMask": ""}, {"name": "x", "updateMask": None}):
        status = status_of(await rest.client.patch(f"/threads/{t['id']}", json=body), 400, 3)
        assert violation_of(status) == ("update_mask", "a value is required")
    assert (await rest.client.get(f"/threads/{t['id']}")).json() == t


async def test_delete_answers_an_empty_object(rest: RestFace) -> None:
    t = await rest.thread()
    r = await rest.client.delete(f"/threads/{t['id']}")  # example 4
    assert (r.status_code, r.content) == (200, b"{}")
    status_of(await rest.client.get(f"/threads/{t['id']}"), 404, 5)


async def test_list_threads_pages_newest_first_and_ends_with_an_empty_page(rest: RestFace) -> None:
    """Example 5: ``folderId`` or ``folder_id``, ``pageSize`` as int64, ``pageToken``."""
    made = []
    for _ in range(3):
        made.append((await rest.thread())["id"])
        rest.clock.advance(timedelta(seconds=1))
    seen: list[str] = []
    params: dict[str, Any] = {"folderId": FOLDER, "pageSize": 2}
    while True:
        page = (await rest.client.get("/threads", params=params)).json()
        assert list(page) == ["threads", "next_page_token"]
        if not page["threads"]:
            assert page == {"threads": [], "next_page_token": ""}
            break
        assert all(list(t) == list(CAPTURED_THREAD) for t in page["threads"])
        seen += [t["id"] for t in page["threads"]]
        params = {"folder_id": FOLDER, "page_size": "2", "pageToken": page["next_page_token"]}
    assert seen == made[::-1]


async def test_list_messages_streams_one_result_line_per_message_newest_first(rest: RestFace) -> None:
    """Example 8: ``{"result": <Message>}`` lines; unknown query parameters are ignored."""
    t = await rest.thread()
    made = [await rest.message(t["id"], str(i)) for i in range(3)]
    r = await rest.client.get("/messages", params={"threadId": t["id"], "pageSize": 5})
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    lines = lines_of(r)
    assert [list(line) for line in lines] == [["result"]] * 3
    assert [line["result"] for line in lines] == made[::-1]
    assert r.content == b"".join(orjson.dumps(line) + b"\n" for line in lines)  # compact lines


async def test_an_empty_thread_streams_an_empty_body(rest: RestFace) -> None:
    t = await rest.thread()
    r = await rest.client.get("/messages", params={"thread_id": t["id"]})
    assert (r.status_code, r.content) == (200, b"")


async def test_unset_sub_messages_print_null_and_oneof_members_only_when_set(rest: RestFace) -> None:
    tools = [
        {
            "searchIndex": {
                "searchIndexIds": ["idx"],
                "callStrategy": {"autoCall": {"name": "n", "instruction": "i"}},
            }
        },
        {"function": {"name": "f", "parameters": {"type": "object", "properties": {"n": {"minimum": 0}}}}},
        {"genSearch": {"description": "d", "options": {"site": {"site": ["a.example"]}}}},
    ]
    t = await rest.thread(tools=tools)
    search, function, gen = t["tools"]
    assert search == {
        "search_index": {
            "search_index_ids": ["idx"],
            "max_num_results": None,  # an unset Int64Value
            "rephraser_options": None,
            "call_strategy": {"auto_call": {"name": "n", "instruction": "i"}},  # always_call left out
        }
    }
    # a Struct's numbers as Go prints them (0, not 0.0), its keys sorted
    assert (
        orjson.dumps(function["function"]["parameters"])
        == b'{"properties":{"n":{"minimum":0}},"type":"object"}'
    )
    assert gen["gen_search"]["options"] == {
        "site": {"site": ["a.example"]},
        "enable_nrfm_docs": False,
        "search_filters": [],
    }
    assert list(gen["gen_search"]) == [f.name for f in tools_pb2.GenSearchTool.DESCRIPTOR.fields]


async def test_map_keys_are_sorted_and_text_is_raw_utf8(rest: RestFace) -> None:
    t = await rest.thread(labels={"zeta": "1", "alpha": "2", "mid": "3"}, name="привет <&>")
    r = await rest.client.get(f"/threads/{t['id']}")
    assert list(r.json()["labels"]) == ["alpha", "mid", "zeta"]
    assert "привет <&>".encode() in r.content


async def test_an_unspecified_policy_never_prints(rest: RestFace) -> None:
    """The Yandex SDK crashes on EXPIRATION_POLICY_UNSPECIFIED; so does the default for an
    unknown enum name, which JSON parsing (as protojson with DiscardUnknown) drops."""
    t = await rest.thread(expirationConfig={"expirationPolicy": "static", "ttlDays": 2})
    assert t["expiration_config"] == {"expiration_policy": "SINCE_LAST_ACTIVE", "ttl_days": "2"}


async def test_initial_messages_and_tools_from_a_create_read_back_over_every_route(rest: RestFace) -> None:
    t = await rest.thread(
        messages=[
            {"content": TEXT},
            {"author": {"role": "ASSISTANT", "id": "asst"}, "content": TEXT, "labels": {"n": "2"}},
        ]
    )
    lines = lines_of(await rest.client.get("/messages", params={"threadId": t["id"]}))
    assert [(m["result"]["author"]["role"], m["result"]["labels"]) for m in lines] == [
        ("ASSISTANT", {"n": "2"}),
        ("USER", {}),
    ]
    assert lines[0]["result"]["author"]["id"] == "asst"


def test_every_field_of_a_thread_has_a_place_in_the_captured_order() -> None:
    assert list(CAPTURED_THREAD) == [f.name for f in thread_pb2.Thread.DESCRIPTOR.fields]

"""The openai SDK's beta.threads.messages against a running threadgate, strict validation on.

One module-wide thread holds 250 messages written every way a client can: as the
initial messages of ``threads.create``, one by one, and in a concurrent burst from
several clients.  Every listing (SDK auto-pagination, raw ``after``/``before`` pages,
both orders) must give back exactly that sequence.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import openai as openai_module
import pytest
from attrs import frozen
from openai import OpenAI

from testkit.server import Server
from tests.e2e.conftest import openai_client, text_value

INITIAL = 32  # the most threads.create accepts
BEFORE_BURST = 60
WRITERS = 4
PER_WRITER = 30
AFTER_BURST = 38
TOTAL = INITIAL + BEFORE_BURST + WRITERS * PER_WRITER + AFTER_BURST
assert TOTAL == 250

MESSAGE_KEYS = {
    "id",
    "object",
    "created_at",
    "assistant_id",
    "thread_id",
    "run_id",
    "role",
    "content",
    "attachments",
    "metadata",
    "status",
    "incomplete_details",
    "completed_at",
    "incomplete_at",
}


@frozen
class Written:
    """What was written to the big thread, in the order each writer wrote it."""

    thread_id: str
    initial_texts: list[str]
    before_burst: list[str]  # ids, written one by one
    writers: list[list[str]]  # ids per concurrent writer, each in its own order
    after_burst: list[str]  # ids, written one by one
    text_of: dict[str, str]  # id -> text, for every message written one at a time


def text(i: int, prefix: str) -> str:
    return f"{prefix} {i}"


@pytest.fixture(scope="module")
def written(server: Server) -> Iterator[Written]:
    with openai_client(server) as client:
        initial_texts = [text(i, "initial") for i in range(INITIAL)]
        thread = client.beta.threads.create(
            messages=[
                {"role": "assistant" if i % 5 == 0 else "user", "content": t, "metadata": {"i": str(i)}}
                for i, t in enumerate(initial_texts)
            ]
        )
        text_of: dict[str, str] = {}

        def one_by_one(sdk: OpenAI, prefix: str, n: int) -> list[str]:
            ids = []
            for i in range(n):
                m = sdk.beta.threads.messages.create(thread.id, role="user", content=text(i, prefix))
                assert m.content[0].type == "text" and m.content[0].text.value == text(i, prefix)
                ids.append(m.id)
                text_of[m.id] = text(i, prefix)
            return ids

        before = one_by_one(client, "before", BEFORE_BURST)
        start = threading.Barrier(WRITERS)

        def writer(w: int) -> list[str]:
            with openai_client(server) as own:
                start.wait(10)
                return one_by_one(own, f"writer{w}", PER_WRITER)

        with ThreadPoolExecutor(WRITERS) as pool:
            writers = list(pool.map(writer, range(WRITERS)))
        after = one_by_one(client, "after", AFTER_BURST)
        yield Written(thread.id, initial_texts, before, writers, after, text_of)


def check_creation_order(w: Written, ids: list[str], texts: list[str]) -> None:
    """``ids`` (ascending) are every message of the big thread, in the order they were committed."""
    assert len(ids) == TOTAL, len(ids)
    assert len(set(ids)) == TOTAL, "a message was listed twice"
    assert texts[:INITIAL] == w.initial_texts  # initial messages keep the given order
    at = INITIAL
    assert ids[at : at + BEFORE_BURST] == w.before_burst
    at += BEFORE_BURST
    burst = ids[at : at + WRITERS * PER_WRITER]
    assert set(burst) == {i for ids_ in w.writers for i in ids_}, "gap or stray message in the burst"
    for own in w.writers:  # each sequential writer's messages keep their relative order
        assert [i for i in burst if i in set(own)] == own
    at += WRITERS * PER_WRITER
    assert ids[at:] == w.after_burst
    for i, t in zip(ids, texts, strict=True):
        if i in w.text_of:
            assert t == w.text_of[i]


@pytest.fixture(scope="module")
def asc_ids(server: Server, written: Written) -> list[str]:
    """The big thread in ascending order, read with raw full pages and checked."""
    ids: list[str] = []
    texts: list[str] = []
    params: dict[str, Any] = {"order": "asc", "limit": 100}
    with server.http() as http:
        while True:
            body = http.get(f"/threads/{written.thread_id}/messages", params=params).json()
            ids += [m["id"] for m in body["data"]]
            texts += [m["content"][0]["text"]["value"] for m in body["data"]]
            if not body["has_more"]:
                break
            params["after"] = body["last_id"]
    check_creation_order(written, ids, texts)
    return ids


@pytest.fixture
def http(server: Server) -> Iterator[httpx.Client]:
    with server.http() as client:
        yield client


def raw_page(http: httpx.Client, thread_id: str, **params: str | int) -> dict[str, Any]:
    r = http.get(f"/threads/{thread_id}/messages", params=params)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    assert set(body) == {"object", "data", "first_id", "last_id", "has_more"}
    assert body["object"] == "list"
    ids = [m["id"] for m in body["data"]]
    assert body["first_id"] == (ids[0] if ids else None)
    assert body["last_id"] == (ids[-1] if ids else None)
    assert type(body["has_more"]) is bool
    return body


def error_message(error: openai_module.APIStatusError) -> str:
    """The ``message`` of the error object the server answered with."""
    body = error.body
    assert isinstance(body, dict), body
    message = body["message"]
    assert isinstance(message, str), message
    return message


def ids_of(body: dict[str, Any]) -> list[str]:
    return [m["id"] for m in body["data"]]


# -- ordering and paging over the 250-message thread -----------------------------


def test_creation_order_is_kept(asc_ids: list[str]) -> None:
    assert len(asc_ids) == TOTAL  # the fixture checks the order itself


@pytest.mark.parametrize("limit", [1, 7, 37, 100])
def test_sdk_auto_pagination_ascending(
    openai: OpenAI, written: Written, asc_ids: list[str], limit: int
) -> None:
    messages = list(openai.beta.threads.messages.list(written.thread_id, order="asc", limit=limit))
    ids = [m.id for m in messages]
    check_creation_order(written, ids, [text_value(m) for m in messages])
    assert ids == asc_ids
    created = [m.created_at for m in messages]
    assert created == sorted(created), "created_at goes back within the thread"
    assert {m.thread_id for m in messages} == {written.thread_id}


@pytest.mark.parametrize("limit", [3, 23, 50, 100])
def test_sdk_auto_pagination_descending_is_the_exact_reverse(
    openai: OpenAI, written: Written, asc_ids: list[str], limit: int
) -> None:
    ids = [m.id for m in openai.beta.threads.messages.list(written.thread_id, order="desc", limit=limit)]
    assert ids == asc_ids[::-1]


def test_sdk_default_order_is_newest_first(openai: OpenAI, written: Written, asc_ids: list[str]) -> None:
    first = openai.beta.threads.messages.list(written.thread_id)
    assert [m.id for m in first.data] == asc_ids[::-1][:20]  # default limit 20, order desc
    assert first.has_more is True
    assert [m.id for m in first] == asc_ids[::-1]  # iterating a page walks every page


def test_sdk_pages_have_exact_has_more(openai: OpenAI, written: Written, asc_ids: list[str]) -> None:
    pages = list(openai.beta.threads.messages.list(written.thread_id, order="asc", limit=50).iter_pages())
    assert [len(p.data) for p in pages] == [50] * 5  # 250 = 5 x 50: no empty sixth page
    assert [p.has_more for p in pages] == [True, True, True, True, False]
    assert [m.id for p in pages for m in p.data] == asc_ids


@pytest.mark.parametrize("order", ["asc", "desc"])
@pytest.mark.parametrize("limit", [40, 50, 100])
def test_raw_pages_walked_with_after(
    http: httpx.Client, written: Written, asc_ids: list[str], order: str, limit: int
) -> None:
    expected = asc_ids if order == "asc" else asc_ids[::-1]
    seen: list[str] = []
    params: dict[str, str | int] = {"order": order, "limit": limit}
    pages = 0
    while True:
        body = raw_page(http, written.thread_id, **params)
        pages += 1
        assert ids_of(body) == expected[len(seen) : len(seen) + limit]
        seen += ids_of(body)
        assert body["has_more"] is (len(seen) < TOTAL)
        if not body["has_more"]:
            break
        params["after"] = body["last_id"]
    assert seen == expected
    assert pages == math.ceil(TOTAL / limit)


@pytest.mark.parametrize("order", ["asc", "desc"])
@pytest.mark.parametrize("limit", [40, 83])
def test_raw_pages_walked_back_with_before(
    http: httpx.Client, written: Written, asc_ids: list[str], order: str, limit: int
) -> None:
    expected = asc_ids if order == "asc" else asc_ids[::-1]
    # from the end of the list back to its start: each page is the one just before the cursor
    seen = [expected[-1]]
    while True:
        body = raw_page(http, written.thread_id, order=order, limit=limit, before=seen[0])
        end = TOTAL - len(seen)
        assert ids_of(body) == expected[max(0, end - limit) : end]  # still in the requested order
        seen = ids_of(body) + seen
        assert body["has_more"] is (len(seen) < TOTAL)
        if not body["has_more"]:
            break
    assert seen == expected


def test_after_and_before_together(http: httpx.Client, written: Written, asc_ids: list[str]) -> None:
    tid = written.thread_id
    body = raw_page(http, tid, order="asc", after=asc_ids[10], before=asc_ids[30], limit=100)
    assert ids_of(body) == asc_ids[11:30] and body["has_more"] is False
    body = raw_page(http, tid, order="asc", after=asc_ids[10], before=asc_ids[30], limit=5)
    assert ids_of(body) == asc_ids[11:16] and body["has_more"] is True
    desc = asc_ids[::-1]
    body = raw_page(http, tid, order="desc", after=desc[100], before=desc[120], limit=100)
    assert ids_of(body) == desc[101:120] and body["has_more"] is False
    body = raw_page(http, tid, order="asc", after=asc_ids[10], before=asc_ids[11])
    assert body["data"] == [] and body["has_more"] is False


def test_cursor_at_the_edges(http: httpx.Client, written: Written, asc_ids: list[str]) -> None:
    tid = written.thread_id
    last = raw_page(http, tid, order="asc", after=asc_ids[-1])
    assert last == {"object": "list", "data": [], "first_id": None, "last_id": None, "has_more": False}
    first = raw_page(http, tid, order="asc", before=asc_ids[0])
    assert first["data"] == [] and first["has_more"] is False
    one = raw_page(http, tid, order="desc", after=asc_ids[1], limit=1)
    assert ids_of(one) == [asc_ids[0]] and one["has_more"] is False
    one = raw_page(http, tid, order="desc", after=asc_ids[2], limit=1)
    assert ids_of(one) == [asc_ids[1]] and one["has_more"] is True


def test_sdk_before_page(openai: OpenAI, written: Written, asc_ids: list[str]) -> None:
    page = openai.beta.threads.messages.list(written.thread_id, order="asc", before=asc_ids[50], limit=10)
    assert [m.id for m in page.data] == asc_ids[40:50]
    assert page.has_more is True


def test_initial_messages_keep_roles_and_metadata(
    openai: OpenAI, written: Written, asc_ids: list[str]
) -> None:
    for i, message_id in enumerate(asc_ids[:INITIAL]):
        m = openai.beta.threads.messages.retrieve(message_id, thread_id=written.thread_id)
        assert m.role == ("assistant" if i % 5 == 0 else "user")
        assert m.metadata == {"i": str(i)}
        assert m.assistant_id is None and m.run_id is None


# -- content, attachments, metadata ----------------------------------------------


def test_string_content_in_openai_shape(openai: OpenAI, http: httpx.Client) -> None:
    t = openai.beta.threads.create()
    r = http.post(f"/threads/{t.id}/messages", json={"role": "user", "content": "How does AI work?"})
    assert r.status_code == 200, r.text
    m = r.json()
    assert set(m) == MESSAGE_KEYS
    assert m["id"].startswith("msg_") and len(m["id"]) == len("msg_") + 24
    assert m["object"] == "thread.message"
    assert m["thread_id"] == t.id
    assert m["role"] == "user"
    assert m["content"] == [{"type": "text", "text": {"value": "How does AI work?", "annotations": []}}]
    assert m["attachments"] == [] and m["metadata"] == {}
    assert m["assistant_id"] is None and m["run_id"] is None
    assert m["status"] == "completed" and m["completed_at"] == m["created_at"]
    assert m["incomplete_details"] is None and m["incomplete_at"] is None
    assert m["created_at"] >= t.created_at


def test_content_parts_in_openai_shape(openai: OpenAI, http: httpx.Client) -> None:
    t = openai.beta.threads.create()
    parts = [
        {"type": "text", "text": "look at these"},
        {"type": "image_file", "image_file": {"file_id": "file-abc"}},
        {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}},
        {"type": "image_url", "image_url": {"url": "https://example.com/b.png", "detail": "low"}},
        {"type": "image_file", "image_file": {"file_id": "file-def", "detail": "high"}},
        {"type": "text", "text": ""},
    ]
    r = http.post(f"/threads/{t.id}/messages", json={"role": "user", "content": parts})
    assert r.status_code == 200, r.text
    expected = [
        {"type": "text", "text": {"value": "look at these", "annotations": []}},
        {"type": "image_file", "image_file": {"file_id": "file-abc", "detail": "auto"}},
        {"type": "image_url", "image_url": {"url": "https://example.com/a.png", "detail": "auto"}},
        {"type": "image_url", "image_url": {"url": "https://example.com/b.png", "detail": "low"}},
        {"type": "image_file", "image_file": {"file_id": "file-def", "detail": "high"}},
        {"type": "text", "text": {"value": "", "annotations": []}},
    ]
    assert r.json()["content"] == expected
    got = http.get(f"/threads/{t.id}/messages/{r.json()['id']}").json()
    assert got["content"] == expected
    listed = raw_page(http, t.id)
    assert listed["data"][0]["content"] == expected


def test_sdk_parses_every_part_kind(openai: OpenAI) -> None:
    t = openai.beta.threads.create()
    m = openai.beta.threads.messages.create(
        t.id,
        role="user",
        content=[
            {"type": "text", "text": "hi"},
            {"type": "image_file", "image_file": {"file_id": "file-1"}},
            {"type": "image_url", "image_url": {"url": "https://example.com/x.webp", "detail": "high"}},
        ],
    )
    assert [p.type for p in m.content] == ["text", "image_file", "image_url"]
    text_part, file_part, url_part = m.content
    assert text_part.type == "text" and text_part.text.value == "hi" and text_part.text.annotations == []
    assert file_part.type == "image_file"
    assert (file_part.image_file.file_id, file_part.image_file.detail) == ("file-1", "auto")
    assert url_part.type == "image_url"
    assert (url_part.image_url.url, url_part.image_url.detail) == ("https://example.com/x.webp", "high")
    assert openai.beta.threads.messages.retrieve(m.id, thread_id=t.id) == m


def test_attachments_and_metadata_round_trip(openai: OpenAI) -> None:
    t = openai.beta.threads.create()
    attachments: Any = [
        {"file_id": "file-a", "tools": [{"type": "code_interpreter"}, {"type": "file_search"}]},
        {"file_id": "file-b", "tools": [{"type": "file_search"}]},
    ]
    m = openai.beta.threads.messages.create(
        t.id, role="user", content="see files", attachments=attachments, metadata={"k": "v", "n": "1"}
    )
    assert m.attachments is not None
    assert [a.file_id for a in m.attachments] == ["file-a", "file-b"]
    assert [[tool.type for tool in a.tools or ()] for a in m.attachments] == [
        ["code_interpreter", "file_search"],
        ["file_search"],
    ]
    assert m.metadata == {"k": "v", "n": "1"}
    got = openai.beta.threads.messages.retrieve(m.id, thread_id=t.id)
    assert got == m
    assert [x.id for x in openai.beta.threads.messages.list(t.id)] == [m.id]


def test_initial_message_with_parts_and_attachments(openai: OpenAI) -> None:
    t = openai.beta.threads.create(
        messages=[
            {"role": "user", "content": "first"},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "second"},
                    {"type": "image_url", "image_url": {"url": "https://example.com/i.png"}},
                ],
                "attachments": [{"file_id": "file-z", "tools": [{"type": "code_interpreter"}]}],
                "metadata": {"x": "y"},
            },
        ]
    )
    first, second = openai.beta.threads.messages.list(t.id, order="asc").data
    assert first.content[0].type == "text" and first.content[0].text.value == "first"
    assert [p.type for p in second.content] == ["text", "image_url"]
    assert second.content[1].type == "image_url" and second.content[1].image_url.detail == "auto"
    assert second.attachments is not None and second.attachments[0].file_id == "file-z"
    assert second.metadata == {"x": "y"}
    assert first.created_at == second.created_at  # one write, one timestamp; order by sequence


def test_assistant_messages_have_no_assistant_id(openai: OpenAI) -> None:
    t = openai.beta.threads.create()
    m = openai.beta.threads.messages.create(t.id, role="assistant", content="I am an assistant")
    assert m.role == "assistant"
    assert m.assistant_id is None and m.run_id is None
    assert m.status == "completed"
    got = openai.beta.threads.messages.retrieve(m.id, thread_id=t.id)
    assert got.role == "assistant" and got.assistant_id is None


def test_retrieve_update_delete(openai: OpenAI, http: httpx.Client) -> None:
    t = openai.beta.threads.create()
    keep = openai.beta.threads.messages.create(t.id, role="user", content="keep")
    m = openai.beta.threads.messages.create(t.id, role="user", content="x", metadata={"a": "1", "b": "2"})
    assert openai.beta.threads.messages.retrieve(m.id, thread_id=t.id) == m

    updated = openai.beta.threads.messages.update(m.id, thread_id=t.id, metadata={"c": "3"})
    assert updated.metadata == {"c": "3"}  # the whole map is replaced
    assert (updated.id, updated.created_at, updated.content) == (m.id, m.created_at, m.content)
    same = openai.beta.threads.messages.update(m.id, thread_id=t.id)  # metadata absent: unchanged
    assert same.metadata == {"c": "3"}
    assert openai.beta.threads.messages.retrieve(m.id, thread_id=t.id).metadata == {"c": "3"}
    r = http.post(f"/threads/{t.id}/messages/{m.id}", json={"metadata": None})
    assert r.status_code == 200 and r.json()["metadata"] == {}

    deleted = openai.beta.threads.messages.delete(m.id, thread_id=t.id)
    assert (deleted.id, deleted.object, deleted.deleted) == (m.id, "thread.message.deleted", True)
    for call in (
        lambda: openai.beta.threads.messages.retrieve(m.id, thread_id=t.id),
        lambda: openai.beta.threads.messages.update(m.id, thread_id=t.id, metadata={}),
        lambda: openai.beta.threads.messages.delete(m.id, thread_id=t.id),
    ):
        with pytest.raises(openai_module.NotFoundError) as info:
            call()
        assert info.value.status_code == 404
        assert info.value.body == {
            "message": f"No message found with id '{m.id}'.",
            "type": "invalid_request_error",
            "param": None,
            "code": None,
        }
    assert [x.id for x in openai.beta.threads.messages.list(t.id)] == [keep.id]


def test_modify_accepts_only_metadata(openai: OpenAI, http: httpx.Client) -> None:
    t = openai.beta.threads.create()
    m = openai.beta.threads.messages.create(t.id, role="user", content="x")
    r = http.post(f"/threads/{t.id}/messages/{m.id}", json={"content": "changed"})
    assert r.status_code == 400
    assert (r.json()["error"]["param"], r.json()["error"]["code"]) == ("content", "unknown_parameter")
    got = openai.beta.threads.messages.retrieve(m.id, thread_id=t.id)
    assert got.content == m.content


def test_message_of_another_thread_is_not_found(openai: OpenAI) -> None:
    a = openai.beta.threads.create()
    b = openai.beta.threads.create()
    m = openai.beta.threads.messages.create(a.id, role="user", content="in a")
    for call in (
        lambda: openai.beta.threads.messages.retrieve(m.id, thread_id=b.id),
        lambda: openai.beta.threads.messages.update(m.id, thread_id=b.id, metadata={"x": "y"}),
        lambda: openai.beta.threads.messages.delete(m.id, thread_id=b.id),
    ):
        with pytest.raises(openai_module.NotFoundError) as info:
            call()
        assert error_message(info.value) == f"No message found with id '{m.id}'."
    assert openai.beta.threads.messages.retrieve(m.id, thread_id=a.id) == m  # untouched


def test_unknown_or_deleted_thread(openai: OpenAI) -> None:
    t = openai.beta.threads.create(messages=[{"role": "user", "content": "x"}])
    m = openai.beta.threads.messages.list(t.id).data[0]
    openai.beta.threads.delete(t.id)
    for call in (
        lambda: openai.beta.threads.messages.list(t.id),
        lambda: openai.beta.threads.messages.create(t.id, role="user", content="y"),
        lambda: openai.beta.threads.messages.retrieve(m.id, thread_id=t.id),
    ):
        with pytest.raises(openai_module.NotFoundError) as info:
            call()
        assert error_message(info.value) == f"No thread found with id '{t.id}'."


def test_run_id_filter_finds_no_manual_messages(http: httpx.Client, written: Written) -> None:
    body = raw_page(http, written.thread_id, run_id="run_abc123")
    assert body == {"object": "list", "data": [], "first_id": None, "last_id": None, "has_more": False}


def test_sdk_run_id_filter(openai: OpenAI, written: Written) -> None:
    assert list(openai.beta.threads.messages.list(written.thread_id, run_id="run_x", limit=100)) == []


def test_deleted_message_still_works_as_a_cursor(openai: OpenAI, http: httpx.Client) -> None:
    t = openai.beta.threads.create()
    ids = [openai.beta.threads.messages.create(t.id, role="user", content=str(i)).id for i in range(6)]
    openai.beta.threads.messages.delete(ids[2], thread_id=t.id)
    openai.beta.threads.messages.delete(ids[3], thread_id=t.id)
    assert ids_of(raw_page(http, t.id, order="asc", after=ids[2])) == ids[4:]
    assert ids_of(raw_page(http, t.id, order="desc", after=ids[3])) == [ids[1], ids[0]]
    assert ids_of(raw_page(http, t.id, order="asc", before=ids[3])) == ids[:2]
    body = raw_page(http, t.id, order="asc", after=ids[2], limit=1)
    assert ids_of(body) == [ids[4]] and body["has_more"] is True
    assert [m.id for m in openai.beta.threads.messages.list(t.id, order="asc", after=ids[3])] == ids[4:]
    assert [m.id for m in openai.beta.threads.messages.list(t.id, order="asc")] == [
        ids[0],
        ids[1],
        ids[4],
        ids[5],
    ]


# -- bad input --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "param", "code"),
    [
        ({"limit": "0"}, "limit", "integer_below_min_value"),
        ({"limit": "-1"}, "limit", "integer_below_min_value"),
        ({"limit": "101"}, "limit", "integer_above_max_value"),
        ({"limit": "x"}, "limit", "invalid_type"),
        ({"limit": "1.5"}, "limit", "invalid_type"),
        ({"order": "sideways"}, "order", "invalid_value"),
        ({"order": "ASC"}, "order", "invalid_value"),
    ],
)
def test_bad_list_parameters_are_a_400_in_openai_shape(
    openai: OpenAI, http: httpx.Client, params: dict[str, str], param: str, code: str
) -> None:
    t = openai.beta.threads.create(messages=[{"role": "user", "content": "x"}])
    r = http.get(f"/threads/{t.id}/messages", params=params)
    assert r.status_code == 400, r.text
    err = r.json()["error"]
    assert set(err) == {"message", "type", "param", "code"}
    assert (err["type"], err["param"], err["code"]) == ("invalid_request_error", param, code)
    assert r.headers["x-should-retry"] == "false"


def test_limit_edges_are_accepted(openai: OpenAI, http: httpx.Client) -> None:
    t = openai.beta.threads.create(messages=[{"role": "user", "content": str(i)} for i in range(3)])
    assert len(raw_page(http, t.id, limit=1)["data"]) == 1
    assert len(raw_page(http, t.id, limit=100)["data"]) == 3


def test_sdk_raises_bad_request_for_limit(openai: OpenAI) -> None:
    t = openai.beta.threads.create()
    with pytest.raises(openai_module.BadRequestError) as info:
        openai.beta.threads.messages.list(t.id, limit=101)
    assert info.value.param == "limit"
    assert error_message(info.value) == (
        "Invalid 'limit': integer above maximum value. Expected a value <= 100, but got 101 instead."
    )


@pytest.mark.parametrize("cursor", ["after", "before"])
def test_cursor_not_in_the_thread_is_a_400(openai: OpenAI, http: httpx.Client, cursor: str) -> None:
    a = openai.beta.threads.create(messages=[{"role": "user", "content": "a"}])
    b = openai.beta.threads.create(messages=[{"role": "user", "content": "b"}])
    of_b = openai.beta.threads.messages.list(b.id).data[0].id
    for bad in (of_b, "msg_doesnotexist000000000000", "nonsense"):
        r = http.get(f"/threads/{a.id}/messages", params={cursor: bad})
        assert r.status_code == 400, (bad, r.text)
        err = r.json()["error"]
        assert (err["type"], err["param"]) == ("invalid_request_error", cursor)


@pytest.mark.parametrize(
    ("body", "param", "code"),
    [
        ({"role": "bot", "content": "x"}, "role", "invalid_value"),
        ({"content": "x"}, "role", "missing_required_parameter"),
        ({"role": "user"}, "content", "missing_required_parameter"),
        ({"role": "user", "content": []}, "content", "empty_array"),
        ({"role": "user", "content": 5}, "content", "invalid_type"),
        ({"role": "user", "content": "x", "file_ids": []}, "file_ids", "unknown_parameter"),
        ({"role": "user", "content": "x", "metadata": {"a": 1}}, "metadata.a", "invalid_type"),
        (
            {"role": "user", "content": "x", "metadata": {str(i): "v" for i in range(17)}},
            "metadata",
            "object_above_max_properties",
        ),
        ({"role": "user", "content": "x" * 256_001}, "content", "string_above_max_length"),
        (
            {"role": "user", "content": "x", "attachments": [{"file_id": "f", "tools": [{"type": "web"}]}]},
            "attachments[0].tools[0].type",
            "invalid_value",
        ),
    ],
)
def test_bad_message_is_a_400_in_openai_shape(
    openai: OpenAI, http: httpx.Client, body: object, param: str, code: str
) -> None:
    t = openai.beta.threads.create()
    r = http.post(f"/threads/{t.id}/messages", json=body)
    assert r.status_code == 400, r.text
    err = r.json()["error"]
    assert set(err) == {"message", "type", "param", "code"}
    assert (err["type"], err["param"], err["code"]) == ("invalid_request_error", param, code)
    assert openai.beta.threads.messages.list(t.id).data == []  # nothing was stored


def test_unknown_part_type_names_the_part(openai: OpenAI, http: httpx.Client) -> None:
    t = openai.beta.threads.create()
    r = http.post(
        f"/threads/{t.id}/messages",
        json={"role": "user", "content": [{"type": "text", "text": "ok"}, {"type": "audio", "audio": {}}]},
    )
    assert r.status_code == 400, r.text
    assert r.json()["error"]["param"].startswith("content[1]")


def test_a_message_id_that_names_nothing_is_a_404(openai: OpenAI, http: httpx.Client) -> None:
    t = openai.beta.threads.create()
    r = http.get(f"/threads/{t.id}/messages/undefined")
    assert r.status_code == 404
    err = r.json()["error"]
    assert err["message"] == "No message found with id 'undefined'."


def test_bad_metadata_update_changes_nothing(openai: OpenAI, http: httpx.Client) -> None:
    t = openai.beta.threads.create()
    m = openai.beta.threads.messages.create(t.id, role="user", content="x", metadata={"a": "1"})
    for body, param in [
        ({"metadata": {str(i): "v" for i in range(17)}}, "metadata"),
        ({"metadata": {"k": "v" * 513}}, "metadata.k"),
        ({"metadata": {"k": 1}}, "metadata.k"),
    ]:
        r = http.post(f"/threads/{t.id}/messages/{m.id}", json=body)
        assert r.status_code == 400, r.text
        assert r.json()["error"]["param"] == param
    assert openai.beta.threads.messages.retrieve(m.id, thread_id=t.id).metadata == {"a": "1"}

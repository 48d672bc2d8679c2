"""Property tests: any item the Conversations write union allows comes back from the
store unchanged, through the face (memory store) and through the SQL rows codec that
SQLite and PostgreSQL share."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.http.app import build_app
from adapters.openai.requests import RestOptions
from adapters.storage.memory import InMemoryStore
from adapters.storage.rows import message_from_row, message_to_row
from core.access import AccessRole
from core.model import Entry
from core.services import Core
from tests.doubles import ManualClock, SequentialIds
from tests.factories import T0

text = st.text(st.characters(exclude_characters="\x00", exclude_categories=["Cs"]), max_size=40)
json_leaf = st.none() | st.booleans() | st.integers(-(2**53), 2**53) | text
json_value = st.recursive(
    json_leaf,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(text, inner, max_size=4),
    max_leaves=12,
)
# keys a non-message item may carry besides its type and id: anything, kept as data
item_data = st.dictionaries(text.filter(lambda k: k not in ("id", "type")), json_value, max_size=5)
item_types = st.sampled_from(
    ["function_call", "function_call_output", "reasoning", "compaction", "web_search_call", "x_future.kind"]
)
annotation = st.fixed_dictionaries(
    {"type": st.sampled_from(["file_citation", "url_citation"]), "index": st.integers(0, 99), "file_id": text}
)
input_part = st.one_of(
    st.builds(lambda t: {"type": "input_text", "text": t}, text),
    st.builds(
        lambda u, d: {"type": "input_image", "image_url": u, "detail": d},
        text,
        st.sampled_from(["low", "high", "auto", "original"]),
    ),
    st.builds(lambda f: {"type": "input_image", "file_id": f, "detail": "auto"}, text.filter(bool)),
    st.builds(lambda n, d: {"type": "input_file", "filename": n, "file_data": d}, text, text),
)
output_part = st.one_of(
    st.builds(
        lambda t, a: {"type": "output_text", "text": t, "annotations": a, "logprobs": []},
        text,
        st.lists(annotation, max_size=2),
    ),
    st.builds(lambda r: {"type": "refusal", "refusal": r}, text),
)
message = st.one_of(
    st.builds(
        lambda role, parts: {"type": "message", "role": role, "content": parts},
        st.sampled_from(["user", "system", "developer"]),
        st.lists(input_part, min_size=1, max_size=3),
    ),
    st.builds(
        lambda parts, phase: {"role": "assistant", "content": parts, **({"phase": phase} if phase else {})},
        st.lists(output_part, min_size=1, max_size=3),
        st.sampled_from([None, "commentary", "final_answer"]),
    ),
    st.builds(lambda role, t: {"role": role, "content": t}, st.sampled_from(["user", "assistant"]), text),
)
other = st.builds(lambda kind, data: {"type": kind, **data}, item_types, item_data)
items = st.lists(message | other, min_size=1, max_size=6)


def expected(sent: dict[str, Any], stored_id: str) -> dict[str, Any]:
    """What a client reads back for what it sent: the server's id and status filled in,
    a message's type and string content in their read shape."""
    if sent.get("type", "message") != "message":
        return {"status": "completed", **sent, "id": stored_id}
    role = sent["role"]
    content = sent["content"]
    if isinstance(content, str):
        kind = "output_text" if role == "assistant" else "input_text"
        content = [{"type": kind, "text": content}]
    parts = []
    for part in content:
        if part["type"] == "output_text":
            part = {"logprobs": [], "annotations": [], **part}
        if part["type"] == "input_image":
            part = {"image_url": None, "file_id": None, **part}
        if part["type"] == "input_file":
            part = {"file_id": None, **part}
        parts.append(part)
    out = {"type": "message", "id": stored_id, "status": "completed", "role": role, "content": parts}
    if "phase" in sent:
        out["phase"] = sent["phase"]
    return out


@pytest.fixture
async def face() -> AsyncIterator[tuple[httpx.AsyncClient, Core]]:
    core = Core(InMemoryStore(), ManualClock(T0), SequentialIds())
    _, token = await core.access.create_key(["f"], AccessRole.EDITOR)
    transport = httpx.ASGITransport(app=build_app(core, RestOptions(default_folder="f")))
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(transport=transport, base_url="http://face/v1", headers=headers) as c:
        yield c, core


@pytest.fixture
def client(face: tuple[httpx.AsyncClient, Core]) -> httpx.AsyncClient:
    return face[0]


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
@given(batch=items)
async def test_any_allowed_item_reads_back_unchanged(client: httpx.AsyncClient, batch: list[Any]) -> None:
    conversation = (await client.post("/conversations")).json()["id"]
    made = await client.post(f"/conversations/{conversation}/items", json={"items": batch})
    assert made.status_code == 200, made.text
    data = made.json()["data"]
    assert data == [expected(s, d["id"]) for s, d in zip(batch, data, strict=True)]
    listed = (await client.get(f"/conversations/{conversation}/items", params={"order": "asc"})).json()
    assert listed["data"] == data
    for d in data:
        assert (await client.get(f"/conversations/{conversation}/items/{d['id']}")).json() == d


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
@given(batch=items)
async def test_the_sql_rows_codec_keeps_every_entry(
    face: tuple[httpx.AsyncClient, Core], batch: list[Any]
) -> None:
    """SQLite and PostgreSQL store entries through one codec; it must lose nothing."""
    client, core = face
    conversation = (await client.post("/conversations", json={"items": batch})).json()["id"]
    page = await core.store.list_messages(conversation, order="asc", limit=100)
    assert page is not None
    core_entries: list[Entry] = page.messages
    assert len(core_entries) == len(batch)
    for entry in core_entries:
        assert message_from_row(message_to_row(entry)[:5]) == entry

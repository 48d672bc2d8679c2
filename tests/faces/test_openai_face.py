"""The OpenAI face in process: the HTTP host's app on the memory store, over httpx's ASGI
transport (no sockets, no subprocess). The same contract the end-to-end tests check
through the real SDK, fast enough to cover every branch of the face."""

from __future__ import annotations

from collections.abc import AsyncIterator

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
    headers = {"Authorization": f"Bearer {token}", "OpenAI-Beta": "assistants=v2"}
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://face/v1", headers=headers) as c:
        yield c


def error_of(r: httpx.Response, status: int) -> dict[str, object]:
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"error"} and set(body["error"]) == {"message", "type", "param", "code"}
    assert r.headers["x-should-retry"] == "false"
    return dict(body["error"])


async def test_a_thread_and_its_messages_round_trip(client: httpx.AsyncClient) -> None:
    t = (await client.post("/threads", json={"metadata": {"a": "b"}})).json()
    assert t["object"] == "thread" and t["metadata"] == {"a": "b"}
    m = (await client.post(f"/threads/{t['id']}/messages", json={"role": "user", "content": "hi"})).json()
    page = (await client.get(f"/threads/{t['id']}/messages")).json()
    assert [x["id"] for x in page["data"]] == [m["id"]] and page["has_more"] is False
    assert page["first_id"] == page["last_id"] == m["id"]


async def test_core_errors_get_openai_words_and_names(client: httpx.AsyncClient) -> None:
    err = error_of(await client.post("/threads", json={"metadata": {f"k{i}": "v" for i in range(17)}}), 400)
    assert (err["param"], err["code"]) == ("metadata", "object_above_max_properties")
    assert err["message"] == (
        "Invalid 'metadata': too many properties. Expected an object with at most 16 properties, "
        "but got an object with 17 properties instead."
    )
    t = (await client.post("/threads")).json()
    err = error_of(
        await client.post(f"/threads/{t['id']}/messages", json={"role": "user", "content": "a\x00"}), 400
    )
    assert (err["param"], err["code"]) == ("content", "invalid_value")
    err = error_of(await client.get(f"/threads/{t['id']}/messages", params={"limit": 101}), 400)
    assert (err["param"], err["code"]) == ("limit", "integer_above_max_value")
    err = error_of(await client.get("/threads/thread_nothere"), 404)
    assert err["message"] == "No thread found with id 'thread_nothere'."


async def test_no_redirects_and_openai_shaped_404s(client: httpx.AsyncClient) -> None:
    for path in ("/threads/", "/nothing", "/../threads"):
        r = await client.get(path)
        assert "location" not in r.headers
        error_of(r, 404)
    r = await client.get("http://face/health")
    assert r.json() == {"status": "ok"}


async def test_authentication_comes_before_everything_else(client: httpx.AsyncClient) -> None:
    for auth in ("", "Bearer tgk_nope.secret", "Basic x"):
        headers = {"Authorization": auth} if auth else {}
        client.headers.pop("Authorization", None)
        r = await client.get("/threads/not-an-id/messages?limit=abc", headers=headers)
        assert r.status_code == 401, (auth, r.text)
        assert r.headers["www-authenticate"] == "Bearer"


async def test_an_idempotency_key_is_per_project(client: httpx.AsyncClient) -> None:
    key = {"Idempotency-Key": "k"}
    first = (await client.post("/threads", json={}, headers={**key, "OpenAI-Project": "f"})).json()
    again = (await client.post("/threads", json={}, headers={**key, "OpenAI-Project": "f"})).json()
    assert again["id"] == first["id"]
    err = error_of(await client.post("/threads", json={}, headers={**key, "OpenAI-Project": "g"}), 400)
    assert err["code"] == "idempotency_key_reused"

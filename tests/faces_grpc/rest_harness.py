"""The Yandex REST face in process, and how its tests read what it answers.

The HTTP host's own app (``build_app`` with the face mounted as ``serve`` mounts it) on a
memory store that fails on demand, over httpx's ASGI transport: no socket, no
subprocess.  The face imports our generated modules, so its tests live in this tier's
process (tests/conftest.py).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import httpx
import orjson
from attrs import define, field
from starlette.types import ASGIApp

from adapters.http.app import build_app
from adapters.openai.requests import RestOptions
from adapters.yandex.rest.app import yandex_rest_mount
from core.access import AccessRole
from core.services import Core, CoreSettings
from tests.doubles import ManualClock, OutageStore, SequentialIds
from tests.factories import T0

FOLDER, OTHER_FOLDER = "b1g-face", "b1g-other"
BASE = "http://face/assistants/v1"
REQUEST_INFO = "type.googleapis.com/google.rpc.RequestInfo"
BAD_REQUEST = "type.googleapis.com/google.rpc.BadRequest"

# Captured from rest-assistant.api.cloud.yandex.net (yandex-rest.md §3 and §7): the key
# sets and their order are what the face must print; the values are Yandex's.
CAPTURED_THREAD = orjson.loads(
    b'{"id":"fvt8rn2ip0fgabcdefgh","folder_id":"b1gt6g8ht345abcdefgh","name":"support","description":"",'
    b'"default_message_author_id":"fvtgsemis1k5abcdefgh","created_by":"ajeol2afu1jsabcdefgh",'
    b'"created_at":"2025-08-27T08:51:05.255025Z","updated_by":"ajeol2afu1jsabcdefgh",'
    b'"updated_at":"2025-08-27T08:51:05.255025Z","expiration_config":{"expiration_policy":"STATIC",'
    b'"ttl_days":"5"},"expires_at":"2025-09-01T08:51:05.255025Z","labels":{"team":"a"},"tools":[]}'
)
CAPTURED_MESSAGE = orjson.loads(
    b'{"id":"fvtel9i871raabcdefgh","thread_id":"fvt8rn2ip0fgabcdefgh","created_by":"ajeol2afu1jsabcdefgh",'
    b'"created_at":"2025-08-27T08:58:47.758337Z","author":{"id":"fvtgsemis1k5abcdefgh","role":"USER"},'
    b'"labels":{},"content":{"content":[{"text":{"content":"How much is a visa to Bali?"}}]},'
    b'"status":"COMPLETED","citations":[]}'
)


def shape(value: Any) -> Any:
    """Keys (in order) all the way down, values left out; a map's keys are data, so a map
    shows as ``{}``, and a list as the shape of its first element."""
    if isinstance(value, dict):
        return [(k, shape(v)) for k, v in value.items()]
    if isinstance(value, list):
        return [shape(value[0])] if value else []
    return type(value).__name__


@define
class RestFace:
    """The app and a client with an editor key for FOLDER and OTHER_FOLDER (``Api-Key``)."""

    core: Core
    store: OutageStore
    clock: ManualClock
    app: ASGIApp
    token: str
    client: httpx.AsyncClient = field(init=False)
    _clients: list[httpx.AsyncClient] = field(factory=list)

    def __attrs_post_init__(self) -> None:
        self.client = self.http({"Authorization": f"Api-Key {self.token}"})

    def http(self, headers: Mapping[str, str] | None = None) -> httpx.AsyncClient:
        """A client of its own, sending ``headers`` (none: no credentials)."""
        transport = httpx.ASGITransport(app=self.app)
        client = httpx.AsyncClient(transport=transport, base_url=BASE, headers=dict(headers or {}))
        self._clients.append(client)
        return client

    async def key(self, *folders: str, role: AccessRole = AccessRole.EDITOR) -> str:
        """A new key's ``Authorization`` value."""
        _, token = await self.core.access.create_key(folders, role)
        return f"Bearer {token}"

    async def thread(self, **fields: Any) -> dict[str, Any]:
        r = await self.client.post("/threads", json={"folderId": FOLDER, **fields})
        assert r.status_code == 200, r.text
        return dict(r.json())

    async def message(self, thread_id: str, text: str = "hi", **fields: Any) -> dict[str, Any]:
        body = {"threadId": thread_id, "content": {"content": [{"text": {"content": text}}]}, **fields}
        r = await self.client.post("/messages", json=body)
        assert r.status_code == 200, r.text
        return dict(r.json())

    async def close(self) -> None:
        for client in self._clients:
            await client.aclose()


async def start_rest(settings: CoreSettings | None = None, **options: Any) -> RestFace:
    """The face on a fresh store; ``options`` go to ``yandex_rest_mount``."""
    store, clock = OutageStore(), ManualClock(T0)
    core = Core(store, clock, SequentialIds(), settings or CoreSettings())
    _, token = await core.access.create_key([FOLDER, OTHER_FOLDER], AccessRole.EDITOR)
    app = build_app(core, RestOptions(), mounts=[yandex_rest_mount(core, **options)])
    return RestFace(core, store, clock, app, token)


def route_calls(
    client: httpx.AsyncClient, thread_id: str, message_id: str
) -> dict[str, Callable[[], Awaitable[httpx.Response]]]:
    """A request of each route on one thread (or FOLDER), made only when called."""
    text = {"content": [{"text": {"content": "x"}}]}
    return {
        "ThreadService/Create": lambda: client.post("/threads", json={"folderId": FOLDER}),
        "ThreadService/Get": lambda: client.get(f"/threads/{thread_id}"),
        "ThreadService/Update": lambda: client.patch(f"/threads/{thread_id}", json={"updateMask": "name"}),
        "ThreadService/Delete": lambda: client.delete(f"/threads/{thread_id}"),
        "ThreadService/List": lambda: client.get("/threads", params={"folderId": FOLDER}),
        "MessageService/Create": lambda: client.post(
            "/messages", json={"threadId": thread_id, "content": text}
        ),
        "MessageService/Get": lambda: client.get(f"/messages/{message_id}", params={"threadId": thread_id}),
        "MessageService/List": lambda: client.get("/messages", params={"threadId": thread_id}),
    }


READ_ROUTES = ("ThreadService/Get", "ThreadService/List", "MessageService/Get", "MessageService/List")
WRITE_ROUTES = (
    "ThreadService/Create",
    "ThreadService/Update",
    "ThreadService/Delete",
    "MessageService/Create",
)
STREAM = "MessageService/List"


def error_of(r: httpx.Response, http: int, code: int, *, stream: bool = False) -> dict[str, Any]:
    """The Status of an error answer: the body itself, or a stream's one ``{"error"}`` line."""
    if not stream:
        return status_of(r, http, code)
    assert r.status_code == http, (r.status_code, r.text)
    (line,) = lines_of(r)
    assert list(line) == ["error"]
    return checked_status(line["error"], code, r.headers["x-request-id"])


def status_of(r: httpx.Response, http: int, code: int) -> dict[str, Any]:
    """The google.rpc.Status of an error answer, checked for its shape: keys in
    declaration order, the request's RequestInfo last, the id ``x-request-id`` has."""
    assert r.status_code == http, (r.status_code, r.text)
    assert r.headers["content-type"] == "application/json"
    body = r.json()
    return checked_status(body, code, r.headers["x-request-id"])


def checked_status(body: Any, code: int, request_id: str) -> dict[str, Any]:
    assert list(body) == ["code", "message", "details"], body
    assert body["code"] == code, body
    assert body["details"][-1] == {"@type": REQUEST_INFO, "request_id": request_id, "serving_data": ""}
    return dict(body)


def violation_of(status: Mapping[str, Any]) -> tuple[str, str]:
    """The one field violation of an INVALID_ARGUMENT, whose words the message repeats."""
    (bad,) = [d for d in status["details"] if d["@type"] == BAD_REQUEST]
    (only,) = bad["field_violations"]
    assert list(only) == ["field", "description", "reason", "localized_message"]
    assert status["message"] == f"Request validation error: {only['field']}: {only['description']}"
    return only["field"], only["description"]


def lines_of(r: httpx.Response) -> list[dict[str, Any]]:
    """A message stream's lines, each one JSON object ending in a newline."""
    assert r.text == "" or r.text.endswith("\n"), r.text
    return [orjson.loads(line) for line in r.text.splitlines()]

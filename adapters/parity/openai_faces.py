"""The OpenAI faces' drivers over httpx: Assistants threads (``/v1/threads``) and
Conversations (``/v1/conversations``).  New threads go to ``--folder`` through the
``OpenAI-Project`` header, so every face works in one folder."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import httpx

from adapters.parity.faces import (
    FaceError,
    NewThreadIntent,
    ThreadChange,
    ThreadView,
    Unreachable,
    Value,
    seconds_time,
)
from adapters.parity.losses import ASSISTANTS, CONVERSATIONS
from adapters.parity.scenario import NeutralMessage

ITEMS_PER_WRITE = 20  # the Conversations face's bound on one write


def call(client: httpx.Client, method: str, url: str, **kw: Any) -> httpx.Response | None:
    """The response of a call that succeeded; None for a 404; FaceError for another refusal."""
    try:
        r = client.request(method, url, **kw)
    except httpx.TransportError as exc:
        raise Unreachable(f"{client.base_url}: {exc}") from None
    if r.status_code in (401, 403):
        raise Unreachable(f"{method} {url}: the server refused the key ({r.status_code}: {r.text[:200]})")
    if r.status_code == 404:
        return None
    if r.status_code >= 400:
        raise FaceError(f"{method} {url}: {r.status_code} {r.text[:300]}")
    return r


def found(client: httpx.Client, method: str, url: str, **kw: Any) -> Any:
    """The JSON of a call whose object must exist."""
    r = call(client, method, url, **kw)
    if r is None:
        raise FaceError(f"{method} {url}: 404, the object was not found")
    return r.json()


class _OpenAIFace:
    name = ""
    collection = ""  # "threads" or "conversations"
    entries = ""  # "messages" or "items"

    def __init__(self, base_url: str, api_key: str, folder: str, page_size: int, **http: Any) -> None:
        headers = {
            "Authorization": f"Bearer {api_key}",
            "OpenAI-Beta": "assistants=v2",
            "OpenAI-Project": folder,
        }
        self.http = httpx.Client(base_url=f"{base_url.rstrip('/')}/v1", headers=headers, **http)
        self.page_size = page_size

    def close(self) -> None:
        self.http.close()

    def delete(self, thread_id: str) -> None:
        found(self.http, "DELETE", f"/{self.collection}/{thread_id}")

    def _pages(self, thread_id: str, order: str) -> Iterator[dict[str, Any]]:
        after: str | None = None
        while True:
            params: dict[str, str | int] = {"order": order, "limit": self.page_size}
            if after:
                params["after"] = after
            page = found(self.http, "GET", f"/{self.collection}/{thread_id}/{self.entries}", params=params)
            yield from page["data"]
            if not page["has_more"]:
                return
            after = page["last_id"]

    def newest_first(self, thread_id: str) -> list[str]:
        return [str(m["id"]) for m in self._pages(thread_id, "desc")]

    def read(self, thread_id: str) -> ThreadView | None:
        r = call(self.http, "GET", f"/{self.collection}/{thread_id}")
        if r is None:
            return None
        obj = r.json()
        fields: dict[str, Value] = {"labels": obj["metadata"], "created_at": seconds_time(obj["created_at"])}
        messages = tuple(self._message(m) for m in self._pages(thread_id, "asc"))
        return ThreadView(fields, messages)

    def _message(self, obj: dict[str, Any]) -> dict[str, Value]:
        raise NotImplementedError


class AssistantsFace(_OpenAIFace):
    name = ASSISTANTS
    collection = "threads"
    entries = "messages"

    @staticmethod
    def _body(m: NeutralMessage) -> dict[str, Any]:
        return {"role": m.role, "content": m.text, "metadata": m.labels}

    def create(self, thread: NewThreadIntent) -> str:
        body = {"metadata": thread.labels, "messages": [self._body(m) for m in thread.messages]}
        return str(found(self.http, "POST", "/threads", json=body)["id"])

    def append(self, thread_id: str, messages: Sequence[NeutralMessage]) -> None:
        for m in messages:
            found(self.http, "POST", f"/threads/{thread_id}/messages", json=self._body(m))

    def update(self, thread_id: str, change: ThreadChange) -> None:
        if change.labels is not None:  # name and description: no such fields
            found(self.http, "POST", f"/threads/{thread_id}", json={"metadata": change.labels})

    def _message(self, obj: dict[str, Any]) -> dict[str, Value]:
        texts = [p["text"]["value"] for p in obj["content"] if p.get("type") == "text"]
        return {
            "id": obj["id"],
            "role": obj["role"],
            "text": "".join(texts),
            "labels": obj["metadata"],
            "created_at": seconds_time(obj["created_at"]),
        }


class ConversationsFace(_OpenAIFace):
    name = CONVERSATIONS
    collection = "conversations"
    entries = "items"

    @staticmethod
    def _item(m: NeutralMessage) -> dict[str, Any]:
        # message labels: items have no metadata (the loss table)
        return {"type": "message", "role": m.role, "content": m.text}

    def create(self, thread: NewThreadIntent) -> str:
        first, rest = thread.messages[:ITEMS_PER_WRITE], thread.messages[ITEMS_PER_WRITE:]
        body = {"metadata": thread.labels, "items": [self._item(m) for m in first]}
        made = str(found(self.http, "POST", "/conversations", json=body)["id"])
        self.append(made, rest)
        return made

    def append(self, thread_id: str, messages: Sequence[NeutralMessage]) -> None:
        for start in range(0, len(messages), ITEMS_PER_WRITE):
            chunk = [self._item(m) for m in messages[start : start + ITEMS_PER_WRITE]]
            found(self.http, "POST", f"/conversations/{thread_id}/items", json={"items": chunk})

    def update(self, thread_id: str, change: ThreadChange) -> None:
        if change.labels is not None:  # name and description: no such fields
            found(self.http, "POST", f"/conversations/{thread_id}", json={"metadata": change.labels})

    def _message(self, obj: dict[str, Any]) -> dict[str, Value]:
        if obj.get("type") != "message":
            raise FaceError(
                f"item {obj.get('id')!r} of type {obj.get('type')!r}: the scenario writes messages only"
            )
        texts = [p.get("text", "") for p in obj["content"] if p.get("type") in ("input_text", "output_text")]
        return {"id": obj["id"], "role": obj["role"], "text": "".join(texts)}

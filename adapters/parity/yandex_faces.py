"""The Yandex REST face's driver (``/assistants/v1``, the protos' JSON transcoding), and
what both Yandex faces write and read in the neutral vocabulary."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import httpx

from adapters.parity.faces import FaceError, NewThreadIntent, ThreadChange, ThreadView, Value, rfc3339_time
from adapters.parity.losses import YANDEX_REST
from adapters.parity.openai_faces import call, found
from adapters.parity.scenario import NeutralMessage


def message_data(m: NeutralMessage) -> dict[str, Any]:
    """A neutral message as the protos' ``MessageData`` (proto field names)."""
    return {
        "author": {"role": m.role.upper()},
        "labels": m.labels,
        "content": {"content": [{"text": {"content": m.text}}]},
    }


def update_paths(change: ThreadChange) -> list[str]:
    """The ``update_mask`` paths of a change (the same in proto and camelCase spelling)."""
    given = {"name": change.name, "description": change.description, "labels": change.labels}
    return [path for path, value in given.items() if value is not None]


def role_of(role: str) -> str:
    """``USER`` / ``ASSISTANT`` in the neutral vocabulary."""
    return role.lower()


class YandexRestFace:
    name = YANDEX_REST

    def __init__(self, base_url: str, api_key: str, folder: str, **http: Any) -> None:
        headers = {"Authorization": f"Api-Key {api_key}"}
        self.http = httpx.Client(base_url=f"{base_url.rstrip('/')}/assistants/v1", headers=headers, **http)
        self.folder = folder

    def close(self) -> None:
        self.http.close()

    def create(self, thread: NewThreadIntent) -> str:
        body = {
            "folder_id": self.folder,
            "name": thread.name,
            "description": thread.description,
            "labels": thread.labels,
            "messages": [message_data(m) for m in thread.messages],
        }
        return str(found(self.http, "POST", "/threads", json=body)["id"])

    def append(self, thread_id: str, messages: Sequence[NeutralMessage]) -> None:
        for m in messages:
            found(self.http, "POST", "/messages", json={"thread_id": thread_id, **message_data(m)})

    def update(self, thread_id: str, change: ThreadChange) -> None:
        body: dict[str, Any] = {"updateMask": ",".join(update_paths(change))}
        for path in update_paths(change):
            body[path] = getattr(change, path)
        found(self.http, "PATCH", f"/threads/{thread_id}", json=body)

    def delete(self, thread_id: str) -> None:
        found(self.http, "DELETE", f"/threads/{thread_id}")

    def _stream(self, thread_id: str) -> list[dict[str, Any]]:
        r = call(self.http, "GET", "/messages", params={"threadId": thread_id})
        if r is None:
            raise FaceError(f"GET /messages?threadId={thread_id}: 404, the thread was not found")
        out = []
        for line in r.content.splitlines():
            obj = json.loads(line)
            if "error" in obj:
                raise FaceError(f"GET /messages: the stream ended with an error: {obj['error']}")
            out.append(obj["result"])
        return out

    def newest_first(self, thread_id: str) -> list[str]:
        return [str(m["id"]) for m in self._stream(thread_id)]

    def read(self, thread_id: str) -> ThreadView | None:
        r = call(self.http, "GET", f"/threads/{thread_id}")
        if r is None:
            return None
        t = r.json()
        fields: dict[str, Value] = {
            "name": t["name"],
            "description": t["description"],
            "labels": t["labels"],
            "created_at": rfc3339_time(t["created_at"]),
            "expires_at": rfc3339_time(t["expires_at"]),
        }
        messages = [
            {
                "id": m["id"],
                "role": role_of(m["author"]["role"]),
                "text": "".join(p["text"]["content"] for p in m["content"]["content"] if p.get("text")),
                "labels": m["labels"],
                "created_at": rfc3339_time(m["created_at"]),
            }
            for m in reversed(self._stream(thread_id))
        ]
        return ThreadView(fields, tuple(messages))

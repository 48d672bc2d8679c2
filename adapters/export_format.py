"""The export record format, version 1: JSON Lines of the neutral model.

A public interface (docs/export-format.md): a header record, then per thread one
``thread`` record followed by its entries (``message`` and ``item`` records) in the
thread's order, then an ``end`` record with the counts.  Times are RFC 3339 in UTC
with microseconds; content parts keep the JSON shapes the SQL backends store
(``adapters/storage/rows.py``).  A reader refuses a header of another version.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson

from adapters.storage.rows import part_from_json, part_to_json
from core.model import (
    Attachment,
    Author,
    Entry,
    ExpirationConfig,
    ExpirationPolicy,
    Item,
    JsonObject,
    Message,
    MessageStatus,
    Role,
    Thread,
    Tool,
)

FORMAT = "threadgate.export"
VERSION = 1
PART_TYPES = frozenset({"text", "image_file", "image_url", "refusal", "file"})


class BadRecord(ValueError):
    """A line that is not a record of this format; ``reason`` is a short code."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


def time_text(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(text: str) -> datetime:
    """RFC 3339 with an offset (``Z`` or ``+hh:mm``), as UTC; ``ValueError`` if not."""
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise ValueError(f"time without an offset: {text!r}")
    return moment.astimezone(UTC)


def header(exported_at: datetime) -> JsonObject:
    return {"format": FORMAT, "version": VERSION, "exported_at": time_text(exported_at)}


def end(threads: int, entries: int) -> JsonObject:
    return {"type": "end", "threads": threads, "entries": entries}


def thread_record(t: Thread) -> JsonObject:
    ci = t.code_interpreter_file_ids
    return {
        "type": "thread",
        "id": t.id,
        "folder_id": t.folder_id,
        "name": t.name,
        "description": t.description,
        "default_message_author_id": t.default_message_author_id,
        "created_by": t.created_by,
        "created_at": time_text(t.created_at),
        "updated_by": t.updated_by,
        "updated_at": time_text(t.updated_at),
        "last_activity_at": time_text(t.last_activity_at),
        "expiration": {"policy": t.expiration.policy.value, "ttl_days": t.expiration.ttl_days},
        "labels": dict(t.labels),
        "tools": [{"kind": x.kind, "spec": x.spec} for x in t.tools],
        "code_interpreter_file_ids": None if ci is None else list(ci),
    }


def entry_record(e: Entry) -> JsonObject:
    if isinstance(e, Item):
        return {
            "type": "item",
            "id": e.id,
            "thread_id": e.thread_id,
            "created_by": e.created_by,
            "created_at": time_text(e.created_at),
            "item_type": e.type,
            "data": e.data,
        }
    return {
        "type": "message",
        "id": e.id,
        "thread_id": e.thread_id,
        "created_by": e.created_by,
        "created_at": time_text(e.created_at),
        "author": {"id": e.author.id, "role": e.author.role.value},
        "content": [part_to_json(p) for p in e.content],
        "labels": dict(e.labels),
        "status": e.status.value,
        "attachments": [{"file_id": a.file_id, "tools": list(a.tools)} for a in e.attachments],
        "run_id": e.run_id,
        "phase": e.phase,
    }


def encode(record: JsonObject) -> bytes:
    return orjson.dumps(record) + b"\n"


def _get(d: Any, key: str, kind: type | tuple[type, ...]) -> Any:
    if not isinstance(d, dict):
        raise BadRecord("bad_field", "expected an object")
    if key not in d:
        raise BadRecord("missing_field", key)
    value = d[key]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise BadRecord("bad_field", key)
    return value


def _strings(d: Any, key: str) -> dict[str, str]:
    value: dict[str, str] = _get(d, key, dict)
    if not all(isinstance(v, str) for v in value.values()):
        raise BadRecord("bad_field", key)
    return value


def _time(d: Any, key: str) -> datetime:
    try:
        return parse_time(_get(d, key, str))
    except ValueError:
        raise BadRecord("bad_field", key) from None


def _enum(d: Any, key: str, kind: Any) -> Any:
    try:
        return kind(_get(d, key, str))
    except ValueError:
        raise BadRecord("bad_field", key) from None


def decode(line: bytes) -> JsonObject:
    try:
        record = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        raise BadRecord("malformed_json", str(exc)) from None
    if not isinstance(record, dict):
        raise BadRecord("malformed_json", "a record is a JSON object")
    return record


def check_header(record: JsonObject) -> None:
    if record.get("format") != FORMAT:
        raise BadRecord("not_an_export", f"the first line is no {FORMAT} header")
    if record.get("version") != VERSION:
        raise BadRecord("unsupported_version", f"version {record.get('version')!r}; this reads {VERSION}")


def thread_from(r: JsonObject) -> Thread:
    expiration = _get(r, "expiration", dict)
    ci = r.get("code_interpreter_file_ids")
    if ci is not None and not (isinstance(ci, list) and all(isinstance(i, str) for i in ci)):
        raise BadRecord("bad_field", "code_interpreter_file_ids")
    tools = _get(r, "tools", list)
    return Thread(
        id=_get(r, "id", str),
        folder_id=_get(r, "folder_id", str),
        name=_get(r, "name", str),
        description=_get(r, "description", str),
        default_message_author_id=_get(r, "default_message_author_id", str),
        created_by=_get(r, "created_by", str),
        created_at=_time(r, "created_at"),
        updated_by=_get(r, "updated_by", str),
        updated_at=_time(r, "updated_at"),
        last_activity_at=_time(r, "last_activity_at"),
        expiration=ExpirationConfig(
            policy=_enum(expiration, "policy", ExpirationPolicy), ttl_days=_get(expiration, "ttl_days", int)
        ),
        labels=_strings(r, "labels"),
        tools=tuple(Tool(kind=_get(x, "kind", str), spec=_get(x, "spec", dict)) for x in tools),
        code_interpreter_file_ids=None if ci is None else tuple(str(i) for i in ci),
    )


def _optional(r: JsonObject, key: str) -> str | None:
    value = r.get(key)
    if value is not None and not isinstance(value, str):
        raise BadRecord("bad_field", key)
    return value


def entry_from(r: JsonObject) -> Entry:
    common = {
        "id": _get(r, "id", str),
        "thread_id": _get(r, "thread_id", str),
        "created_by": _get(r, "created_by", str),
        "created_at": _time(r, "created_at"),
    }
    if r.get("type") == "item":
        return Item(**common, type=_get(r, "item_type", str), data=_get(r, "data", dict))
    author = _get(r, "author", dict)
    parts = _get(r, "content", list)
    for p in parts:
        if _get(p, "type", str) not in PART_TYPES:
            raise BadRecord("unknown_part_type", str(p["type"]))
    try:
        content = tuple(part_from_json(p) for p in parts)
    except (KeyError, TypeError) as exc:
        raise BadRecord("bad_field", f"content: {exc}") from None
    attachments = tuple(
        Attachment(file_id=_get(a, "file_id", str), tools=tuple(_get(a, "tools", list)))
        for a in _get(r, "attachments", list)
    )
    return Message(
        **common,
        author=Author(id=_get(author, "id", str), role=_enum(author, "role", Role)),
        content=content,
        labels=_strings(r, "labels"),
        status=_enum(r, "status", MessageStatus),
        attachments=attachments,
        run_id=_optional(r, "run_id"),
        phase=_optional(r, "phase"),
    )

"""Conversations items on the wire: the write shapes a client sends (Responses input
items) into core entries, and core entries into the stored ``ConversationItem`` union.

Messages map onto core messages; every other item type is kept as data.  Only what
the server must understand is checked here: the JSON shape of a message and which
part types go with which role.  The rules on values are the core's.
"""

from __future__ import annotations

from typing import Any

from adapters.openai.requests import BadRequest
from core.entries import NewEntry, NewItem, NewMessage
from core.model import (
    FILE_PART_FIELDS,
    ContentPart,
    Entry,
    FilePart,
    ImageFilePart,
    ImageUrlPart,
    Item,
    JsonObject,
    Message,
    MessageStatus,
    RefusalPart,
    Role,
    TextPart,
    Thread,
)

_ROLES = {r.value: r for r in Role}
_STATUSES = {s.value: s for s in MessageStatus}
_INPUT_PARTS = ("input_text", "input_image", "input_file")
_OUTPUT_PARTS = ("output_text", "refusal")
_IMAGE_DETAILS = ("low", "high", "auto", "original")
_MESSAGE_KEYS = frozenset({"type", "role", "content", "id", "status", "phase"})
# a field of OpenAI's input parts that the store does not keep (a prompt caching hint)
_CACHE_HINT = "prompt_cache_breakpoint"
_PART_KEYS = {
    "input_text": frozenset({"type", "text", _CACHE_HINT}),
    "output_text": frozenset({"type", "text", "annotations", "logprobs"}),
    "refusal": frozenset({"type", "refusal"}),
    "input_image": frozenset({"type", "image_url", "file_id", "detail", _CACHE_HINT}),
    "input_file": frozenset({"type", "file_id", "filename", "file_data", "file_url", "detail", _CACHE_HINT}),
}


def _choices(values: tuple[str, ...]) -> str:
    quoted = [f"'{v}'" for v in values]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " and " + quoted[-1]


def _invalid_value(value: Any, allowed: tuple[str, ...], param: str) -> BadRequest:
    shown = str(value)[:64]
    return BadRequest(
        f"Invalid value: '{shown}'. Supported values are: {_choices(allowed)}.", param, "invalid_value"
    )


def _type_error(param: str, expected: str) -> BadRequest:
    return BadRequest(f"Invalid type for '{param}': expected {expected}.", param, "invalid_type")


def _string(obj: dict[str, Any], key: str, path: str, *, required: bool = False) -> str | None:
    value = obj.get(key)
    if value is None:
        if required:
            raise BadRequest(
                f"Missing required parameter: '{path}.{key}'.", f"{path}.{key}", "missing_required_parameter"
            )
        return None
    if not isinstance(value, str):
        raise _type_error(f"{path}.{key}", "a string")
    return value


def _objects(obj: dict[str, Any], key: str, path: str) -> tuple[JsonObject, ...]:
    value = obj.get(key)
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise _type_error(f"{path}.{key}", "an array of objects")
    return tuple(value)


def _check_keys(obj: dict[str, Any], allowed: frozenset[str], path: str) -> None:
    for key in obj:
        if key not in allowed:
            raise BadRequest(f"Unknown parameter: '{path}.{key}'.", f"{path}.{key}", "unknown_parameter")


def part_to_core(obj: Any, role: Role, path: str) -> ContentPart:
    if not isinstance(obj, dict):
        raise _type_error(path, "an object")
    kind = obj.get("type")
    allowed = _OUTPUT_PARTS if role is Role.ASSISTANT else _INPUT_PARTS
    if kind not in allowed:
        # OpenAI's answer to an assistant turn replayed with input_text
        raise _invalid_value(kind, allowed, f"{path}.type" if kind is None else path)
    _check_keys(obj, _PART_KEYS[str(kind)], path)
    if kind in ("input_text", "output_text"):
        text = _string(obj, "text", path, required=True) or ""
        return TextPart(text, _objects(obj, "annotations", path), _objects(obj, "logprobs", path))
    if kind == "refusal":
        return RefusalPart(_string(obj, "refusal", path, required=True) or "")
    if kind == "input_image":
        detail = _string(obj, "detail", path) or "auto"
        if detail not in _IMAGE_DETAILS:
            raise _invalid_value(detail, _IMAGE_DETAILS, f"{path}.detail")
        url, file_id = _string(obj, "image_url", path), _string(obj, "file_id", path)
        if (url is None) == (file_id is None):
            raise BadRequest(
                f"Invalid '{path}': give exactly one of 'image_url' and 'file_id'.", path, "invalid_value"
            )
        return ImageUrlPart(url, detail) if url is not None else ImageFilePart(file_id or "", detail)
    return FilePart(
        file_id=_string(obj, "file_id", path),
        filename=_string(obj, "filename", path),
        file_data=_string(obj, "file_data", path),
        file_url=_string(obj, "file_url", path),
        detail=_string(obj, "detail", path),
    )


def message_to_core(obj: dict[str, Any], path: str) -> NewMessage:
    _check_keys(obj, _MESSAGE_KEYS, path)
    role_name = obj.get("role")
    role = _ROLES.get(role_name) if isinstance(role_name, str) else None
    if role is None:
        if role_name is None:
            raise BadRequest(
                f"Missing required parameter: '{path}.role'.", f"{path}.role", "missing_required_parameter"
            )
        raise _invalid_value(role_name, tuple(_ROLES), f"{path}.role")
    content = obj.get("content")
    if isinstance(content, str):
        parts: tuple[ContentPart, ...] = (TextPart(content),)
    elif isinstance(content, list):
        parts = tuple(part_to_core(p, role, f"{path}.content[{i}]") for i, p in enumerate(content))
    elif content is None:
        raise BadRequest(
            f"Missing required parameter: '{path}.content'.", f"{path}.content", "missing_required_parameter"
        )
    else:
        raise _type_error(f"{path}.content", "a string or an array")
    status_name = obj.get("status")
    status = _STATUSES.get(status_name) if isinstance(status_name, str) else None
    if status_name is not None and status is None:
        raise _invalid_value(status_name, tuple(_STATUSES), f"{path}.status")
    return NewMessage(
        content=parts,
        role=role,
        id=_string(obj, "id", path),
        status=status or MessageStatus.COMPLETED,
        phase=_string(obj, "phase", path),
    )


def entry_to_core(obj: Any, path: str) -> NewEntry:
    """One input item: a message (``type`` may be left out) or any other type, kept as data."""
    if not isinstance(obj, dict):
        raise _type_error(path, "an object")
    kind = obj.get("type")
    if kind == "message" or (kind is None and "role" in obj):
        return message_to_core(obj, path)
    if kind is None:
        raise BadRequest(
            f"Missing required parameter: '{path}.type'.", f"{path}.type", "missing_required_parameter"
        )
    if not isinstance(kind, str):
        raise _type_error(f"{path}.type", "a string")
    data = {k: v for k, v in obj.items() if k not in ("id", "type")}
    return NewItem(type=kind, data=data, id=_string(obj, "id", path))


def entries_to_core(value: Any, path: str = "items") -> list[NewEntry]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise _type_error(path, "an array")
    return [entry_to_core(v, f"{path}[{i}]") for i, v in enumerate(value)]


# -- core -> JSON ------------------------------------------------------------------


def part_json(part: ContentPart, role: Role) -> dict[str, Any]:
    if isinstance(part, TextPart):
        if role is Role.ASSISTANT:
            return {
                "type": "output_text",
                "text": part.text,
                "annotations": list(part.annotations),
                "logprobs": list(part.logprobs),
            }
        return {"type": "input_text", "text": part.text}
    if isinstance(part, ImageUrlPart):
        return {"type": "input_image", "detail": part.detail, "image_url": part.url, "file_id": None}
    if isinstance(part, ImageFilePart):
        return {"type": "input_image", "detail": part.detail, "image_url": None, "file_id": part.file_id}
    if isinstance(part, RefusalPart):
        return {"type": "refusal", "refusal": part.refusal}
    out: dict[str, Any] = {"type": "input_file", "file_id": part.file_id}
    for name in FILE_PART_FIELDS[1:]:  # file_id is always printed
        value = getattr(part, name)
        if value is not None:
            out[name] = value
    return out


def _message_json(message: Message) -> dict[str, Any]:
    role = message.author.role
    out: dict[str, Any] = {
        "type": "message",
        "id": message.id,
        "status": message.status._value_,
        "role": role._value_,
        "content": [part_json(p, role) for p in message.content],
    }
    if message.phase is not None:
        out["phase"] = message.phase
    return out


def _item_json(item: Item) -> dict[str, Any]:
    return {"type": item.type, "id": item.id, **item.data}


def entry_json(entry: Entry) -> dict[str, Any]:
    return _message_json(entry) if isinstance(entry, Message) else _item_json(entry)


def item_list_json(entries: list[Entry], has_more: bool) -> dict[str, Any]:
    """A ``ConversationItemList``: ``first_id`` and ``last_id`` are always strings (the
    SDK's pager follows ``last_id``; an empty page has ``""``)."""
    data = [entry_json(e) for e in entries]
    return {
        "object": "list",
        "data": data,
        "first_id": data[0]["id"] if data else "",
        "last_id": data[-1]["id"] if data else "",
        "has_more": has_more,
    }


def conversation_json(thread: Thread) -> dict[str, Any]:
    return {
        "id": thread.id,
        "object": "conversation",
        "created_at": int(thread.created_at.timestamp()),
        "metadata": dict(thread.labels),
    }

"""The Yandex faces' words for core errors, with proto field names.

The core says what is wrong (``core/errors.py``: a code, a field path, parameters);
this table says it in the terse ``<field>: <problem>`` style of Yandex Cloud's
validation errors.  The OpenAI faces have their own table (``adapters/openai/errors.py``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from core.errors import DomainError, InvalidArgument, NotFound, ResourceExhausted, Unavailable, shorten

_CONTENT_PART = re.compile(r"(^|\.)content\[(\d+)\]")


def grpc_field(field: str) -> str:
    """A core field path in the Yandex request's terms (content parts sit in content.content)."""
    return _CONTENT_PART.sub(r"\1content.content[\2]", field)


def _one_of(allowed: Any) -> str:
    return ", ".join(str(a) for a in allowed)


_WORDS: dict[str, Callable[[Mapping[str, Any]], str]] = {
    "missing_required_parameter": lambda _: "a value is required",
    "string_above_max_length": lambda v: (
        f"too long: {v['length']} characters, at most {v['maximum']} allowed"
    ),
    "property_name_above_max_length": lambda v: (
        f"key too long: {v['length']} characters, at most {v['maximum']} allowed"
    ),
    "object_above_max_properties": lambda v: (
        f"too many entries: {v['count']}, at most {v['maximum']} allowed"
    ),
    "array_above_max_length": lambda v: f"too many elements: {v['length']}, at most {v['maximum']} allowed",
    "empty_array": lambda _: "at least one element is required",
    "integer_below_min_value": lambda v: f"must be at least {v['minimum']}, got {v['value']}",
    "integer_above_max_value": lambda v: f"must be at most {v['maximum']}, got {v['value']}",
    "ttl_out_of_range": lambda v: f"must be from 1 to {v['maximum']} days, got {v['value']}",
    "content_too_large": lambda v: f"content too large: {v['size']} bytes of UTF-8, at most {v['maximum']}",
    "tools_too_large": lambda v: f"tool settings too large: about {v['size']} bytes, at most {v['maximum']}",
    "nul_character": lambda _: "the NUL character (U+0000) is not allowed",
    "invalid_value": lambda v: (
        f"invalid value '{shorten(str(v['value']))}', expected one of: {_one_of(v['allowed'])}"
        if "allowed" in v
        else f"invalid value '{shorten(str(v.get('value', '')))}'"
    ),
    "invalid_field_mask": lambda v: (
        f"invalid path '{shorten(v['path'])}', updatable paths are: {_one_of(v['allowed'])}"
    ),
    "invalid_page_token": lambda _: "invalid page token",
    "invalid_cursor": lambda v: f"no message with id '{shorten(v['id'])}' in this thread",
    "not_an_id": lambda _: "not an id",
    "undecodable_request": lambda _: "the request could not be decoded",
    "tool_kind_missing": lambda _: "a tool needs one of search_index, function or gen_search",
    "tool_not_json": lambda _: "tool settings must be plain JSON data (no NaN or infinite numbers)",
    "idempotency_key_reused": lambda v: (
        f"the idempotency key '{shorten(v['key'])}' was already used for a different request"
    ),
    "invalid_idempotency_key": lambda v: f"must be 1 to {v['maximum']} characters",
}


_OUTCOMES = {
    "nothing_changed": "The thread store is unavailable; nothing was changed, retry later",
    "outcome_unknown": (
        "The thread store failed while committing; the request may or may not have been stored. "
        "Check before retrying, or send it with an idempotency-key"
    ),
    "retry_with_same_key": (
        "The thread store failed while committing; retry with the same idempotency-key: "
        "if it was stored, the retry returns it"
    ),
}


def field_problem(exc: InvalidArgument) -> str:
    words = _WORDS.get(exc.code)
    return words(exc.params) if words else "invalid value"


def message_of(exc: DomainError) -> str:
    """The status message for any core error."""
    if isinstance(exc, NotFound):
        return f"{exc.resource.capitalize()} {shorten(exc.resource_id)} not found"
    if isinstance(exc, InvalidArgument):
        return f"Request validation error: {grpc_field(exc.field)}: {field_problem(exc)}"
    if isinstance(exc, ResourceExhausted):
        return f"Quota limit {exc.limit_name} exceeded: at most {exc.limit}"
    if isinstance(exc, Unavailable):
        return _OUTCOMES.get(exc.outcome, _OUTCOMES["nothing_changed"])
    if exc.code == "missing_key":
        return "Authentication required: no API key or IAM token was provided"
    if exc.code == "invalid_key":
        return "The API key is not valid"
    if exc.code == "folder_denied":
        return f"Permission denied to folder {shorten(str(exc.params['folder']))}"
    if exc.code == "role_required":
        return f"Permission denied: the '{exc.params['role']}' role is required"
    return str(exc)

"""Core errors rendered as OpenAI error bodies: ``{"error": {message, type, param, code}}``.

The one table from domain error kind to HTTP status, and OpenAI's wording for every
core error code, live here; the core only says what is wrong (``core/errors.py``).
Errors that a retry cannot fix carry ``x-should-retry: false`` so the openai SDK
does not resend them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

import orjson
from starlette.responses import Response

from core.errors import (
    DomainError,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    ResourceExhausted,
    Unauthenticated,
    Unavailable,
    shorten,
)

# field names of the core that OpenAI spells differently
_PARAM_NAMES = {"labels": "metadata", "code_interpreter_file_ids": "tool_resources.code_interpreter.file_ids"}
_LABELS = re.compile(r"(^|\.)labels(?=\.|$)")


def openai_param(field: str) -> str:
    """A core field path in OpenAI's names (``messages[2].labels.k`` -> ``messages[2].metadata.k``)."""
    head, sep, rest = field.partition(".")
    if head in _PARAM_NAMES:
        return _PARAM_NAMES[head] + sep + rest
    return _LABELS.sub(r"\1metadata", field)


def _choices(allowed: Any) -> str:
    quoted = [f"'{a}'" for a in allowed]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " and " + quoted[-1]


# OpenAI's own phrasing where it is known (openai-threads.md), the same style elsewhere
_WORDS: dict[str, Callable[[str, Mapping[str, Any]], str]] = {
    "missing_required_parameter": lambda p, _: f"Missing required parameter: '{p}'.",
    "string_above_max_length": lambda p, v: (
        f"Invalid '{p}': string too long. Expected a string with maximum length {v['maximum']}, "
        f"but got a string with length {v['length']} instead."
    ),
    "property_name_above_max_length": lambda p, v: (
        f"Invalid property name in '{p.rsplit('.', 1)[0]}': '{shorten(v['key'])}' is too long. Expected a "
        f"string with maximum length {v['maximum']}, but got a string with length {v['length']} instead."
    ),
    "object_above_max_properties": lambda p, v: (
        f"Invalid '{p}': too many properties. Expected an object with at most {v['maximum']} "
        f"properties, but got an object with {v['count']} properties instead."
    ),
    "array_above_max_length": lambda p, v: (
        f"Invalid '{p}': array too long. Expected an array with maximum length {v['maximum']}, "
        f"but got an array with length {v['length']} instead."
    ),
    "empty_array": lambda p, _: f"Invalid '{p}': a message needs at least one content part.",
    "integer_below_min_value": lambda p, v: (
        f"Invalid '{p}': integer below minimum value. Expected a value >= {v['minimum']}, "
        f"but got {v['value']} instead."
    ),
    "integer_above_max_value": lambda p, v: (
        f"Invalid '{p}': integer above maximum value. Expected a value <= {v['maximum']}, "
        f"but got {v['value']} instead."
    ),
    "ttl_out_of_range": lambda p, v: (
        f"Invalid '{p}': expected a whole number of days from 1 to {v['maximum']}, but got {v['value']}."
    ),
    "content_too_large": lambda p, v: (
        f"Invalid '{p}': the message content is too large. Expected at most {v['maximum']} bytes "
        f"of content in UTF-8, but got {v['size']} bytes instead."
    ),
    "tools_too_large": lambda p, v: (
        f"Invalid '{p}': the tools' settings are too large. Expected at most {v['maximum']} bytes, "
        f"but got about {v['size']} bytes instead."
    ),
    "nul_character": lambda p, _: f"Invalid '{p}': the NUL character is not allowed.",
    "invalid_value": lambda p, v: (
        f"Invalid value: '{shorten(str(v['value']))}'. Supported values are: {_choices(v['allowed'])}."
        if "allowed" in v
        else f"Invalid value for '{p}'."
    ),
    "invalid_field_mask": lambda p, v: f"Invalid field mask path: '{shorten(v['path'])}'.",
    "invalid_page_token": lambda p, _: "Invalid page token.",
    "invalid_cursor": lambda p, v: f"Invalid '{p}': no entry with id '{shorten(v['id'])}' here.",
    "duplicate_id": lambda p, v: (
        f"Duplicate item found with id '{shorten(v['id'])}'. Remove duplicate items from your input "
        "and try again."
    ),
    "part_not_for_role": lambda p, v: (
        f"Invalid '{p}': a message with role '{v['role']}' cannot hold "
        f"{'a refusal' if v['part'] == 'refusal' else 'an input_file'} part."
    ),
    "invalid_item_type": lambda p, v: f"Invalid '{p}': '{shorten(v['value'])}' is not an item type.",
    "input_only_item": lambda p, v: (
        f"Invalid '{p}': '{shorten(v['value'])}' items cannot be stored in a conversation."
    ),
    "item_too_large": lambda p, v: (
        f"Invalid '{p}': the item is too large. Expected at most {v['maximum']} bytes, "
        f"but got about {v['size']} bytes instead."
    ),
    "empty_string": lambda p, _: (
        f"Invalid '{p}': empty string. Expected a string with minimum length 1, "
        "but got an empty string instead."
    ),
    "invalid_type": lambda p, v: f"Invalid type for '{p}': expected a {v.get('expected', 'value')}.",
    "not_an_id": lambda p, _: f"Invalid '{p}': not an id.",
    "idempotency_key_reused": lambda p, v: (
        f"The idempotency key '{shorten(v['key'])}' was already used for a different request."
    ),
    "invalid_idempotency_key": lambda p, v: f"An idempotency key must be 1 to {v['maximum']} characters.",
}


# core codes OpenAI has no name of its own for: its generic ones
_OPENAI_CODES = {
    "nul_character": "invalid_value",
    "property_name_above_max_length": "string_above_max_length",
    "not_an_id": "invalid_value",
    "invalid_idempotency_key": "invalid_value",
    "part_not_for_role": "invalid_value",
    "invalid_item_type": "invalid_value",
    "input_only_item": "invalid_value",
}


def invalid_argument_message(exc: InvalidArgument, param: str) -> str:
    words = _WORDS.get(exc.code)
    return words(param, exc.params) if words else f"Invalid value for '{param}'."


def error_response(
    status: int,
    message: str,
    *,
    type_: str = "invalid_request_error",
    param: str | None = None,
    code: str | None = None,
    retry: bool = False,
    headers: dict[str, str] | None = None,
) -> Response:
    body: dict[str, Any] = {"error": {"message": message, "type": type_, "param": param, "code": code}}
    all_headers = {"x-should-retry": "true" if retry else "false", **(headers or {})}
    return Response(
        orjson.dumps(body), status_code=status, media_type="application/json", headers=all_headers
    )


_NO_KEY = (
    "You didn't provide an API key. You need to provide your API key in an Authorization header "
    "using Bearer auth (i.e. Authorization: Bearer YOUR_KEY)."
)


_OUTCOMES = {
    "nothing_changed": "The thread store is unavailable right now and nothing was changed; please retry.",
    "outcome_unknown": (
        "The thread store failed while committing this request, so it may or may not have been "
        "stored. Check before sending it again, or send it with an idempotency key."
    ),
    "retry_with_same_key": (
        "The thread store failed while committing this request; retry it with the same "
        "idempotency key: if it was stored, the retry returns it."
    ),
}


def unavailable_response(exc: Unavailable) -> Response:
    """503; ``x-should-retry: true`` and ``Retry-After: 1`` only when a retry is safe
    (a write whose commit failed, without an idempotency key, may have been stored)."""
    message = _OUTCOMES.get(exc.outcome, _OUTCOMES["nothing_changed"])
    if exc.retry_safe:
        return error_response(
            503, message, type_="server_error", code=exc.code, retry=True, headers={"retry-after": "1"}
        )
    return error_response(503, message, type_="server_error", code=exc.code)


def domain_error_response(exc: DomainError, nouns: Mapping[str, str] | None = None) -> Response:
    """``nouns`` renames the core's resources (``thread`` is a ``conversation`` on the
    Conversations routes)."""
    names = nouns or {}
    if isinstance(exc, Unavailable):
        return unavailable_response(exc)
    if isinstance(exc, NotFound):
        noun = names.get(exc.resource, exc.resource)
        return error_response(404, f"No {noun} found with id '{shorten(exc.resource_id)}'.")
    if isinstance(exc, InvalidArgument):
        param = openai_param(exc.field)
        code = _OPENAI_CODES.get(exc.code, exc.code)
        return error_response(400, invalid_argument_message(exc, param), param=param, code=code)
    if isinstance(exc, Unauthenticated):
        bearer = {"www-authenticate": "Bearer"}
        if exc.code == "missing_key":
            return error_response(401, _NO_KEY, headers=bearer)
        return error_response(401, "Incorrect API key provided.", code="invalid_api_key", headers=bearer)
    if isinstance(exc, PermissionDenied):
        if exc.code == "folder_denied":
            return error_response(403, f"You have no access to project '{shorten(exc.params['folder'])}'.")
        return error_response(403, f"This operation needs the '{exc.params.get('role')}' role.")
    if isinstance(exc, ResourceExhausted):
        # a hard limit, not a rate limit: 400 so the SDK does not retry it
        message = (
            f"The {names.get('thread', 'thread')} already holds the maximum of {exc.limit} "
            f"{names.get('message', 'message')}s."
        )
        return error_response(400, message, code=exc.limit_name + "_exceeded")
    if isinstance(exc, FailedPrecondition):
        return error_response(400, str(exc), code=exc.code)
    return error_response(400, str(exc), code=exc.code)

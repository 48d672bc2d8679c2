"""Core errors rendered as OpenAI error bodies: ``{"error": {message, type, param, code}}``.

The one table from domain error kind to HTTP status lives here.  Errors that a
retry cannot fix carry ``x-should-retry: false`` so the openai SDK does not
resend them; a store outage is a 503 that invites a retry only when the store
says a retry cannot store anything twice.
"""

from __future__ import annotations

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
)

# field names of the core that OpenAI spells differently
_PARAM_NAMES = {"labels": "metadata"}


def openai_param(field: str) -> str:
    head, sep, rest = field.partition(".")
    if "[" in head:
        return field
    return _PARAM_NAMES.get(head, head) + sep + rest


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


def unavailable_response(exc: Unavailable) -> Response:
    """503; ``x-should-retry: true`` and ``Retry-After: 1`` only when a retry is safe
    (a write whose commit failed, without an idempotency key, may have been stored)."""
    if exc.retry_safe:
        return error_response(
            503, exc.message, type_="server_error", code=exc.reason, retry=True, headers={"retry-after": "1"}
        )
    return error_response(503, exc.message, type_="server_error", code=exc.reason)


def domain_error_response(exc: DomainError) -> Response:
    if isinstance(exc, Unavailable):
        return unavailable_response(exc)
    if isinstance(exc, NotFound):
        return error_response(404, exc.message)
    if isinstance(exc, InvalidArgument):
        param = openai_param(exc.field)
        message = exc.message.replace("'labels", "'metadata").replace("in 'labels'", "in 'metadata'")
        return error_response(400, message, param=param, code=exc.code)
    if isinstance(exc, Unauthenticated):
        if exc.reason == "missing":
            return error_response(
                401,
                "You didn't provide an API key. You need to provide your API key in an "
                "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
                headers={"www-authenticate": "Bearer"},
            )
        return error_response(
            401, "Incorrect API key provided.", code="invalid_api_key", headers={"www-authenticate": "Bearer"}
        )
    if isinstance(exc, PermissionDenied):
        return error_response(403, exc.message)
    if isinstance(exc, ResourceExhausted):
        # a hard limit, not a rate limit: 400 so the SDK does not retry it
        return error_response(400, exc.message, code=exc.limit_name + "_exceeded")
    if isinstance(exc, FailedPrecondition):
        return error_response(400, exc.message)
    return error_response(400, exc.message)

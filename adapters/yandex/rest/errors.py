"""``google.rpc.Status`` over HTTP: the gRPC code -> HTTP status table, the Status as JSON
(``{"code", "message", "details"}``, or ``{"error": <Status>}`` as a line of the message
stream), and the face's own refusals of what it cannot read (a body, a query, a route).

Every Status sent carries a ``google.rpc.RequestInfo`` whose ``request_id`` is the
response's ``x-request-id``.  Core errors get their Status from ``yandex/status.py``, the
same table the gRPC face uses.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import orjson
from google.rpc import code_pb2, error_details_pb2, status_pb2
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Match
from starlette.types import ASGIApp, Receive, Scope, Send

from adapters.body_limits import CLIENT_CLOSED_REQUEST, BodyTimeout, BodyTooLarge, Unsent
from adapters.yandex.rest.transcoding import FieldError, json_line, to_json
from adapters.yandex.status import INTERNAL, invalid_argument_status, pack, to_status
from core.errors import DomainError

log = logging.getLogger("threadgate.yandex_rest")
Endpoint = Callable[[Request], Awaitable[Response]]

# google.rpc.Code -> HTTP status, as grpc-gateway's HTTPStatusFromCode and Yandex's docs
# have it.  UNKNOWN is what a store failure whose write may have committed is (status.py):
# 500, not 503, since 503 is what HTTP clients and proxies retry on their own.
HTTP_STATUS = {
    code_pb2.OK: 200,
    code_pb2.CANCELLED: 499,
    code_pb2.UNKNOWN: 500,
    code_pb2.INVALID_ARGUMENT: 400,
    code_pb2.DEADLINE_EXCEEDED: 504,
    code_pb2.NOT_FOUND: 404,
    code_pb2.ALREADY_EXISTS: 409,
    code_pb2.PERMISSION_DENIED: 403,
    code_pb2.RESOURCE_EXHAUSTED: 429,
    code_pb2.FAILED_PRECONDITION: 400,
    code_pb2.ABORTED: 409,
    code_pb2.OUT_OF_RANGE: 400,
    code_pb2.UNIMPLEMENTED: 501,
    code_pb2.INTERNAL: 500,
    code_pb2.UNAVAILABLE: 503,
    code_pb2.DATA_LOSS: 500,
    code_pb2.UNAUTHENTICATED: 401,
}
# the challenge of a 401: both schemes the face takes
CHALLENGE = "Bearer, Api-Key"


def http_status(status: status_pb2.Status) -> int:
    return HTTP_STATUS.get(status.code, 500)


def status_json(status: status_pb2.Status, request_id: str) -> dict[str, Any]:
    """The Status with the request's ``RequestInfo`` added, as JSON."""
    sent = status_pb2.Status()
    sent.CopyFrom(status)
    sent.details.append(pack(error_details_pb2.RequestInfo(request_id=request_id)))
    return to_json(sent)


def error_response(
    status: status_pb2.Status,
    request_id: str,
    *,
    stream: bool = False,
    http: int | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """The Status as a response: the body itself, or one ``{"error": …}`` line (the message
    stream's shape); the HTTP status from the table unless ``http`` says otherwise."""
    body = status_json(status, request_id)
    content = json_line({"error": body}) if stream else orjson.dumps(body)
    sent = dict(headers or {})
    if status.code == code_pb2.UNAUTHENTICATED:
        sent["www-authenticate"] = CHALLENGE
    if status.code == code_pb2.UNAVAILABLE:
        sent["retry-after"] = "1"  # as the Status's RetryInfo says
    return Response(content, http or http_status(status), headers=sent, media_type="application/json")


def error_line(status: status_pb2.Status, request_id: str) -> bytes:
    """The last line of a message stream that failed after its first message."""
    return json_line({"error": status_json(status, request_id)})


def field_status(error: FieldError) -> status_pb2.Status:
    """A request field the face cannot read, worded as the core's validation errors are."""
    return invalid_argument_status(
        error.field, error.description, f"Request validation error: {error.field}: {error.description}"
    )


def too_large_status(limit: int) -> status_pb2.Status:
    return field_status(FieldError("body", f"too large: at most {limit} bytes are accepted"))


def timed_out_status(seconds: float) -> status_pb2.Status:
    return field_status(FieldError("body", f"not received within {seconds:g} seconds"))


# -- exceptions as answers ----------------------------------------------------------------

NOT_FOUND = status_pb2.Status(code=code_pb2.NOT_FOUND, message="Not Found")
METHOD_NOT_ALLOWED = status_pb2.Status(code=code_pb2.UNIMPLEMENTED, message="Method Not Allowed")


def request_id_of(request: Request) -> str:
    return str(getattr(request.state, "request_id", ""))


def refusal(request: Request, exc: Exception, *, stream: bool) -> Response:
    """Any exception of a route, as its answer; the message stream answers in lines."""
    rid = request_id_of(request)
    if isinstance(exc, ClientDisconnect):
        request.state.outcome = CLIENT_CLOSED_REQUEST
        return Unsent()
    if isinstance(exc, FieldError):
        return error_response(field_status(exc), rid, stream=stream)
    if isinstance(exc, DomainError):
        return error_response(to_status(exc), rid, stream=stream)
    if isinstance(exc, BodyTooLarge):
        status = too_large_status(exc.limit)
        return error_response(status, rid, http=413, headers={"connection": "close"})
    if isinstance(exc, BodyTimeout):
        status = timed_out_status(exc.seconds)
        return error_response(status, rid, headers={"connection": "close"})
    log.exception("unhandled error in %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(INTERNAL, rid, stream=stream)


def answered(rpc: str, fn: Endpoint, *, stream: bool = False) -> Endpoint:
    """``fn`` with every exception turned into its answer, named for metrics as ``rpc``."""

    @functools.wraps(fn)
    async def endpoint(request: Request) -> Response:
        try:
            return await fn(request)
        except Exception as exc:
            return refusal(request, exc, stream=stream)

    endpoint.__name__ = endpoint.__qualname__ = rpc
    return endpoint


async def routing_error(request: Request, exc: Exception) -> Response:
    """An unknown path (404) or a method the path does not serve (405, with ``Allow``),
    as a Status like every other error of the face."""
    assert isinstance(exc, HTTPException)
    if exc.status_code != 405:
        return error_response(NOT_FOUND, request_id_of(request), http=404)
    allowed = set()
    for route in request.app.router.routes:
        for method in getattr(route, "methods", None) or ():
            if route.matches({**request.scope, "method": method})[0] is Match.FULL:
                allowed.add(method)
    headers = {"allow": ", ".join(sorted(allowed))}
    return error_response(METHOD_NOT_ALLOWED, request_id_of(request), http=405, headers=headers)


def too_large(limit: int) -> ASGIApp:
    async def refuse(
        scope: Scope,
        receive: Receive,
        send: Send,
    ) -> None:
        rid = str(scope.get("state", {}).get("request_id", ""))
        response = error_response(too_large_status(limit), rid, http=413, headers={"connection": "close"})
        await response(scope, receive, send)

    return refuse

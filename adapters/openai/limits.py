"""The OpenAI face's words for the body limits (``adapters/body_limits.py``).

* A body over the cap is a 413 ``request_too_large`` (a declared ``Content-Length`` is
  refused before a byte of the body is read; a chunked body once the cap has streamed in,
  by ``RequestReader._read``).
* A body that does not arrive within ``body_timeout`` seconds is a 400 ``request_timeout``
  and the connection is closed.  Not 408: the openai SDK retries 408.
* A client that hangs up before its body is in gets nothing: outcome 499.
"""

from __future__ import annotations

from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.types import ASGIApp

from adapters.body_limits import CLIENT_CLOSED_REQUEST, BodyLimits, BodyTimeout, Unsent
from adapters.openai.errors import error_response


def too_large(limit: int) -> Response:
    # a body refused unread: close the connection rather than leave it half-read
    return error_response(
        413,
        f"Request body too large: the limit is {limit} bytes.",
        code="request_too_large",
        headers={"connection": "close"},
    )


def openai_limits(app: ASGIApp, max_body_bytes: int, body_timeout: float) -> BodyLimits:
    """``app`` behind the body cap and deadline, refusing in OpenAI's shape."""
    return BodyLimits(app, max_body_bytes, body_timeout, too_large)


async def body_timed_out(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, BodyTimeout)
    return error_response(
        400,
        f"The request body was not received within {exc.seconds:g} seconds.",
        code="request_timeout",
        headers={"connection": "close"},
    )


async def client_gone(request: Request, exc: Exception) -> Response:
    """``ClientDisconnect`` from reading the body: record the outcome, answer nothing."""
    assert isinstance(exc, ClientDisconnect)
    request.state.outcome = CLIENT_CLOSED_REQUEST
    return Unsent()

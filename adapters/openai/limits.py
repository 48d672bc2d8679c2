"""Request-body limits at the ASGI layer, ahead of Starlette.

* A declared ``Content-Length`` over the body cap is refused with 413 before a byte of
  the body is read.  (Bodies without one, chunked, are capped as they stream in, by
  ``Endpoints._read``.)
* The whole body must arrive within ``body_timeout`` seconds of the request head: a body
  that stalls, or trickles in a byte at a time, is answered with a 400 ``request_timeout``
  and the connection is closed.  Not 408: the openai SDK retries 408.
* A client that hangs up before its body is in is no server error: the request counts as
  outcome 499 (nginx's "client closed request") and nothing is logged but its request line.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from adapters.openai.errors import error_response

# scope as starlette.types and httpx type it: a MutableMapping, not only a dict
ASGIApp = Callable[
    [MutableMapping[str, Any], Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]],
    Awaitable[None],
]

# the outcome of a request whose client left before it was answered
CLIENT_CLOSED_REQUEST = 499


class BodyTimeout(Exception):
    """The request body did not arrive in time; raised from ``receive``."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"request body not received within {seconds:g} s")
        self.seconds = seconds


def too_large(limit: int) -> Response:
    # a body refused unread: close the connection rather than leave it half-read
    return error_response(
        413,
        f"Request body too large: the limit is {limit} bytes.",
        code="request_too_large",
        headers={"connection": "close"},
    )


class BodyLimits:
    """Pure ASGI middleware: refuses an over-cap ``Content-Length`` and puts a deadline
    on the body."""

    def __init__(self, app: ASGIApp, max_body_bytes: int, body_timeout: float) -> None:
        self._app = app
        self._max = max_body_bytes
        self._timeout = body_timeout

    async def __call__(
        self,
        scope: MutableMapping[str, Any],
        receive: Callable[[], Awaitable[Any]],
        send: Callable[[Any], Awaitable[None]],
    ) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        has_body = False
        for name, value in scope["headers"]:
            if name == b"content-length":  # h11 has checked that it is a number
                length = int(value)
                if length > self._max:
                    await too_large(self._max)(scope, receive, send)
                    return
                has_body = length > 0
            elif name == b"transfer-encoding":
                has_body = True
        if not has_body or self._timeout <= 0:
            await self._app(scope, receive, send)
            return
        deadline = asyncio.get_running_loop().time() + self._timeout
        timeout = self._timeout
        body_done = False

        async def receive_in_time() -> Any:
            nonlocal body_done
            if body_done:  # later calls wait for a disconnect: no deadline on those
                return await receive()
            try:
                async with asyncio.timeout_at(deadline):
                    message = await receive()
            except TimeoutError:
                raise BodyTimeout(timeout) from None
            body_done = message["type"] != "http.request" or not message.get("more_body", False)
            return message

        await self._app(scope, receive_in_time, send)


async def body_timed_out(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, BodyTimeout)
    return error_response(
        400,
        f"The request body was not received within {exc.seconds:g} seconds.",
        code="request_timeout",
        headers={"connection": "close"},
    )


class _Unsent(Response):
    """No response: there is nobody left to read it."""

    def __init__(self) -> None:
        super().__init__(status_code=CLIENT_CLOSED_REQUEST)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        return None


async def client_gone(request: Request, exc: Exception) -> Response:
    """``ClientDisconnect`` from reading the body: record the outcome, answer nothing."""
    assert isinstance(exc, ClientDisconnect)
    request.state.outcome = CLIENT_CLOSED_REQUEST
    return _Unsent()

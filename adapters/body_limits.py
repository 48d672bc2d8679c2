"""The request-body cap and deadline every HTTP face applies, as pure ASGI.

* A declared ``Content-Length`` over the body cap is refused with 413 before a byte of
  the body is read; a body without one (chunked) is capped as it streams in
  (``read_capped``).
* The whole body must arrive within ``body_timeout`` seconds of the request head: a body
  that stalls, or trickles in a byte at a time, raises ``BodyTimeout`` from ``receive``.
* A client that hangs up before its body is in is no server error: the request counts as
  outcome 499 (nginx's "client closed request") and nothing is answered (``Unsent``).

Each face wraps its own app in ``BodyLimits`` and words the refusals in its own shape
(``openai/limits.py``, ``yandex/rest/errors.py``); nothing here knows a wire shape.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

# the outcome of a request whose client left before it was answered
CLIENT_CLOSED_REQUEST = 499


class BodyTimeout(Exception):
    """The request body did not arrive in time; raised from ``receive``."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"request body not received within {seconds:g} s")
        self.seconds = seconds


class BodyTooLarge(Exception):
    """A body without a ``Content-Length`` went past the cap as it streamed in."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"request body over {limit} bytes")
        self.limit = limit


class BodyLimits:
    """Pure ASGI middleware: refuses an over-cap ``Content-Length`` with the face's own
    413 (``too_large(limit)``) and puts a deadline on the body."""

    def __init__(
        self,
        app: ASGIApp,
        max_body_bytes: int,
        body_timeout: float,
        too_large: Callable[[int], ASGIApp],
    ) -> None:
        self._app = app
        self._max = max_body_bytes
        self._timeout = body_timeout
        self._too_large = too_large

    async def __call__(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
    ) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        has_body = False
        for name, value in scope["headers"]:
            if name == b"content-length":  # h11 has checked that it is a number
                length = int(value)
                if length > self._max:
                    await self._too_large(self._max)(scope, receive, send)
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


async def read_capped(request: Request, limit: int) -> bytes:
    """The whole body, or ``BodyTooLarge`` once more than ``limit`` bytes streamed in."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            # Read (and drop) what the client is still sending, within reason:
            # Hypercorn cannot finish the exchange while a body is half read.
            async for rest in request.stream():
                size += len(rest)
                if size > 8 * limit:
                    break
            raise BodyTooLarge(limit)
        chunks.append(chunk)
    return b"".join(chunks)


class Unsent(Response):
    """No response: there is nobody left to read it (record ``CLIENT_CLOSED_REQUEST`` as
    the request's outcome, ``request.state.outcome``, for the request line)."""

    def __init__(self) -> None:
        super().__init__(status_code=CLIENT_CLOSED_REQUEST)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        return None

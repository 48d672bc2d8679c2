"""Two changes to Hypercorn's HTTP/1.1 connection handling, in one ``H11Protocol`` subclass.

* Protocol errors in OpenAI's error shape.  A bad request line, a malformed header, a
  bad ``Content-Length`` or a request head over ``h11_max_incomplete_size`` never reach
  the ASGI app: Hypercorn answers them itself (400, or 431 for the size) with an empty
  body, and has no setting for that body.  The subclass sends the same status,
  ``content-length`` and ``connection: close``, and a small JSON error body.
* A connection the client has closed between requests is closed at once.  Hypercorn
  noticed the end of the stream but kept its side open (CLOSE-WAIT) until the keep-alive
  timer ran out, 5 s later, so every client that closes its connections held a
  descriptor, and a slot under ``--max-connections``, that long.

``install`` puts the subclass in the place ``hypercorn.protocol.ProtocolWrapper`` takes
the protocol class from.
"""

from __future__ import annotations

import http

import h11
import orjson
from hypercorn.events import Closed, Event
from hypercorn.protocol.h11 import H11Protocol

from adapters.http.protocol_patch import replace_protocol


def protocol_error_body(status: int, max_head_bytes: int) -> bytes:
    if status == 431:
        message = (
            f"Request header fields too large: the request line and headers may take at most "
            f"{max_head_bytes} bytes."
        )
    elif status == 400:
        message = "The request is not valid HTTP/1.1 and could not be parsed."
    else:
        message = f"{http.HTTPStatus(status).phrase}."
    error = {"message": message, "type": "invalid_request_error", "param": None, "code": None}
    return orjson.dumps({"error": error})


class ThreadgateH11Protocol(H11Protocol):
    async def handle(self, event: Event) -> None:
        # Hypercorn's TCP server hands us Closed when the client's stream has ended (or
        # failed).  Between requests, nothing is left to answer: close our side too.  With
        # a request in flight, the client may only have shut its sending side and still
        # wait for the answer; Hypercorn closes once that is sent.
        idle = isinstance(event, Closed) and self.stream is None
        await super().handle(event)
        if idle:
            await self.send(Closed())

    async def _send_error_response(self, status_code: int) -> None:
        body = protocol_error_body(status_code, self.config.h11_max_incomplete_size)
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
            (b"x-should-retry", b"false"),
            *self.config.response_headers("h11"),
        ]
        await self._send_h11_event(h11.Response(status_code=status_code, headers=headers))
        await self._send_h11_event(h11.Data(data=body))
        await self._send_h11_event(h11.EndOfMessage())


def install() -> bool:
    """Make Hypercorn's connections use ``ThreadgateH11Protocol`` (False if it cannot)."""
    return replace_protocol(
        "H11Protocol",
        H11Protocol,
        ThreadgateH11Protocol,
        "_send_error_response",
        "its protocol errors keep their empty bodies",
    )

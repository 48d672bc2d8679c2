"""The Yandex REST face: ThreadService and MessageService as JSON over HTTP, at
``/assistants/v1``, as Yandex's ``rest-assistant`` host served them (the protos'
``google.api.http`` transcoding).

Each route authenticates first, reads its request message from the body or the query
and the path (``transcoding.py``), runs the very operation the gRPC method runs
(``operations.py``) and prints the answer.  Errors are ``google.rpc.Status`` JSON from
the same table as the gRPC face's (``errors.py``); ``MessageService/List`` streams one
``{"result": <Message>}`` line per message.
"""

from __future__ import annotations

import contextlib
import logging
import random
import re
from collections.abc import AsyncIterator
from typing import Any, TypeVar

import orjson
from google.protobuf.message import Message
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from adapters.body_limits import (
    BodyLimits,
    read_capped,
)
from adapters.yandex._gen.yandex.cloud.ai.assistants.v1.threads import message_pb2
from adapters.yandex._gen.yandex.cloud.ai.assistants.v1.threads import message_service_pb2 as ms
from adapters.yandex._gen.yandex.cloud.ai.assistants.v1.threads import thread_service_pb2 as ts
from adapters.yandex.operations import API_KEY_SCHEMES, STREAM_BATCH, MessageOperations, ThreadOperations
from adapters.yandex.rest import errors
from adapters.yandex.rest.body import from_body
from adapters.yandex.rest.query import from_query
from adapters.yandex.rest.routes import PREFIX, ROUTES, annotated
from adapters.yandex.rest.transcoding import json_line, to_json
from adapters.yandex.status import INTERNAL, to_status
from core.access import Principal
from core.errors import DomainError
from core.ports import Idempotency
from core.services import Core

log = logging.getLogger("threadgate.yandex_rest")

M = TypeVar("M", bound=Message)

# a stream's lines go out STREAM_BATCH at a time (a page of the store), or sooner once
# this many bytes are waiting
FLUSH_BYTES = 256 * 1024
SERVICES = (ts.DESCRIPTOR.services_by_name["ThreadService"], ms.DESCRIPTOR.services_by_name["MessageService"])


def reply(message: Message) -> Response:
    return Response(orjson.dumps(to_json(message)), media_type="application/json")


class YandexRest:
    """The eight routes' endpoints."""

    def __init__(self, core: Core, *, allow_anonymous: bool, max_body_bytes: int) -> None:
        self._core = core
        self._allow_anonymous = allow_anonymous
        self._max_body = max_body_bytes
        self._threads = ThreadOperations(core)
        self._messages = MessageOperations(core)

    async def _caller(self, request: Request) -> Principal:
        principal = await self._core.access.authenticate_header(
            request.headers.get("authorization"), API_KEY_SCHEMES, allow_anonymous=self._allow_anonymous
        )
        request.state.principal = principal
        return principal

    async def _body(self, request: Request, message: M, **path: str) -> M:
        return from_body(await read_capped(request, self._max_body), message, path)

    @staticmethod
    def _query(request: Request, message: M, **path: str) -> M:
        return from_query(request.query_params.multi_items(), message, path)

    @staticmethod
    def _idempotency(request: Request, message: Message) -> Idempotency | None:
        """The ``Idempotency-Key`` header, as the gRPC face's ``idempotency-key`` metadata:
        the same key and request made over either face is done once."""
        key = request.headers.get("idempotency-key")
        return None if key is None else Idempotency.of(key, message.SerializeToString(deterministic=True))

    async def create_thread(self, request: Request) -> Response:
        caller = await self._caller(request)
        body = await self._body(request, ts.CreateThreadRequest())
        return reply(await self._threads.create(body, caller, self._idempotency(request, body)))

    async def get_thread(self, request: Request) -> Response:
        caller = await self._caller(request)
        query = self._query(request, ts.GetThreadRequest(), thread_id=request.path_params["thread_id"])
        return reply(await self._threads.get(query, caller))

    async def update_thread(self, request: Request) -> Response:
        caller = await self._caller(request)
        body = await self._body(request, ts.UpdateThreadRequest(), thread_id=request.path_params["thread_id"])
        return reply(await self._threads.update(body, caller))

    async def delete_thread(self, request: Request) -> Response:
        caller = await self._caller(request)
        query = self._query(request, ts.DeleteThreadRequest(), thread_id=request.path_params["thread_id"])
        return reply(await self._threads.delete(query, caller))

    async def list_threads(self, request: Request) -> Response:
        caller = await self._caller(request)
        return reply(await self._threads.list(self._query(request, ts.ListThreadsRequest()), caller))

    async def create_message(self, request: Request) -> Response:
        caller = await self._caller(request)
        body = await self._body(request, ms.CreateMessageRequest())
        return reply(await self._messages.create(body, caller, self._idempotency(request, body)))

    async def get_message(self, request: Request) -> Response:
        caller = await self._caller(request)
        query = self._query(request, ms.GetMessageRequest(), message_id=request.path_params["message_id"])
        return reply(await self._messages.get(query, caller))

    async def list_messages(self, request: Request) -> Response:
        """Newest first, one ``{"result": …}`` line per message, sent page by page as the
        store is read; an error before the first line is the whole (mapped) answer, one
        after it the stream's last line."""
        caller = await self._caller(request)
        messages = self._messages.list(self._query(request, ms.ListMessagesRequest()), caller)
        try:
            first = await anext(messages)
        except StopAsyncIteration:
            return Response(b"", media_type="application/json")
        return StreamingResponse(
            self._lines(first, messages, errors.request_id_of(request)), media_type="application/json"
        )

    @staticmethod
    async def _lines(
        first: message_pb2.Message, rest: AsyncIterator[message_pb2.Message], request_id: str
    ) -> AsyncIterator[bytes]:
        batch = [json_line({"result": to_json(first)})]
        size = len(batch[0])
        async with contextlib.aclosing(rest):  # type: ignore[type-var]
            try:
                async for message in rest:
                    line = json_line({"result": to_json(message)})
                    batch.append(line)
                    size += len(line)
                    if len(batch) >= STREAM_BATCH or size >= FLUSH_BYTES:
                        yield b"".join(batch)
                        batch, size = [], 0
            except DomainError as exc:
                batch.append(errors.error_line(to_status(exc), request_id))
            except Exception as exc:
                log.exception("unhandled error in MessageService/List", exc_info=exc)
                batch.append(errors.error_line(INTERNAL, request_id))
        if batch:
            yield b"".join(batch)

    def routes(self) -> list[Route]:
        endpoints = {
            "ThreadService/Create": self.create_thread,
            "ThreadService/Get": self.get_thread,
            "ThreadService/Update": self.update_thread,
            "ThreadService/Delete": self.delete_thread,
            "ThreadService/List": self.list_threads,
            "MessageService/Create": self.create_message,
            "MessageService/Get": self.get_message,
            "MessageService/List": self.list_messages,
        }
        return [
            Route(
                r.path.removeprefix(PREFIX),
                errors.answered(r.rpc, endpoints[r.rpc], stream=r.rpc == "MessageService/List"),
                methods=[r.method],
            )
            for r in ROUTES
        ]


def with_trace_ids(app: ASGIApp) -> ASGIApp:
    """Every answer carries ``x-server-trace-id``, new for each request, as Yandex's did
    (``x-request-id`` comes from the host); the request line logs it as ``trace_id``."""

    async def traced(
        scope: Scope,
        receive: Receive,
        send: Send,
    ) -> None:
        trace_id = f"{random.getrandbits(128):032x}"  # unique, not secret: no system call
        scope.setdefault("state", {})["trace_id"] = trace_id

        async def send_with_trace(message: Any) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), (b"x-server-trace-id", trace_id.encode())]
            await send(message)

        await app(scope, receive, send_with_trace)

    return traced


def yandex_rest_app(
    core: Core,
    *,
    allow_anonymous: bool = False,
    max_body_bytes: int = 2 * 1024 * 1024,
    body_timeout: float = 30.0,
) -> ASGIApp:
    """The face as one ASGI app, for mounting at ``PREFIX``."""
    if annotated(SERVICES) != set(ROUTES):
        raise RuntimeError("the Yandex REST routes differ from the protos' google.api.http options")
    endpoints = YandexRest(core, allow_anonymous=allow_anonymous, max_body_bytes=max_body_bytes)
    app = Starlette(routes=endpoints.routes(), exception_handlers={HTTPException: errors.routing_error})
    app.router.redirect_slashes = False  # no redirects: a trailing slash is an unknown path
    return with_trace_ids(BodyLimits(app, max_body_bytes, body_timeout, errors.too_large))


class _Mount(Mount):
    """A mount that takes every path under its prefix: Starlette's ``{path:path}`` is
    ``.*``, which stops at a newline, so ``/threads/%0A`` fell through to the host's 404."""

    def __init__(self, path: str, app: ASGIApp) -> None:
        super().__init__(path, app=app)
        self.path_regex = re.compile(self.path_regex.pattern, re.DOTALL)


def yandex_rest_mount(
    core: Core,
    *,
    allow_anonymous: bool = False,
    max_body_bytes: int = 2 * 1024 * 1024,
    body_timeout: float = 30.0,
) -> Mount:
    """The face mounted at ``/assistants/v1``, for the HTTP host's ``build_app(mounts=…)``."""
    app = yandex_rest_app(
        core, allow_anonymous=allow_anonymous, max_body_bytes=max_body_bytes, body_timeout=body_timeout
    )
    return _Mount(PREFIX, app)

"""The gRPC side of the Yandex face's errors: a ``google.rpc.Status`` (``status.py``) sent
as the call's status and trailers, and the two decorators that apply it to every unary
and server-streaming servicer method, so no method calls ``abort`` by hand."""

from __future__ import annotations

import functools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, NoReturn, TypeVar

import grpc
from google.protobuf.message import DecodeError
from google.rpc import status_pb2
from grpc_status import rpc_status

from adapters.yandex.status import INTERNAL, to_status
from core.errors import DomainError, InvalidArgument

log = logging.getLogger("threadgate.grpc")


class Undecodable:
    """What a request that is not valid protobuf deserializes to (see ``tolerant``)."""

    def __init__(self, error: str) -> None:
        self.error = error


def tolerant(parse: Callable[[bytes], Any]) -> Callable[[bytes], Any]:
    """A request deserializer that never raises: grpcio turns a raising deserializer into
    UNKNOWN with a logged traceback; the observer answers Undecodable with INVALID_ARGUMENT."""

    def deserialize(raw: bytes) -> Any:
        try:
            return parse(raw)
        except DecodeError as exc:
            return Undecodable(str(exc))

    return deserialize


Req = TypeVar("Req")
Resp = TypeVar("Resp")
S = TypeVar("S")


async def abort_with(context: grpc.aio.ServicerContext[Any, Any], status: status_pb2.Status) -> NoReturn:
    s = rpc_status.to_status(status)
    await context.abort(s.code, s.details, s.trailing_metadata)
    raise AssertionError("abort returned")  # pragma: no cover


async def _decoded(servicer: Any, request: object, context: grpc.aio.ServicerContext[Any, Any]) -> None:
    """Bytes that are not the request message are INVALID_ARGUMENT, but only for a caller
    who authenticated: every method authenticates before it looks at its request."""
    if isinstance(request, Undecodable):
        await servicer.authenticate(context)
        raise InvalidArgument("request", "undecodable_request")


async def _fail(context: grpc.aio.ServicerContext[Any, Any], exc: Exception, method: str) -> NoReturn:
    """A core error in its status; anything else is INTERNAL, logged, with no details sent."""
    if isinstance(exc, DomainError):
        await abort_with(context, to_status(exc))
    log.exception("unhandled error in %s", method, exc_info=exc)
    await abort_with(context, INTERNAL)


def unary(
    fn: Callable[[S, Req, grpc.aio.ServicerContext[Req, Resp]], Awaitable[Resp]],
) -> Callable[[S, Req, grpc.aio.ServicerContext[Req, Resp]], Awaitable[Resp]]:
    @functools.wraps(fn)
    async def wrapper(self: S, request: Req, context: grpc.aio.ServicerContext[Req, Resp]) -> Resp:
        try:
            await _decoded(self, request, context)
            return await fn(self, request, context)
        except (grpc.aio.AbortError, grpc.aio.BaseError):
            raise
        except Exception as exc:
            await _fail(context, exc, fn.__name__)

    return wrapper


def stream(
    fn: Callable[[S, Req, grpc.aio.ServicerContext[Req, Resp]], AsyncIterator[Resp]],
) -> Callable[[S, Req, grpc.aio.ServicerContext[Req, Resp]], AsyncIterator[Resp]]:
    @functools.wraps(fn)
    async def wrapper(
        self: S, request: Req, context: grpc.aio.ServicerContext[Req, Resp]
    ) -> AsyncIterator[Resp]:
        try:
            await _decoded(self, request, context)
            async for item in fn(self, request, context):
                yield item
        except (grpc.aio.AbortError, grpc.aio.BaseError):
            raise
        except Exception as exc:
            await _fail(context, exc, fn.__name__)

    return wrapper

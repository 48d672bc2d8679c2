"""Core errors rendered as gRPC statuses with google.rpc details.

One table from domain error kind to status code lives here; the two decorators
apply it to every unary and server-streaming method, so no servicer method
calls ``abort`` by hand.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, NoReturn, TypeVar

import grpc
from google.protobuf import any_pb2, duration_pb2
from google.protobuf.message import DecodeError
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from adapters.yandex.wording import field_problem, grpc_field, message_of
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


def _pack(detail: Any) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(detail)
    return packed


def invalid_argument_status(field: str, description: str, message: str) -> status_pb2.Status:
    violation = error_details_pb2.BadRequest.FieldViolation(
        field=shorten(field, MAX_TEXT), description=shorten(description, MAX_TEXT)
    )
    return status_pb2.Status(
        code=code_pb2.INVALID_ARGUMENT,
        message=message,
        details=[_pack(error_details_pb2.BadRequest(field_violations=[violation]))],
    )


# Everything in an error travels in trailing metadata, which clients cap (16 KiB by
# default): never echo more than this much of anything a client sent.
MAX_TEXT = 1024


def to_status(exc: DomainError) -> status_pb2.Status:
    status = _to_status(exc, message_of(exc))
    status.message = shorten(status.message, MAX_TEXT)
    return status


def _to_status(exc: DomainError, message: str) -> status_pb2.Status:
    if isinstance(exc, Unavailable):
        if not exc.retry_safe:
            # the write may have committed: UNAVAILABLE would be retried by gRPC's own retry
            # policies (yandexcloud's among them) with no idempotency key, storing it twice
            return status_pb2.Status(code=code_pb2.UNKNOWN, message=message)
        retry = error_details_pb2.RetryInfo(retry_delay=duration_pb2.Duration(seconds=1))
        return status_pb2.Status(code=code_pb2.UNAVAILABLE, message=message, details=[_pack(retry)])
    if isinstance(exc, NotFound):
        info = error_details_pb2.ResourceInfo(
            resource_type=exc.resource,
            resource_name=shorten(exc.resource_id, MAX_TEXT),
            description=shorten(message, MAX_TEXT),
        )
        return status_pb2.Status(code=code_pb2.NOT_FOUND, message=message, details=[_pack(info)])
    if isinstance(exc, InvalidArgument):
        return invalid_argument_status(grpc_field(exc.field), field_problem(exc), message)
    if isinstance(exc, ResourceExhausted):
        violation = error_details_pb2.QuotaFailure.Violation(subject=exc.limit_name, description=message)
        quota = error_details_pb2.QuotaFailure(violations=[violation])
        return status_pb2.Status(code=code_pb2.RESOURCE_EXHAUSTED, message=message, details=[_pack(quota)])
    if isinstance(exc, FailedPrecondition):
        return status_pb2.Status(code=code_pb2.FAILED_PRECONDITION, message=message)
    if isinstance(exc, PermissionDenied):
        return status_pb2.Status(code=code_pb2.PERMISSION_DENIED, message=message)
    if isinstance(exc, Unauthenticated):
        return status_pb2.Status(code=code_pb2.UNAUTHENTICATED, message=message)
    return status_pb2.Status(code=code_pb2.INVALID_ARGUMENT, message=message)


async def abort_with(context: grpc.aio.ServicerContext[Any, Any], status: status_pb2.Status) -> NoReturn:
    s = rpc_status.to_status(status)
    await context.abort(s.code, s.details, s.trailing_metadata)
    raise AssertionError("abort returned")  # pragma: no cover


_INTERNAL = status_pb2.Status(code=code_pb2.INTERNAL, message="Internal error.")


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
    await abort_with(context, _INTERNAL)


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

"""Core errors rendered as gRPC statuses with google.rpc details.

One table from domain error kind to status code lives here; the two decorators
apply it to every unary and server-streaming method, so no servicer method
calls ``abort`` by hand.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, NoReturn, TypeVar

import grpc
from google.protobuf import any_pb2, duration_pb2
from google.protobuf.message import DecodeError
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

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


_CONTENT_PART = re.compile(r"(^|\.)content\[(\d+)\]")


def grpc_field(field: str) -> str:
    """A core field path in the Yandex request's terms (content parts sit in content.content)."""
    return _CONTENT_PART.sub(r"\1content.content[\2]", field)


def invalid_argument_status(field: str, message: str) -> status_pb2.Status:
    violation = error_details_pb2.BadRequest.FieldViolation(field=_cap(field), description=_cap(message))
    return status_pb2.Status(
        code=code_pb2.INVALID_ARGUMENT,
        message=_cap(message),
        details=[_pack(error_details_pb2.BadRequest(field_violations=[violation]))],
    )


# Everything in an error travels in trailing metadata, which clients cap (16 KiB by
# default): never echo more than this much of anything a client sent.
MAX_TEXT = 1024


def _cap(text: str) -> str:
    return text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 30] + f"…({len(text)} characters)"


def to_status(exc: DomainError) -> status_pb2.Status:
    status = _to_status(exc)
    status.message = _cap(status.message)
    return status


def _to_status(exc: DomainError) -> status_pb2.Status:
    if isinstance(exc, Unavailable):
        # RetryInfo only when a retry cannot store anything twice; the Yandex SDKs retry
        # UNAVAILABLE regardless, but send an idempotency-key, which makes it safe
        retry = error_details_pb2.RetryInfo(retry_delay=duration_pb2.Duration(seconds=1))
        details = [_pack(retry)] if exc.retry_safe else []
        return status_pb2.Status(code=code_pb2.UNAVAILABLE, message=exc.message, details=details)
    if isinstance(exc, NotFound):
        info = error_details_pb2.ResourceInfo(
            resource_type=exc.resource, resource_name=_cap(exc.resource_id), description=_cap(exc.message)
        )
        return status_pb2.Status(code=code_pb2.NOT_FOUND, message=exc.message, details=[_pack(info)])
    if isinstance(exc, InvalidArgument):
        return invalid_argument_status(grpc_field(exc.field), exc.message)
    if isinstance(exc, ResourceExhausted):
        quota = error_details_pb2.QuotaFailure(
            violations=[
                error_details_pb2.QuotaFailure.Violation(subject=exc.limit_name, description=exc.message)
            ]
        )
        return status_pb2.Status(
            code=code_pb2.RESOURCE_EXHAUSTED, message=exc.message, details=[_pack(quota)]
        )
    if isinstance(exc, FailedPrecondition):
        return status_pb2.Status(code=code_pb2.FAILED_PRECONDITION, message=exc.message)
    if isinstance(exc, PermissionDenied):
        return status_pb2.Status(code=code_pb2.PERMISSION_DENIED, message=exc.message)
    if isinstance(exc, Unauthenticated):
        return status_pb2.Status(code=code_pb2.UNAUTHENTICATED, message=exc.message)
    return status_pb2.Status(code=code_pb2.INVALID_ARGUMENT, message=exc.message)


async def abort_with(context: grpc.aio.ServicerContext[Any, Any], status: status_pb2.Status) -> NoReturn:
    s = rpc_status.to_status(status)
    await context.abort(s.code, s.details, s.trailing_metadata)
    raise AssertionError("abort returned")  # pragma: no cover


_INTERNAL = status_pb2.Status(code=code_pb2.INTERNAL, message="Internal error.")


def unary(
    fn: Callable[[S, Req, grpc.aio.ServicerContext[Req, Resp]], Awaitable[Resp]],
) -> Callable[[S, Req, grpc.aio.ServicerContext[Req, Resp]], Awaitable[Resp]]:
    @functools.wraps(fn)
    async def wrapper(self: S, request: Req, context: grpc.aio.ServicerContext[Req, Resp]) -> Resp:
        try:
            return await fn(self, request, context)
        except DomainError as exc:
            await abort_with(context, to_status(exc))
        except (grpc.aio.AbortError, grpc.aio.BaseError):
            raise
        except Exception:
            log.exception("unhandled error in %s", fn.__name__)
            await abort_with(context, _INTERNAL)

    return wrapper


def stream(
    fn: Callable[[S, Req, grpc.aio.ServicerContext[Req, Resp]], AsyncIterator[Resp]],
) -> Callable[[S, Req, grpc.aio.ServicerContext[Req, Resp]], AsyncIterator[Resp]]:
    @functools.wraps(fn)
    async def wrapper(
        self: S, request: Req, context: grpc.aio.ServicerContext[Req, Resp]
    ) -> AsyncIterator[Resp]:
        try:
            async for item in fn(self, request, context):
                yield item
        except DomainError as exc:
            await abort_with(context, to_status(exc))
        except (grpc.aio.AbortError, grpc.aio.BaseError):
            raise
        except Exception:
            log.exception("unhandled error in %s", fn.__name__)
            await abort_with(context, _INTERNAL)

    return wrapper

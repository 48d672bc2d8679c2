"""Core errors as ``google.rpc.Status`` messages with google.rpc details.

The one table from domain error kind to status code, shared by both Yandex faces: the
gRPC face sends the Status in its trailers (``grpc_methods.py``), the REST face renders
it as JSON (``rest/errors.py``).  Protobuf and google.rpc only: nothing here loads grpc,
so the REST face can use it in a process that never imports grpc.
"""

from __future__ import annotations

from typing import Any

from google.protobuf import any_pb2, duration_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2

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

# Everything in an error travels in trailing metadata, which clients cap (16 KiB by
# default): never echo more than this much of anything a client sent.
MAX_TEXT = 1024

INTERNAL = status_pb2.Status(code=code_pb2.INTERNAL, message="Internal error.")


def pack(detail: Any) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(detail)
    return packed


def invalid_argument_status(field: str, description: str, message: str) -> status_pb2.Status:
    violation = error_details_pb2.BadRequest.FieldViolation(
        field=shorten(field, MAX_TEXT), description=shorten(description, MAX_TEXT)
    )
    return status_pb2.Status(
        code=code_pb2.INVALID_ARGUMENT,
        message=shorten(message, MAX_TEXT),
        details=[pack(error_details_pb2.BadRequest(field_violations=[violation]))],
    )


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
        return status_pb2.Status(code=code_pb2.UNAVAILABLE, message=message, details=[pack(retry)])
    if isinstance(exc, NotFound):
        info = error_details_pb2.ResourceInfo(
            resource_type=exc.resource,
            resource_name=shorten(exc.resource_id, MAX_TEXT),
            description=shorten(message, MAX_TEXT),
        )
        return status_pb2.Status(code=code_pb2.NOT_FOUND, message=message, details=[pack(info)])
    if isinstance(exc, InvalidArgument):
        return invalid_argument_status(grpc_field(exc.field), field_problem(exc), message)
    if isinstance(exc, ResourceExhausted):
        violation = error_details_pb2.QuotaFailure.Violation(subject=exc.limit_name, description=message)
        quota = error_details_pb2.QuotaFailure(violations=[violation])
        return status_pb2.Status(code=code_pb2.RESOURCE_EXHAUSTED, message=message, details=[pack(quota)])
    if isinstance(exc, FailedPrecondition):
        return status_pb2.Status(code=code_pb2.FAILED_PRECONDITION, message=message)
    if isinstance(exc, PermissionDenied):
        return status_pb2.Status(code=code_pb2.PERMISSION_DENIED, message=message)
    if isinstance(exc, Unauthenticated):
        return status_pb2.Status(code=code_pb2.UNAUTHENTICATED, message=message)
    return status_pb2.Status(code=code_pb2.INVALID_ARGUMENT, message=message)

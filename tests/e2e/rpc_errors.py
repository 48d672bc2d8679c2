"""Helpers for reading gRPC errors the way a Yandex client would."""

from __future__ import annotations

from typing import TypeVar

import grpc
from google.protobuf import any_pb2
from google.protobuf.message import Message
from grpc_status import rpc_status

M = TypeVar("M", bound=Message)


def details_of(error: grpc.RpcError, kind: type[M]) -> M:
    """The first google.rpc detail of ``kind`` carried by a failed call."""
    status = rpc_status.from_call(error)
    assert status is not None, f"no google.rpc.Status on {error}"
    details: list[any_pb2.Any] = list(status.details)
    for detail in details:
        if detail.Is(kind.DESCRIPTOR):
            value = kind()
            detail.Unpack(value)
            return value
    raise AssertionError(f"no {kind} in {details}")

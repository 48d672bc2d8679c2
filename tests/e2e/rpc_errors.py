"""Helpers for reading gRPC errors the way a Yandex client would."""

from __future__ import annotations

from typing import Any, TypeVar

import grpc
from grpc_status import rpc_status

M = TypeVar("M")


def details_of(error: grpc.RpcError, kind: type[M]) -> M:
    """The first google.rpc detail of ``kind`` carried by a failed call."""
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    assert status is not None, f"no google.rpc.Status on {error}"
    for detail in status.details:
        if detail.Is(kind.DESCRIPTOR):  # type: ignore[attr-defined]
            value: Any = kind()
            detail.Unpack(value)
            return value  # type: ignore[no-any-return]
    raise AssertionError(f"no {kind} in {list(status.details)}")

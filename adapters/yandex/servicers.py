"""The gRPC servicers: authenticate the call, then run the operation (operations.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import grpc
from google.protobuf.message import Message

from adapters.yandex._gen.yandex.cloud.ai.assistants.v1.threads import (
    message_pb2,
    message_service_pb2,
    message_service_pb2_grpc,
    thread_pb2,
    thread_service_pb2,
    thread_service_pb2_grpc,
)
from adapters.yandex.grpc_methods import stream, unary
from adapters.yandex.operations import API_KEY_SCHEMES, MessageOperations, ThreadOperations
from core.access import Principal
from core.ports import Idempotency
from core.services import Core

Ctx = grpc.aio.ServicerContext[Any, Any]


class Authenticator:
    """Reads ``authorization: Bearer <key>`` or ``Api-Key <key>`` call metadata."""

    def __init__(self, core: Core, allow_anonymous: bool) -> None:
        self._core = core
        self._allow_anonymous = allow_anonymous

    async def __call__(self, context: Ctx) -> Principal:
        return await self._core.access.authenticate_header(
            metadata_value(context, "authorization"), API_KEY_SCHEMES, allow_anonymous=self._allow_anonymous
        )


def metadata_value(context: Ctx, key: str) -> str | None:
    for k, value in context.invocation_metadata() or ():
        if k == key:
            return value if isinstance(value, str) else value.decode("utf-8", "replace")
    return None


def idempotency_of(request: Message, context: Ctx) -> Idempotency | None:
    """The Yandex SDK's ``idempotency-key`` metadata, constant across its retries."""
    key = metadata_value(context, "idempotency-key")
    return None if key is None else Idempotency.of(key, request.SerializeToString(deterministic=True))


class _Servicer:
    def __init__(self, core: Core, authenticate: Authenticator) -> None:
        self._auth = authenticate
        self.authenticate = authenticate  # what grpc_methods.unary/stream call before decoding


class ThreadServiceServicer(_Servicer, thread_service_pb2_grpc.ThreadServiceServicer):
    def __init__(self, core: Core, authenticate: Authenticator) -> None:
        super().__init__(core, authenticate)
        self._ops = ThreadOperations(core)

    @unary
    async def Create(
        self, request: thread_service_pb2.CreateThreadRequest, context: Ctx
    ) -> thread_pb2.Thread:
        return await self._ops.create(request, await self._auth(context), idempotency_of(request, context))

    @unary
    async def Get(self, request: thread_service_pb2.GetThreadRequest, context: Ctx) -> thread_pb2.Thread:
        return await self._ops.get(request, await self._auth(context))

    @unary
    async def Update(
        self, request: thread_service_pb2.UpdateThreadRequest, context: Ctx
    ) -> thread_pb2.Thread:
        return await self._ops.update(request, await self._auth(context))

    @unary
    async def Delete(
        self, request: thread_service_pb2.DeleteThreadRequest, context: Ctx
    ) -> thread_service_pb2.DeleteThreadResponse:
        return await self._ops.delete(request, await self._auth(context))

    @unary
    async def List(
        self, request: thread_service_pb2.ListThreadsRequest, context: Ctx
    ) -> thread_service_pb2.ListThreadsResponse:
        return await self._ops.list(request, await self._auth(context))


class MessageServiceServicer(_Servicer, message_service_pb2_grpc.MessageServiceServicer):
    def __init__(self, core: Core, authenticate: Authenticator) -> None:
        super().__init__(core, authenticate)
        self._ops = MessageOperations(core)

    @unary
    async def Create(
        self, request: message_service_pb2.CreateMessageRequest, context: Ctx
    ) -> message_pb2.Message:
        return await self._ops.create(request, await self._auth(context), idempotency_of(request, context))

    @unary
    async def Get(self, request: message_service_pb2.GetMessageRequest, context: Ctx) -> message_pb2.Message:
        return await self._ops.get(request, await self._auth(context))

    @stream
    async def List(
        self, request: message_service_pb2.ListMessagesRequest, context: Ctx
    ) -> AsyncIterator[message_pb2.Message]:
        async for message in self._ops.list(request, await self._auth(context)):
            yield message

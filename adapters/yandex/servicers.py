"""ThreadService and MessageService: convert, call the core, convert back."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import grpc
from google.protobuf.message import Message

from adapters.yandex import converters as cv
from adapters.yandex._gen.yandex.cloud.ai.assistants.v1.threads import (
    message_pb2,
    message_service_pb2,
    message_service_pb2_grpc,
    thread_pb2,
    thread_service_pb2,
    thread_service_pb2_grpc,
)
from adapters.yandex.status import stream, unary
from core.access import Principal
from core.ports import Idempotency
from core.services import Core

Ctx = grpc.aio.ServicerContext[Any, Any]

STREAM_BATCH = 100


API_KEY_SCHEMES = frozenset({"bearer", "api-key"})


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
        self._core = core
        self._auth = authenticate
        self.authenticate = authenticate  # what status.unary/stream call before decoding


class ThreadServiceServicer(_Servicer, thread_service_pb2_grpc.ThreadServiceServicer):
    @unary
    async def Create(
        self, request: thread_service_pb2.CreateThreadRequest, context: Ctx
    ) -> thread_pb2.Thread:
        caller = await self._auth(context)
        new, messages = cv.create_request_to_core(request)
        thread = await self._core.threads.create(new, caller, messages, idempotency_of(request, context))
        return cv.thread_to_pb(thread)

    @unary
    async def Get(self, request: thread_service_pb2.GetThreadRequest, context: Ctx) -> thread_pb2.Thread:
        caller = await self._auth(context)
        return cv.thread_to_pb(await self._core.threads.get(request.thread_id, caller))

    @unary
    async def Update(
        self, request: thread_service_pb2.UpdateThreadRequest, context: Ctx
    ) -> thread_pb2.Thread:
        caller = await self._auth(context)
        update = cv.update_request_to_core(request)
        thread = await self._core.threads.update(request.thread_id, update, caller)
        return cv.thread_to_pb(thread)

    @unary
    async def Delete(
        self, request: thread_service_pb2.DeleteThreadRequest, context: Ctx
    ) -> thread_service_pb2.DeleteThreadResponse:
        caller = await self._auth(context)
        await self._core.threads.delete(request.thread_id, caller)
        return thread_service_pb2.DeleteThreadResponse()

    @unary
    async def List(
        self, request: thread_service_pb2.ListThreadsRequest, context: Ctx
    ) -> thread_service_pb2.ListThreadsResponse:
        caller = await self._auth(context)
        page = await self._core.threads.list(request.folder_id, caller, request.page_size, request.page_token)
        return thread_service_pb2.ListThreadsResponse(
            threads=[cv.thread_to_pb(t) for t in page.threads], next_page_token=page.next_page_token
        )


class MessageServiceServicer(_Servicer, message_service_pb2_grpc.MessageServiceServicer):
    @unary
    async def Create(
        self, request: message_service_pb2.CreateMessageRequest, context: Ctx
    ) -> message_pb2.Message:
        caller = await self._auth(context)
        new = cv.message_data_to_core(
            request.author if request.HasField("author") else None, request.content, request.labels
        )
        message = await self._core.messages.create(
            request.thread_id, new, caller, idempotency_of(request, context)
        )
        return cv.message_to_pb(message)

    @unary
    async def Get(self, request: message_service_pb2.GetMessageRequest, context: Ctx) -> message_pb2.Message:
        caller = await self._auth(context)
        return cv.message_to_pb(await self._core.messages.get(request.thread_id, request.message_id, caller))

    @stream
    async def List(
        self, request: message_service_pb2.ListMessagesRequest, context: Ctx
    ) -> AsyncIterator[message_pb2.Message]:
        caller = await self._auth(context)
        after: str | None = None
        while True:  # newest first, read in keyset pages so memory stays bounded
            page = await self._core.messages.list(
                request.thread_id, caller, order="desc", limit=STREAM_BATCH, after=after
            )
            for message in page.messages:
                yield cv.message_to_pb(message)
            if not page.has_more or not page.messages:
                return
            after = page.messages[-1].id

"""ThreadService and MessageService as operations on protobuf messages: convert, call the
core, convert back.  The gRPC servicers and the REST transcoding both call these, so
the two Yandex faces cannot drift apart."""

from __future__ import annotations

from collections.abc import AsyncIterator

from adapters.yandex import converters as cv
from adapters.yandex._gen.yandex.cloud.ai.assistants.v1.threads import (
    message_pb2,
    message_service_pb2,
    thread_pb2,
    thread_service_pb2,
)
from core.access import Principal
from core.ports import Idempotency
from core.services import Core

STREAM_BATCH = 100

# the Authorization schemes both Yandex faces take: "Bearer <key>" and "Api-Key <key>"
API_KEY_SCHEMES = frozenset({"bearer", "api-key"})


class ThreadOperations:
    def __init__(self, core: Core) -> None:
        self._core = core

    async def create(
        self,
        request: thread_service_pb2.CreateThreadRequest,
        caller: Principal,
        idempotency: Idempotency | None,
    ) -> thread_pb2.Thread:
        new, messages = cv.create_request_to_core(request)
        thread = await self._core.threads.create(new, caller, messages, idempotency)
        return cv.thread_to_pb(thread)

    async def get(self, request: thread_service_pb2.GetThreadRequest, caller: Principal) -> thread_pb2.Thread:
        return cv.thread_to_pb(await self._core.threads.get(request.thread_id, caller))

    async def update(
        self, request: thread_service_pb2.UpdateThreadRequest, caller: Principal
    ) -> thread_pb2.Thread:
        update = cv.update_request_to_core(request)
        return cv.thread_to_pb(await self._core.threads.update(request.thread_id, update, caller))

    async def delete(
        self, request: thread_service_pb2.DeleteThreadRequest, caller: Principal
    ) -> thread_service_pb2.DeleteThreadResponse:
        await self._core.threads.delete(request.thread_id, caller)
        return thread_service_pb2.DeleteThreadResponse()

    async def list(
        self, request: thread_service_pb2.ListThreadsRequest, caller: Principal
    ) -> thread_service_pb2.ListThreadsResponse:
        page = await self._core.threads.list(request.folder_id, caller, request.page_size, request.page_token)
        return thread_service_pb2.ListThreadsResponse(
            threads=[cv.thread_to_pb(t) for t in page.threads], next_page_token=page.next_page_token
        )


class MessageOperations:
    def __init__(self, core: Core) -> None:
        self._core = core

    async def create(
        self,
        request: message_service_pb2.CreateMessageRequest,
        caller: Principal,
        idempotency: Idempotency | None,
    ) -> message_pb2.Message:
        new = cv.message_data_to_core(
            request.author if request.HasField("author") else None, request.content, request.labels
        )
        return cv.message_to_pb(await self._core.messages.create(request.thread_id, new, caller, idempotency))

    async def get(
        self, request: message_service_pb2.GetMessageRequest, caller: Principal
    ) -> message_pb2.Message:
        return cv.message_to_pb(await self._core.messages.get(request.thread_id, request.message_id, caller))

    async def list(
        self, request: message_service_pb2.ListMessagesRequest, caller: Principal
    ) -> AsyncIterator[message_pb2.Message]:
        """Newest first, read in keyset pages so memory stays bounded."""
        after: str | None = None
        while True:
            page = await self._core.messages.list(
                request.thread_id, caller, order="desc", limit=STREAM_BATCH, after=after
            )
            for message in page.messages:
                yield cv.message_to_pb(message)
            if not page.has_more or not page.messages:
                return
            after = page.messages[-1].id

"""The Assistants threads routes: parse the OpenAI request, call the core, render the answer."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from adapters.openai import wire
from adapters.openai.converters import (
    file_ids_of,
    file_search_ids_of,
    message_json,
    message_to_core,
    thread_json,
)
from adapters.openai.requests import BadRequest, RequestReader, json_response
from core.access import Principal
from core.threads import NewThread, ThreadUpdate
from core.tools import with_file_search_ids

MISSING_BETA = (
    "You must provide the 'OpenAI-Beta' header to access the Assistants API. "
    "Please try again by setting the header 'OpenAI-Beta: assistants=v2'."
)
OLD_BETA = (
    "The v1 Assistants API has been deprecated. Please try again by setting the header "
    "'OpenAI-Beta: assistants=v2'."
)


def check_beta(header: str | None) -> None:
    values = {v.strip() for v in (header or "").split(",")}
    if "assistants=v2" in values:
        return
    raise BadRequest(OLD_BETA if "assistants=v1" in values else MISSING_BETA, code="invalid_beta")


class Endpoints(RequestReader):
    async def _caller(self, request: Request) -> Principal:
        """Authenticate the request (and check OpenAI-Beta, as the real API did)."""
        principal = await self._authenticate(request)
        if self._options.require_openai_beta:
            check_beta(request.headers.get("openai-beta"))
        return principal

    # -- threads ------------------------------------------------------------------

    async def create_thread(self, request: Request) -> Response:
        caller = await self._caller(request)
        body, raw = await self._body(request, wire.CreateThreadBody)
        resources = body.tool_resources
        if resources and resources.file_search and resources.file_search.vector_stores:
            raise BadRequest(
                "Creating vector stores is not supported by this server: pass existing ids in "
                "'tool_resources.file_search.vector_store_ids'.",
                param="tool_resources.file_search.vector_stores",
                code="unsupported_parameter",
            )
        new_messages = [message_to_core(m) for m in body.messages or ()]
        thread = await self._core.threads.create(
            NewThread(
                folder_id=self._folder_of(request, caller),
                labels=body.metadata or {},
                tools=with_file_search_ids((), file_search_ids_of(resources)),
                code_interpreter_file_ids=file_ids_of(resources),
            ),
            caller,
            new_messages,
            self._idempotency(request, raw),
        )
        return json_response(thread_json(thread))

    async def get_thread(self, request: Request) -> Response:
        caller = await self._caller(request)
        thread_id = self._id(request, "thread_id")
        thread = await self._core.threads.get(thread_id, caller)
        return json_response(thread_json(thread))

    async def modify_thread(self, request: Request) -> Response:
        caller = await self._caller(request)
        thread_id = self._id(request, "thread_id")
        body, raw = await self._body(request, wire.ModifyThreadBody)
        resources = body.tool_resources
        if resources and resources.file_search and resources.file_search.vector_stores:
            raise BadRequest(
                "Unknown parameter: 'tool_resources.file_search.vector_stores'.",
                param="tool_resources.file_search.vector_stores",
                code="unknown_parameter",
            )
        fields: set[str] = set()
        if "metadata" in raw:
            fields.add("labels")
        if "tool_resources" in raw:
            # replaces what OpenAI can see of the tools; the core keeps the rest
            fields |= {"file_search_ids", "code_interpreter_file_ids"}
        if not fields:
            thread = await self._core.threads.get(thread_id, caller)
            return json_response(thread_json(thread))
        thread = await self._core.threads.update(
            thread_id,
            ThreadUpdate(
                fields=frozenset(fields),
                labels=body.metadata or {},
                file_search_ids=file_search_ids_of(resources),
                code_interpreter_file_ids=file_ids_of(resources),
            ),
            caller,
        )
        return json_response(thread_json(thread))

    async def delete_thread(self, request: Request) -> Response:
        caller = await self._caller(request)
        thread_id = self._id(request, "thread_id")
        await self._core.threads.delete(thread_id, caller)
        return json_response({"id": thread_id, "object": "thread.deleted", "deleted": True})

    # -- messages -----------------------------------------------------------------

    async def create_message(self, request: Request) -> Response:
        caller = await self._caller(request)
        thread_id = self._id(request, "thread_id")
        body, raw = await self._body(request, wire.CreateMessageBody)
        message = await self._core.messages.create(
            thread_id, message_to_core(body), caller, self._idempotency(request, raw)
        )
        return json_response(message_json(message))

    async def list_messages(self, request: Request) -> Response:
        caller = await self._caller(request)
        thread_id = self._id(request, "thread_id")
        q = request.query_params
        limit, order = self._limit(request), self._order(request)
        page = await self._core.messages.list(
            thread_id,
            caller,
            order="asc" if order == "asc" else "desc",
            limit=limit,
            after=q.get("after") or None,
            before=q.get("before") or None,
            run_id=q.get("run_id") or None,
        )
        data = [message_json(m) for m in page.messages]
        return json_response(
            {
                "object": "list",
                "data": data,
                "first_id": data[0]["id"] if data else None,
                "last_id": data[-1]["id"] if data else None,
                "has_more": page.has_more,
            }
        )

    async def get_message(self, request: Request) -> Response:
        caller = await self._caller(request)
        thread_id = self._id(request, "thread_id")
        message_id = self._id(request, "message_id")
        return json_response(message_json(await self._core.messages.get(thread_id, message_id, caller)))

    async def modify_message(self, request: Request) -> Response:
        caller = await self._caller(request)
        thread_id = self._id(request, "thread_id")
        message_id = self._id(request, "message_id")
        body, raw = await self._body(request, wire.ModifyMessageBody)
        if "metadata" not in raw:
            return json_response(message_json(await self._core.messages.get(thread_id, message_id, caller)))
        message = await self._core.messages.update_labels(thread_id, message_id, body.metadata or {}, caller)
        return json_response(message_json(message))

    async def delete_message(self, request: Request) -> Response:
        caller = await self._caller(request)
        thread_id = self._id(request, "thread_id")
        message_id = self._id(request, "message_id")
        await self._core.messages.delete(thread_id, message_id, caller)
        return json_response({"id": message_id, "object": "thread.message.deleted", "deleted": True})

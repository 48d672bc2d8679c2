"""The Conversations routes: a conversation is a thread, its items are the thread's entries.

No ``OpenAI-Beta`` header is needed here.  The folder is the ``OpenAI-Project``
header (as in Yandex's compatible API), else the key's default folder.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from adapters.openai.items import conversation_json, entries_to_core, entry_json, item_list_json
from adapters.openai.requests import BadRequest, RequestReader, json_response
from core.access import Principal
from core.threads import MAX_CONVERSATION_ITEMS, ThreadUpdate

# OpenAI's IncludeEnum.  Accepted and checked; every stored field is always returned.
INCLUDABLE = (
    "file_search_call.results",
    "web_search_call.results",
    "web_search_call.action.sources",
    "message.input_image.image_url",
    "computer_call_output.output.image_url",
    "code_interpreter_call.outputs",
    "reasoning.encrypted_content",
    "message.output_text.logprobs",
)
# what the errors of these routes call the core's resources
NOUNS = {"thread": "conversation", "message": "item"}


def _labels(value: Any, param: str = "metadata") -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise BadRequest(f"Invalid type for '{param}': expected an object.", param, "invalid_type")
    for key, v in value.items():
        if not isinstance(v, str):
            raise BadRequest(
                f"Invalid type for '{param}.{key}': expected a string.", f"{param}.{key}", "invalid_type"
            )
    return value


def _only(raw: dict[str, Any], allowed: tuple[str, ...]) -> None:
    for key in raw:
        if key not in allowed:
            raise BadRequest(f"Unknown parameter: '{key}'.", key, "unknown_parameter")


class ConversationEndpoints(RequestReader):
    async def _caller(self, request: Request) -> Principal:
        request.state.nouns = NOUNS
        return await self._authenticate(request)

    @staticmethod
    def _check_include(request: Request) -> None:
        q = request.query_params
        for value in (*q.getlist("include[]"), *q.getlist("include")):
            if value not in INCLUDABLE:
                shown = ", ".join(f"'{v}'" for v in INCLUDABLE)
                raise BadRequest(
                    f"Invalid value: '{value[:64]}'. Supported values are: {shown}.",
                    "include",
                    "invalid_value",
                )

    async def create_conversation(self, request: Request) -> Response:
        caller = await self._caller(request)
        raw = await self._json(request)
        _only(raw, ("items", "metadata"))
        thread = await self._core.threads.create_conversation(
            self._folder_of(request, caller),
            _labels(raw.get("metadata")),
            entries_to_core(raw.get("items")),
            caller,
            self._idempotency(request, raw),
        )
        return json_response(conversation_json(thread))

    async def get_conversation(self, request: Request) -> Response:
        caller = await self._caller(request)
        thread = await self._core.threads.get(self._id(request, "conversation_id"), caller)
        return json_response(conversation_json(thread))

    async def modify_conversation(self, request: Request) -> Response:
        caller = await self._caller(request)
        conversation_id = self._id(request, "conversation_id")
        raw = await self._json(request)
        _only(raw, ("metadata",))
        if "metadata" not in raw:
            raise BadRequest(
                "Missing required parameter: 'metadata'.", "metadata", "missing_required_parameter"
            )
        # the whole map is replaced, as on threads; null clears it
        update = ThreadUpdate(fields=frozenset({"labels"}), labels=_labels(raw["metadata"]))
        thread = await self._core.threads.update(conversation_id, update, caller)
        return json_response(conversation_json(thread))

    async def delete_conversation(self, request: Request) -> Response:
        caller = await self._caller(request)
        conversation_id = self._id(request, "conversation_id")
        await self._core.threads.delete(conversation_id, caller)
        return json_response({"id": conversation_id, "object": "conversation.deleted", "deleted": True})

    async def create_items(self, request: Request) -> Response:
        caller = await self._caller(request)
        conversation_id = self._id(request, "conversation_id")
        self._check_include(request)
        raw = await self._json(request)
        _only(raw, ("items",))
        if raw.get("items") is None:
            raise BadRequest("Missing required parameter: 'items'.", "items", "missing_required_parameter")
        added = await self._core.messages.append(
            conversation_id,
            entries_to_core(raw["items"]),
            caller,
            self._idempotency(request, raw),
            maximum=MAX_CONVERSATION_ITEMS,
        )
        return json_response(item_list_json(added, has_more=False))

    async def list_items(self, request: Request) -> Response:
        caller = await self._caller(request)
        conversation_id = self._id(request, "conversation_id")
        limit, order = self._limit(request), self._order(request)
        self._check_include(request)
        page = await self._core.messages.list_entries(
            conversation_id,
            caller,
            order="asc" if order == "asc" else "desc",
            limit=limit,
            after=request.query_params.get("after") or None,
        )
        return json_response(item_list_json(page.messages, page.has_more))

    async def get_item(self, request: Request) -> Response:
        caller = await self._caller(request)
        conversation_id = self._id(request, "conversation_id")
        self._check_include(request)
        entry = await self._core.messages.get_entry(conversation_id, self._id(request, "item_id"), caller)
        return json_response(entry_json(entry))

    async def delete_item(self, request: Request) -> Response:
        """Answers with the conversation, as OpenAI does."""
        caller = await self._caller(request)
        conversation_id = self._id(request, "conversation_id")
        item_id = self._id(request, "item_id")
        await self._core.messages.delete(conversation_id, item_id, caller, plain_only=False)
        thread = await self._core.threads.get(conversation_id, caller)
        return json_response(conversation_json(thread))

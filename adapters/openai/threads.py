"""Thin REST handlers: parse the OpenAI request, call the core, render the answer."""

from __future__ import annotations

import re
from typing import Any, TypeVar

import cattrs
import orjson
from attrs import frozen
from starlette.requests import Request
from starlette.responses import Response

from adapters.openai import wire
from adapters.openai.converters import (
    field_problems,
    file_ids_of,
    file_search_ids_of,
    make_converter,
    message_json,
    message_to_core,
    thread_json,
)
from core.access import AccessRole, Principal
from core.ports import Idempotency
from core.services import Core
from core.threads import NewThread, ThreadUpdate
from core.tools import with_file_search_ids

T = TypeVar("T")

BEARER = frozenset({"bearer"})
_ID_SHAPE = re.compile(r"[A-Za-z0-9_\-]{1,128}")
_INTEGER = re.compile(r"-?[0-9]{1,9}", re.ASCII)


class BadRequest(Exception):
    """A request that fails before it reaches the core; rendered as a 400 (or ``status``)."""

    def __init__(
        self, message: str, param: str | None = None, code: str | None = None, status: int = 400
    ) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.code = code
        self.status = status


@frozen
class RestOptions:
    default_folder: str = "default"
    allow_anonymous: bool = False
    # like the real API, refuse requests without "OpenAI-Beta: assistants=v2"
    require_openai_beta: bool = True
    max_body_bytes: int = 2 * 1024 * 1024
    # seconds the whole request body has to arrive in (0: no limit)
    body_timeout: float = 30.0


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


def json_response(data: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(data), status_code=status, media_type="application/json")


class Endpoints:
    def __init__(self, core: Core, options: RestOptions) -> None:
        self._core = core
        self._options = options
        self._folder = options.default_folder
        self._converter = make_converter()

    async def _caller(self, request: Request) -> Principal:
        """Authenticate the request (and check OpenAI-Beta, as the real API did)."""
        principal = await self._authenticate(request)
        if self._options.require_openai_beta:
            check_beta(request.headers.get("openai-beta"))
        return principal

    async def _authenticate(self, request: Request) -> Principal:
        principal = await self._core.access.authenticate_header(
            request.headers.get("authorization"), BEARER, allow_anonymous=self._options.allow_anonymous
        )
        request.state.principal = principal
        return principal

    @staticmethod
    def _idempotency(request: Request, raw: dict[str, Any]) -> Idempotency | None:
        """An ``Idempotency-Key`` header makes a retried create return the first result."""
        key = request.headers.get("idempotency-key")
        if key is None:
            return None
        return Idempotency.of(key, orjson.dumps(raw, option=orjson.OPT_SORT_KEYS))

    def _folder_of(self, request: Request, principal: Principal) -> str:
        """The folder REST-created threads go to: OpenAI-Project, else the key's default."""
        project = request.headers.get("openai-project")
        if project:
            principal.require_folder(project, AccessRole.VIEWER)
            return project
        return self._folder if principal.folders is None else principal.default_folder

    async def _read(self, request: Request) -> bytes:
        limit = self._options.max_body_bytes
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                # Read (and drop) what the client is still sending, within reason:
                # Hypercorn cannot finish the exchange while a body is half read.
                async for rest in request.stream():
                    size += len(rest)
                    if size > 8 * limit:
                        break
                raise BadRequest(
                    f"Request body too large: the limit is {limit} bytes.",
                    code="request_too_large",
                    status=413,
                )
            chunks.append(chunk)
        return b"".join(chunks)

    async def _body(self, request: Request, cl: type[T]) -> tuple[T, dict[str, Any]]:
        raw = await self._read(request)
        if not raw.strip():
            data: Any = {}
        else:
            media = request.headers.get("content-type", "application/json").split(";")[0].strip().lower()
            if media != "application/json":
                raise BadRequest(
                    f"Unsupported content type: '{media}'. This API only accepts 'application/json' "
                    "request bodies.",
                    code="unsupported_content_type",
                )
            try:
                data = orjson.loads(raw)
            except orjson.JSONDecodeError:
                raise BadRequest(
                    "We could not parse the JSON body of your request. The API expects a JSON "
                    "payload, but what was sent was not valid JSON.",
                ) from None
        if not isinstance(data, dict):
            raise BadRequest("Invalid body: expected a JSON object.", code="invalid_type")
        try:
            return self._converter.structure(data, cl), data
        except (cattrs.BaseValidationError, ValueError, TypeError, KeyError) as exc:
            problems = field_problems(exc)
            if not problems:
                raise BadRequest("Invalid request body.") from None
            # like OpenAI, name an unknown parameter before anything else
            first = min(problems, key=lambda p: p.code != "unknown_parameter")
            raise BadRequest(first.message, first.param, first.code) from None

    @staticmethod
    def _id(request: Request, name: str, prefix: str) -> str:
        value = str(request.path_params[name])
        if not value.startswith(prefix) or not _ID_SHAPE.fullmatch(value):
            raise BadRequest(
                f"Invalid '{name}': '{value}'. Expected an ID that begins with '{prefix.rstrip('_')}'.",
                param=name,
                code="invalid_id_prefix",
            )
        return value

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
        thread_id = self._id(request, "thread_id", "thread_")
        thread = await self._core.threads.get(thread_id, caller)
        return json_response(thread_json(thread))

    async def modify_thread(self, request: Request) -> Response:
        caller = await self._caller(request)
        thread_id = self._id(request, "thread_id", "thread_")
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
        thread_id = self._id(request, "thread_id", "thread_")
        await self._core.threads.delete(thread_id, caller)
        return json_response({"id": thread_id, "object": "thread.deleted", "deleted": True})

    # -- messages -----------------------------------------------------------------

    async def create_message(self, request: Request) -> Response:
        caller = await self._caller(request)
        thread_id = self._id(request, "thread_id", "thread_")
        body, raw = await self._body(request, wire.CreateMessageBody)
        message = await self._core.messages.create(
            thread_id, message_to_core(body), caller, self._idempotency(request, raw)
        )
        return json_response(message_json(message))

    async def list_messages(self, request: Request) -> Response:
        caller = await self._caller(request)
        thread_id = self._id(request, "thread_id", "thread_")
        q = request.query_params
        limit_text = q.get("limit", "20")
        if _INTEGER.fullmatch(limit_text):
            limit = int(limit_text)
        else:
            raise BadRequest(
                f"Invalid 'limit': expected an integer, but got '{limit_text}' instead.",
                param="limit",
                code="invalid_type",
            )
        order = q.get("order", "desc")
        if order not in ("asc", "desc"):
            raise BadRequest(
                f"Invalid value: '{order}'. Supported values are: 'asc' and 'desc'.",
                param="order",
                code="invalid_value",
            )
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
        thread_id = self._id(request, "thread_id", "thread_")
        message_id = self._id(request, "message_id", "msg_")
        return json_response(message_json(await self._core.messages.get(thread_id, message_id, caller)))

    async def modify_message(self, request: Request) -> Response:
        caller = await self._caller(request)
        thread_id = self._id(request, "thread_id", "thread_")
        message_id = self._id(request, "message_id", "msg_")
        body, raw = await self._body(request, wire.ModifyMessageBody)
        if "metadata" not in raw:
            return json_response(message_json(await self._core.messages.get(thread_id, message_id, caller)))
        message = await self._core.messages.update_labels(thread_id, message_id, body.metadata or {}, caller)
        return json_response(message_json(message))

    async def delete_message(self, request: Request) -> Response:
        caller = await self._caller(request)
        thread_id = self._id(request, "thread_id", "thread_")
        message_id = self._id(request, "message_id", "msg_")
        await self._core.messages.delete(thread_id, message_id, caller)
        return json_response({"id": message_id, "object": "thread.message.deleted", "deleted": True})

"""What every OpenAI route does with a request before the core sees it: credentials,
the folder, the body (bounded, JSON, structured), idempotency keys, path ids."""

from __future__ import annotations

import re
from typing import Any, TypeVar

import cattrs
import orjson
from attrs import frozen
from starlette.requests import Request
from starlette.responses import Response

from adapters.body_limits import BodyTooLarge, read_capped
from adapters.openai.converters import field_problems, make_converter
from core.access import AccessRole, Principal
from core.ports import Idempotency
from core.services import Core
from core.validation import MAX_ID, usable_id

T = TypeVar("T")

BEARER = frozenset({"bearer"})
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
    # like the real API, refuse Assistants requests without "OpenAI-Beta: assistants=v2"
    require_openai_beta: bool = True
    max_body_bytes: int = 2 * 1024 * 1024
    # seconds the whole request body has to arrive in (0: no limit)
    body_timeout: float = 30.0


def json_response(data: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(data), status_code=status, media_type="application/json")


class RequestReader:
    """The request side both OpenAI route sets share."""

    def __init__(self, core: Core, options: RestOptions) -> None:
        self._core = core
        self._options = options
        self._folder = options.default_folder
        self._converter = make_converter()

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
        """The folder new threads go to: OpenAI-Project, else the key's default."""
        project = request.headers.get("openai-project")
        if project:
            principal.require_folder(project, AccessRole.VIEWER)
            return project
        return self._folder if principal.folders is None else principal.default_folder

    async def _read(self, request: Request) -> bytes:
        try:
            return await read_capped(request, self._options.max_body_bytes)
        except BodyTooLarge as exc:
            raise BadRequest(
                f"Request body too large: the limit is {exc.limit} bytes.",
                code="request_too_large",
                status=413,
            ) from None

    async def _json(self, request: Request) -> dict[str, Any]:
        """The body as a JSON object (an empty body is ``{}``)."""
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
        return data

    async def _body(self, request: Request, cl: type[T]) -> tuple[T, dict[str, Any]]:
        data = await self._json(request)
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
    def _id(request: Request, name: str) -> str:
        """A path id.  Any id the store holds works on every face, whichever face or
        vendor made it, so no prefix is required; an id that names nothing is a 404."""
        value = str(request.path_params[name])
        if not usable_id(value):
            raise BadRequest(
                f"Invalid '{name}': an ID has at most {MAX_ID} characters and no NUL character.",
                param=name,
                code="invalid_value",
            )
        return value

    @staticmethod
    def _limit(request: Request) -> int:
        text = request.query_params.get("limit", "20")
        if not _INTEGER.fullmatch(text):
            raise BadRequest(
                f"Invalid 'limit': expected an integer, but got '{text}' instead.",
                param="limit",
                code="invalid_type",
            )
        return int(text)

    @staticmethod
    def _order(request: Request) -> str:
        order = request.query_params.get("order", "desc")
        if order not in ("asc", "desc"):
            raise BadRequest(
                f"Invalid value: '{order}'. Supported values are: 'asc' and 'desc'.",
                param="order",
                code="invalid_value",
            )
        return order

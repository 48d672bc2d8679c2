"""Operations routes of the HTTP host: liveness, readiness, metrics and the API document."""

from __future__ import annotations

import asyncio
from pathlib import Path

import orjson
from starlette.requests import Request
from starlette.responses import Response

from adapters.observability import Metrics
from adapters.openai.errors import error_response
from core.services import Core

OPENAPI_JSON = (Path(__file__).parent / "openapi.json").read_bytes()
# seconds /ready waits for the store's write probe: a frozen store must not hang it
READY_TIMEOUT = 2.0


class Operations:
    def __init__(self, core: Core, metrics: Metrics) -> None:
        self._core = core
        self._metrics = metrics

    async def openapi(self, request: Request) -> Response:
        return Response(OPENAPI_JSON, media_type="application/json")

    async def metrics(self, request: Request) -> Response:
        return Response(self._metrics.exposition(), media_type="text/plain; version=0.0.4; charset=utf-8")

    async def health(self, request: Request) -> Response:
        return Response(orjson.dumps({"status": "ok"}), media_type="application/json")

    async def ready(self, request: Request) -> Response:
        """200 while the store can write; 503 at once (within ``READY_TIMEOUT``) otherwise."""
        try:
            await asyncio.wait_for(self._core.store.ping(), READY_TIMEOUT)
        except Exception:
            return error_response(
                503, "The store is not reachable.", type_="server_error", code="store_unavailable", retry=True
            )
        return Response(orjson.dumps({"status": "ready"}), media_type="application/json")

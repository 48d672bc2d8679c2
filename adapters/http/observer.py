"""Pure ASGI middleware: request id in and out, metrics, one log line per request."""

from __future__ import annotations

import time
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from adapters.observability import Metrics, log_request, request_id_from


class RequestObserver:
    """Pure ASGI middleware: request id in and out, metrics, one log line per request."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self._app = app
        self._metrics = metrics

    async def __call__(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
    ) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        client_id = None
        for name, value in scope.get("headers") or ():
            if name == b"x-client-request-id":
                client_id = value.decode("latin-1")
                break
        request_id = request_id_from(client_id)
        request_id_header = (b"x-request-id", request_id.encode())
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        status = 500
        start = time.perf_counter()

        async def send_with_id(message: Any) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), request_id_header]
            await send(message)

        try:
            await self._app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - start
            status = state.get("outcome", status)  # set when there was nobody to answer (499)
            endpoint = scope.get("endpoint")
            method = getattr(endpoint, "__name__", "unmatched")
            self._metrics.observe("rest", method, str(status), elapsed)
            principal = state.get("principal")
            log_request(
                {
                    "protocol": "rest",
                    "request_id": request_id,
                    "method": method,
                    "http_method": scope.get("method"),
                    "path": scope.get("path"),
                    "status": status,
                    "duration_ms": round(elapsed * 1000, 3),
                    "key_id": getattr(principal, "key_id", None) or None,
                    # a face that sends a trace id of its own (Yandex REST: x-server-trace-id)
                    **({"trace_id": state["trace_id"]} if "trace_id" in state else {}),
                }
            )

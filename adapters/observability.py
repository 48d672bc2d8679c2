"""Metrics, request ids and one structured log line per request, for both protocols."""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import Any

import grpc
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

from adapters.grpc.errors import Undecodable, abort_with, invalid_argument_status
from core.expiry import SweepTotals

request_log = logging.getLogger("threadgate.request")

_REQUEST_ID = re.compile(r"[A-Za-z0-9._:\-]{1,128}")
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def request_id_from(candidate: str | None) -> str:
    """The client's id (``x-client-request-id``) when it is sane, else a new one."""
    if candidate and _REQUEST_ID.fullmatch(candidate):
        return candidate
    return uuid.uuid4().hex


class JsonFormatter(logging.Formatter):
    """One JSON object per line; request lines carry their fields at the top level."""

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "ts": round(record.created, 6),
            "level": record.levelname.lower(),
            "logger": record.name,
            "pid": record.process,
            "msg": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            data.update(fields)
        if record.exc_info:
            data["error"] = self.formatException(record.exc_info)
        return json.dumps(data, ensure_ascii=False)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "threadgate_requests",
            "Requests handled, by protocol, method and outcome (HTTP status or gRPC code).",
            ["protocol", "method", "outcome"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "threadgate_request_seconds",
            "Time to handle a request, by protocol and method.",
            ["protocol", "method"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.store_latency = Histogram(
            "threadgate_store_seconds",
            "Time the store took per operation.",
            ["operation"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )

    def watch_sweeper(self, totals: SweepTotals) -> None:
        self.registry.register(_SweeperCollector(totals))

    def observe(self, protocol: str, method: str, outcome: str, seconds: float) -> None:
        self.requests.labels(protocol, method, outcome).inc()
        self.latency.labels(protocol, method).observe(seconds)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class _SweeperCollector(Collector):
    def __init__(self, totals: SweepTotals) -> None:
        self._totals = totals

    def collect(self) -> Iterable[CounterMetricFamily]:
        t = self._totals
        yield CounterMetricFamily(
            "threadgate_sweeper_threads_deleted", "Expired threads deleted.", value=t.threads
        )
        yield CounterMetricFamily(
            "threadgate_sweeper_messages_deleted", "Messages of expired threads deleted.", value=t.messages
        )
        yield CounterMetricFamily("threadgate_sweeper_batches", "Sweep transactions run.", value=t.batches)


def log_request(fields: dict[str, Any]) -> None:
    request_log.info("request", extra={"fields": fields})


class MeasuredStore:
    """Wraps any store: every awaited port method is timed into ``store_seconds``."""

    def __init__(self, inner: Any, metrics: Metrics) -> None:
        self._inner = inner
        self._metrics = metrics

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._inner, name)
        if not callable(attr) or name.startswith("_"):
            return attr
        histogram = self._metrics.store_latency.labels(name)

        async def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return await attr(*args, **kwargs)
            finally:
                histogram.observe(time.perf_counter() - start)

        # built once per method: later lookups find the attribute and skip __getattr__
        setattr(self, name, timed)
        return timed


# -- REST ------------------------------------------------------------------------

ASGIApp = Callable[
    [dict[str, Any], Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]], Awaitable[None]
]


class RequestObserver:
    """Pure ASGI middleware: request id in and out, metrics, one log line per request."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self._app = app
        self._metrics = metrics

    async def __call__(
        self,
        scope: dict[str, Any],
        receive: Callable[[], Awaitable[Any]],
        send: Callable[[Any], Awaitable[None]],
    ) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or ())
        client_id = headers.get(b"x-client-request-id", b"").decode("latin-1")
        request_id = request_id_from(client_id)
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        status = 500
        start = time.perf_counter()

        async def send_with_id(message: Any) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            await self._app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - start
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
                }
            )


# -- gRPC ------------------------------------------------------------------------


def _metadata(details: grpc.HandlerCallDetails, key: str) -> str | None:
    for k, v in details.invocation_metadata or ():
        if k == key:
            return v if isinstance(v, str) else v.decode("latin-1")
    return None


class GrpcObserver(grpc.aio.ServerInterceptor):
    """Request id (from ``x-client-request-id``, returned as ``x-request-id`` initial
    metadata), metrics and a log line for every call; keeps each RPC's cardinality."""

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[Any, Any] | None]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        handler = await continuation(handler_call_details)
        if handler is None:
            return handler
        full = handler_call_details.method
        if not full.startswith("/yandex."):
            return handler  # health and reflection: not counted
        method = full.rsplit(".", 1)[-1]  # ThreadService/Create
        request_id = request_id_from(_metadata(handler_call_details, "x-client-request-id"))
        observe = self._finish

        async def begin(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> float:
            await context.send_initial_metadata((("x-request-id", request_id),))
            start = time.perf_counter()
            if isinstance(request, Undecodable):
                # bytes that are not the request message: INVALID_ARGUMENT (grpcio's own
                # handling of a failing deserializer would answer UNKNOWN with a traceback)
                observe(method, request_id, context, start, "INVALID_ARGUMENT")
                undecodable = invalid_argument_status("request", "The request could not be decoded.")
                await abort_with(context, undecodable)
            return start

        if handler.unary_unary:
            inner: Any = handler.unary_unary

            async def unary(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
                start = await begin(request, context)
                try:
                    return await inner(request, context)
                finally:
                    observe(method, request_id, context, start)

            return grpc.unary_unary_rpc_method_handler(
                unary, handler.request_deserializer, handler.response_serializer
            )
        if handler.unary_stream:
            inner_stream: Any = handler.unary_stream

            async def streaming(
                request: Any, context: grpc.aio.ServicerContext[Any, Any]
            ) -> AsyncIterator[Any]:
                start = await begin(request, context)
                try:
                    async for item in inner_stream(request, context):
                        yield item
                finally:
                    observe(method, request_id, context, start)

            return grpc.unary_stream_rpc_method_handler(
                streaming, handler.request_deserializer, handler.response_serializer
            )
        return handler

    def _finish(
        self,
        method: str,
        request_id: str,
        context: grpc.aio.ServicerContext[Any, Any],
        start: float,
        outcome: str | None = None,
    ) -> None:
        elapsed = time.perf_counter() - start
        if outcome is None:
            code = context.code()
            outcome = "OK" if code is None else getattr(code, "name", str(code))
        self._metrics.observe("grpc", method, outcome, elapsed)
        log_request(
            {
                "protocol": "grpc",
                "request_id": request_id,
                "method": method,
                "status": outcome,
                "duration_ms": round(elapsed * 1000, 3),
            }
        )

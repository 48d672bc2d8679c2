"""Metrics, request ids and one structured log line per request: what every host shares.

Protocol-neutral: the HTTP host's middleware (``adapters/http/observer.py``) and the gRPC
host's method wrapper (``adapters/grpc/observer.py``) feed it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import re
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, TextIO, TypeVar

import orjson
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

from adapters.loop_metrics import LoopCounter, LoopHistogram
from adapters.storage.outage_log import OutageLog
from core.access import ApiKey
from core.errors import Unavailable
from core.expiry import SweepTotals
from core.model import Entry, Thread
from core.ports import MessagePage, Store, SweepResult

T = TypeVar("T")

request_log = logging.getLogger("threadgate.request")

_REQUEST_ID = re.compile(r"[A-Za-z0-9._:\-]{1,128}")
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def request_id_from(candidate: str | None) -> str:
    """The client's id (``x-client-request-id``) when it is sane, else a new one: 128
    random bits in hex.  Ids need to be unique, not unpredictable, so they come from
    ``random`` (reseeded in every process) rather than a system call per request."""
    if candidate and _REQUEST_ID.fullmatch(candidate):
        return candidate
    return f"{random.getrandbits(128):032x}"


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
        return orjson.dumps(data, default=str).decode()


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = LoopCounter(
            "threadgate_requests",
            "Requests handled, by protocol, method and outcome (HTTP status or gRPC code).",
            ["protocol", "method", "outcome"],
        )
        self.latency = LoopHistogram(
            "threadgate_request_seconds",
            "Time to handle a request, by protocol and method.",
            ["protocol", "method"],
            LATENCY_BUCKETS,
        )
        self.store_latency = LoopHistogram(
            "threadgate_store_seconds",
            "Time the store took per operation.",
            ["operation"],
            LATENCY_BUCKETS,
        )
        for collector in (self.requests, self.latency, self.store_latency):
            self.registry.register(collector)

    def watch_sweeper(self, totals: SweepTotals) -> None:
        self.registry.register(_SweeperCollector(totals))

    def watch_commits(self, totals: Callable[[], tuple[int, int]]) -> None:
        """``totals()`` gives (transactions committed, writes in them) of a group-committing store."""
        self.registry.register(_CommitCollector(totals))

    def observe(self, protocol: str, method: str, outcome: str, seconds: float) -> None:
        """Count and time one request (on the event-loop thread, like every update)."""
        self.requests.cell(protocol, method, outcome)[0] += 1
        self.latency.series(protocol, method).observe(seconds)

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


class _CommitCollector(Collector):
    def __init__(self, totals: Callable[[], tuple[int, int]]) -> None:
        self._totals = totals

    def collect(self) -> Iterable[CounterMetricFamily]:
        commits, writes = self._totals()
        yield CounterMetricFamily(
            "threadgate_store_commits", "Write transactions committed (one fsync each).", value=commits
        )
        yield CounterMetricFamily(
            "threadgate_store_writes",
            "Writes committed; over threadgate_store_commits, the group-commit batch size.",
            value=writes,
        )


class RequestLines:
    """The request log's fast path: one JSON line per request, in ``JsonFormatter``'s
    shape, written to ``stream`` once per event-loop turn for all the requests that
    finished in it.  Going through ``logging`` (a ``LogRecord``, caller lookup,
    formatter, a flushed write per line) cost about 10 µs a request."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._pid = os.getpid()
        self._pending: list[bytes] = []

    def write(self, fields: dict[str, Any]) -> None:
        line = {
            "ts": round(time.time(), 6),
            "level": "info",
            "logger": request_log.name,
            "pid": self._pid,
            "msg": "request",
            **fields,
        }
        self._pending.append(orjson.dumps(line, default=str))
        if len(self._pending) == 1:
            try:
                asyncio.get_running_loop().call_soon(self.flush)
            except RuntimeError:  # no loop (a tool, a test): write now
                self.flush()

    def flush(self) -> None:
        if not self._pending:
            return
        text = b"\n".join(self._pending).decode() + "\n"
        self._pending.clear()
        with contextlib.suppress(OSError, ValueError):  # a closed stream loses log lines, not requests
            self._stream.write(text)
            self._stream.flush()


_request_lines: RequestLines | None = None


def write_request_lines_to(stream: TextIO | None) -> None:
    """Send request lines straight to ``stream`` (what ``threadgate serve`` does), or
    back through the ``threadgate.request`` logger with None."""
    global _request_lines
    if _request_lines is not None:
        _request_lines.flush()
    _request_lines = None if stream is None else RequestLines(stream)


def log_request(fields: dict[str, Any]) -> None:
    if not request_log.isEnabledFor(logging.INFO):
        return
    if _request_lines is not None:
        _request_lines.write(fields)
    else:
        request_log.info("request", extra={"fields": fields})


class MeasuredStore:
    """Wraps any store: every port method is timed into ``store_seconds``, and every
    ``Unavailable`` it raises goes to one ``OutageLog`` (a few lines per outage).

    One method per port method, so that it is a ``Store`` to the type checker and a
    new port method cannot be left unmeasured.
    """

    def __init__(self, inner: Store, metrics: Metrics, outages: OutageLog | None = None) -> None:
        self._inner = inner
        self._metrics = metrics
        self._outages = outages or OutageLog()

    async def _timed(self, name: str, call: Awaitable[T]) -> T:
        start = time.perf_counter()
        try:
            result = await call
        except Unavailable as exc:
            self._outages.failed(name, exc)
            raise
        finally:
            self._metrics.store_latency.series(name).observe(time.perf_counter() - start)
        if name == "ping":  # only a write probe that succeeds ends an outage
            self._outages.available()
        return result

    async def create_thread(self, *a: Any, **k: Any) -> Thread:
        return await self._timed("create_thread", self._inner.create_thread(*a, **k))

    async def get_thread(self, *a: Any, **k: Any) -> Thread | None:
        return await self._timed("get_thread", self._inner.get_thread(*a, **k))

    async def update_thread(self, *a: Any, **k: Any) -> Thread | None:
        return await self._timed("update_thread", self._inner.update_thread(*a, **k))

    async def delete_thread(self, *a: Any, **k: Any) -> bool:
        return await self._timed("delete_thread", self._inner.delete_thread(*a, **k))

    async def list_threads(self, *a: Any, **k: Any) -> list[Thread]:
        return await self._timed("list_threads", self._inner.list_threads(*a, **k))

    async def append_messages(self, *a: Any, **k: Any) -> list[Entry] | None:
        return await self._timed("append_messages", self._inner.append_messages(*a, **k))

    async def get_message(self, *a: Any, **k: Any) -> Entry | None:
        return await self._timed("get_message", self._inner.get_message(*a, **k))

    async def list_messages(self, *a: Any, **k: Any) -> MessagePage | None:
        return await self._timed("list_messages", self._inner.list_messages(*a, **k))

    async def update_message(self, *a: Any, **k: Any) -> Entry | None:
        return await self._timed("update_message", self._inner.update_message(*a, **k))

    async def delete_message(self, *a: Any, **k: Any) -> bool:
        return await self._timed("delete_message", self._inner.delete_message(*a, **k))

    async def delete_expired(self, *a: Any, **k: Any) -> SweepResult:
        return await self._timed("delete_expired", self._inner.delete_expired(*a, **k))

    async def forget_idempotency(self, *a: Any, **k: Any) -> int:
        return await self._timed("forget_idempotency", self._inner.forget_idempotency(*a, **k))

    async def add_key(self, *a: Any, **k: Any) -> None:
        await self._timed("add_key", self._inner.add_key(*a, **k))

    async def get_key(self, *a: Any, **k: Any) -> ApiKey | None:
        return await self._timed("get_key", self._inner.get_key(*a, **k))

    async def list_keys(self, *a: Any, **k: Any) -> list[ApiKey]:
        return await self._timed("list_keys", self._inner.list_keys(*a, **k))

    async def revoke_key(self, *a: Any, **k: Any) -> bool:
        return await self._timed("revoke_key", self._inner.revoke_key(*a, **k))

    async def ping(self) -> None:
        await self._timed("ping", self._inner.ping())

    async def close(self) -> None:
        await self._timed("close", self._inner.close())

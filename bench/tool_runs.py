"""Loads (``bench.stats.Load``) driven by wrk and h2load (``bench.load_tools``).

A run is a warm-up invocation of the tool (unmeasured), then a measured one; the CPU
counters of the server, this machine and the tool are read just around the measured
one.  With ``labels`` (the (protocol, method) threadgate counts the request under), the
server's ``/metrics`` are scraped before and after it, outside the CPU window: every
outcome other than gRPC OK or REST 2xx is an error, a cross-check of what the tool saw.
A run in which no request completed at all is repeated after a pause, a few times.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import attrs
import grpc
import httpx

from bench.cpus import Window
from bench.load_tools import GrpcSpec, HttpSpec, ToolResult, run_h2load, run_wrk
from bench.rounds import log
from bench.server_metrics import Labels, failures, outcomes, scrape
from bench.stats import Load, Sample
from testkit.server import Server

STALL_RETRIES = 3
STALL_PAUSE = 1.0  # seconds before the retry

# a request to send: fixed, or made afresh for every invocation (e.g. in a new thread)
HttpSource = HttpSpec | Callable[[], Awaitable[HttpSpec]]
GrpcSource = GrpcSpec | Callable[[], Awaitable[GrpcSpec]]
# one invocation of a tool: (concurrency, seconds) -> its result
Invoke = Callable[[int, float], Awaitable[ToolResult]]


async def resolve(spec: HttpSource | GrpcSource) -> HttpSpec | GrpcSpec:
    return spec if isinstance(spec, HttpSpec | GrpcSpec) else await spec()


async def call_once(server: Server, request: HttpSpec | GrpcSpec) -> Any:
    """The exact request the tool will send, once, through httpx or a grpc.aio channel: the
    parsed JSON body (REST, which must answer 200), the reply's bytes, or a stream's."""
    if isinstance(request, HttpSpec):
        body = None if request.body is None else request.body.encode()
        async with httpx.AsyncClient(base_url=server.origin, timeout=10) as client:
            r = await client.request(request.method, request.paths[0], headers=request.headers, content=body)
        if r.status_code != 200:
            raise RuntimeError(f"{request.method} {request.paths[0]}: HTTP {r.status_code} {r.text[:300]}")
        return r.json()
    metadata = tuple(request.metadata.items())
    async with grpc.aio.insecure_channel(server.grpc_target) as channel:
        if request.stream:
            stream: grpc.aio.UnaryStreamMultiCallable[bytes, bytes] = channel.unary_stream(request.path)
            return [item async for item in stream(request.body, metadata=metadata, timeout=10)]
        unary: grpc.aio.UnaryUnaryMultiCallable[bytes, bytes] = channel.unary_unary(request.path)
        return await unary(request.body, metadata=metadata, timeout=10)


async def _measured(server: Server, invoke: Invoke, concurrency: int, duration: float, what: str) -> Sample:
    for attempt in range(STALL_RETRIES + 1):
        before = Window.now(server.pid)
        result = await invoke(concurrency, duration)
        after = Window.now(server.pid)
        if result.completed or attempt == STALL_RETRIES:
            break
        log(
            f"{what} on {server.name}: no request completed in {result.seconds:.2f}s (server CPU "
            f"{after.server - before.server:.2f}s); again in {STALL_PAUSE:g}s"
        )
        await asyncio.sleep(STALL_PAUSE)
    return Sample(
        concurrency=concurrency,
        seconds=result.seconds,
        latencies=result.latencies,
        errors=result.errors,
        server_cpu=after.server - before.server,
        # the tool's CPU, and this process's (idle but for starting it and reading its output)
        client_cpu=result.cpu + (after.own - before.own),
        system_cpu=after.system - before.system,
        steal=after.steal - before.steal,
        first_error=result.error_text,
    )


async def _counted(server: Server, labels: Labels, run: Callable[[], Awaitable[Sample]]) -> Sample:
    """``run``, with the errors the server counted under ``labels`` in its window."""
    before = await scrape(server)
    sample = await run()
    seen = outcomes(before, await scrape(server), labels)
    failed = failures(labels, seen)
    n_failed, ok = sum(failed.values()), sum(seen.values()) - sum(failed.values())
    if n_failed > sample.errors or ok < len(sample.latencies):
        log(
            f"{labels}: the server counted {ok} OK and {failed or 'no'} failures, "
            f"the tool {len(sample.latencies)} answers and {sample.errors} errors"
        )
    if n_failed <= sample.errors:
        return sample
    detail = ", ".join(f"{n} x {outcome}" for outcome, n in sorted(failed.items()))
    first = f"server metrics: {detail}" + (f"; {sample.first_error}" if sample.first_error else "")
    return attrs.evolve(sample, errors=n_failed, first_error=first)


def tool_load(server: Server, invoke: Invoke, what: str, labels: Labels | None) -> Load:
    async def load(concurrency: int, duration: float, warmup: float) -> Sample:
        if warmup > 0:
            await invoke(concurrency, warmup)

        async def run() -> Sample:
            return await _measured(server, invoke, concurrency, duration, what)

        return await (run() if labels is None else _counted(server, labels, run))

    return load


def wrk_load(server: Server, spec: HttpSource | GrpcSource, labels: Labels | None = None) -> Load:
    """wrk ``-t1 -c<concurrency>``: one keep-alive connection per request in flight."""

    async def invoke(concurrency: int, seconds: float) -> ToolResult:
        request = await resolve(spec)
        assert isinstance(request, HttpSpec)
        return await asyncio.to_thread(run_wrk, server.origin, request, concurrency, seconds)

    return tool_load(server, invoke, "wrk", labels)


def h2load_load(server: Server, spec: HttpSource | GrpcSource, labels: Labels | None = None) -> Load:
    """h2load ``-c1 -m<concurrency>``: one HTTP/2 connection, that many streams."""

    async def invoke(concurrency: int, seconds: float) -> ToolResult:
        request = await resolve(spec)
        assert isinstance(request, GrpcSpec)
        return await asyncio.to_thread(run_h2load, server.grpc_target, request, concurrency, seconds)

    return tool_load(server, invoke, "h2load", labels)

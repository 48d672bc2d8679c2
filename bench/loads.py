"""Loads (``bench.load.Load``) driven by the external tools of ``bench/tools.py``, or by
this process through httpx for the same request (``--rest-tool httpx``).

A run is a warm-up invocation of the tool (unmeasured) and then a measured one; the
server's CPU time, this machine's and the tool's own are read just before the
measured invocation starts and just after it ends.  For threadgate, whose outcomes
the tools cannot always see (h2load: gRPC errors are HTTP 200), the server's
Prometheus counter ``threadgate_requests_total`` is scraped before and after the
measured invocation, outside the CPU window: every outcome of the measured method
other than OK (gRPC) or 2xx (REST) in that window is an error.  For REST that is a
cross-check of wrk's count.
"""

from __future__ import annotations

import asyncio
import itertools
import random
from collections.abc import Awaitable, Callable
from typing import Protocol

import httpx

from bench.load import Call, Close, Load, Open, Sample, python_load
from bench.servers import ServerProcess
from bench.tools import (
    Counts,
    GrpcSpec,
    HttpSpec,
    Window,
    changed_methods,
    outcomes,
    process_state,
    request_counts,
    run_h2load,
    run_wrk,
    stall_probe,
    to_sample,
)

REQUEST_TIMEOUT = 10.0
# a run in which no request completed at all is repeated, at most this many times
STALL_RETRIES = 3
STALL_PAUSE = 1.0  # seconds before the retry

# a request to send: fixed, or made afresh for every invocation (e.g. in a new thread)
HttpSource = HttpSpec | Callable[[], Awaitable[HttpSpec]]
GrpcSource = GrpcSpec | Callable[[], Awaitable[GrpcSpec]]


async def _http(spec: HttpSource) -> HttpSpec:
    return spec if isinstance(spec, HttpSpec) else await spec()


async def _grpc(spec: GrpcSource) -> GrpcSpec:
    return spec if isinstance(spec, GrpcSpec) else await spec()


def _log(text: str) -> None:
    from bench.scenarios import log  # bench.scenarios imports this module

    log(text)


async def scrape(server: ServerProcess) -> Counts:
    """threadgate's request counters, from ``GET /metrics`` on its REST port."""
    async with httpx.AsyncClient(timeout=REQUEST_TIMEOUT) as client:
        r = await client.get(server.url("/metrics"))
        r.raise_for_status()
        return request_counts(r.text)


def _failures(protocol: str, seen: dict[str, int]) -> dict[str, int]:
    ok = "OK" if protocol == "grpc" else "2"
    return {k: v for k, v in seen.items() if not k.startswith(ok)}


async def _counted(
    server: ServerProcess, metric: tuple[str, str] | None, run: Callable[[], Awaitable[Sample]]
) -> Sample:
    """``run``, with the server's own error count of ``metric`` (protocol, method) in its window."""
    if metric is None:
        return await run()
    before = await scrape(server)
    sample = await run()
    after = await scrape(server)
    seen = outcomes(before, after, *metric)
    failed = _failures(metric[0], seen)
    n_failed = sum(failed.values())
    ok = sum(seen.values()) - n_failed
    if n_failed > sample.errors or ok < len(sample.latencies):
        _log(
            f"{metric[0]} {metric[1]}: the server counted {ok} OK and {failed or 'no'} failures, "
            f"the tool {len(sample.latencies)} answers and {sample.errors} errors"
        )
    if n_failed <= sample.errors:
        return sample
    detail = ", ".join(f"{n} x {outcome}" for outcome, n in sorted(failed.items()))
    return Sample(
        concurrency=sample.concurrency,
        seconds=sample.seconds,
        latencies=sample.latencies,
        errors=n_failed,
        server_cpu=sample.server_cpu,
        client_cpu=sample.client_cpu,
        system_cpu=sample.system_cpu,
        steal=sample.steal,
        first_error=f"server metrics: {detail}" + (f"; {sample.first_error}" if sample.first_error else ""),
    )


class ToolResult(Protocol):
    @property
    def seconds(self) -> float: ...
    @property
    def latencies(self) -> list[float]: ...
    @property
    def errors(self) -> int: ...
    @property
    def completed(self) -> int: ...
    @property
    def cpu(self) -> float: ...
    def describe_errors(self) -> str | None: ...


async def _measured(
    server: ServerProcess,
    concurrency: int,
    duration: float,
    invoke: Callable[[], Awaitable[ToolResult]],
    what: str,
) -> Sample:
    """The measured invocation, CPU counters read just around it.  A run in which not one
    request completed is logged with what the server's threads were doing halfway through
    it (and, for gRPC, how the server answers a new connection), then repeated after a
    pause, at most STALL_RETRIES times."""
    for attempt in range(STALL_RETRIES + 1):
        before = Window.now(server.pid)
        run = asyncio.ensure_future(invoke())
        await asyncio.sleep(duration / 2)
        state = process_state(server.pid)
        result = await run
        after = Window.now(server.pid)
        if result.completed or attempt == STALL_RETRIES:
            break
        probe = ""
        if what.startswith("h2load"):
            probe = "; " + await asyncio.to_thread(stall_probe, server.grpc_target)
        steal = (after.steal - before.steal) / max(result.seconds, 1e-9)
        _log(
            f"{what} on {server.name}: no request completed in {result.seconds:.2f}s (server CPU "
            f"{after.server - before.server:.2f}s, steal {steal:.0%}); server threads halfway: "
            f"{state}{probe}; again in {STALL_PAUSE:g}s"
        )
        await asyncio.sleep(STALL_PAUSE)
    return to_sample(
        concurrency,
        result.seconds,
        result.latencies,
        result.errors,
        result.describe_errors(),
        before,
        after,
        result.cpu,
    )


def wrk_load(server: ServerProcess, spec: HttpSource, *, metric: tuple[str, str] | None = None) -> Load:
    """wrk ``-t1 -c<concurrency>``: a warm-up invocation, then the measured one."""

    async def measured(concurrency: int, duration: float) -> Sample:
        request = await _http(spec)

        async def invoke() -> ToolResult:
            return await asyncio.to_thread(run_wrk, server.url(), request, concurrency, duration)

        return await _measured(server, concurrency, duration, invoke, f"wrk {request.paths[0]}")

    async def load(concurrency: int, duration: float, warmup: float) -> Sample:
        if warmup > 0:
            await asyncio.to_thread(run_wrk, server.url(), await _http(spec), concurrency, warmup)
        return await _counted(server, metric, lambda: measured(concurrency, duration))

    return load


def h2load_load(server: ServerProcess, spec: GrpcSource, *, metric: tuple[str, str] | None = None) -> Load:
    """h2load ``-c 1 -m <concurrency>``: a warm-up invocation, then the measured one."""

    async def measured(concurrency: int, duration: float) -> Sample:
        request = await _grpc(spec)

        async def invoke() -> ToolResult:
            return await asyncio.to_thread(run_h2load, server.grpc_target, request, concurrency, duration)

        return await _measured(server, concurrency, duration, invoke, f"h2load {request.path}")

    async def load(concurrency: int, duration: float, warmup: float) -> Sample:
        if warmup > 0:
            request = await _grpc(spec)
            await asyncio.to_thread(run_h2load, server.grpc_target, request, concurrency, warmup, log=False)
        return await _counted(server, metric, lambda: measured(concurrency, duration))

    return load


def http_client(server: ServerProcess, connections: int) -> httpx.AsyncClient:
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    return httpx.AsyncClient(
        base_url=server.url(), headers=server.headers(), limits=limits, timeout=REQUEST_TIMEOUT
    )


def open_http(server: ServerProcess, spec: HttpSource) -> Open:
    """httpx workers sending ``spec``, each on its own client and keep-alive connection, with
    requests built once; a response other than 200 fails.

    One client per worker avoids contention in a shared httpx connection pool, and a
    request built once avoids rebuilding its URL and headers each time: both keep the
    load generator's cost per request low, so more of the measured time is the server's."""

    async def open_(concurrency: int) -> tuple[list[Call], Close]:
        request = await _http(spec)
        clients = [http_client(server, 1) for _ in range(concurrency)]
        body = None if request.body is None else request.body.encode()

        def call_for(client: httpx.AsyncClient) -> Call:
            built = [
                client.build_request(request.method, path, headers=request.headers, content=body)
                for path in request.paths
            ]
            turns = itertools.cycle(built)

            async def call() -> None:
                req = random.choice(built) if request.random_path else next(turns)
                r = await client.send(req)
                if r.status_code != 200:
                    raise RuntimeError(f"{req.method} {req.url.path}: HTTP {r.status_code} {r.text[:200]}")

            return call

        async def close() -> None:
            for client in clients:
                await client.aclose()

        return [call_for(c) for c in clients], close

    return open_


def rest_load(
    server: ServerProcess, spec: HttpSource, tool: str, *, metric: tuple[str, str] | None = None
) -> Load:
    """``spec`` through wrk (``tool == "wrk"``) or through this process's httpx workers."""
    if tool == "wrk":
        return wrk_load(server, spec, metric=metric)
    inner = python_load(open_http(server, spec), server.pid)

    async def load(concurrency: int, duration: float, warmup: float) -> Sample:
        return await _counted(server, metric, lambda: inner(concurrency, duration, warmup))

    return load


async def discover(server: ServerProcess, call: Callable[[], Awaitable[None]]) -> tuple[str, str]:
    """The (protocol, method) labels under which threadgate counts what ``call`` sends: the
    one pair whose counter moves across the call (``/metrics`` scrapes count under their own)."""
    before = await scrape(server)
    await call()
    after = await scrape(server)
    moved = {m for m in changed_methods(before, after) if m[1] != "metrics"}
    if len(moved) != 1:
        raise RuntimeError(
            f"expected one method's request counter to move in threadgate's /metrics, saw {moved or 'none'}; "
            "without it gRPC errors cannot be counted"
        )
    return moved.pop()

"""Loads (``bench.stats.Load``) driven by wrk (REST) or h2load (gRPC), with the errors
threadgate itself counted.  A run is an unmeasured warm-up invocation of the tool, then a
measured one with the CPU counters read just around it (repeated, a few times, if no
request completed at all).  threadgate's ``threadgate_requests_total`` (``/metrics``),
by (protocol, method, outcome), scraped around one real call gives the labels the call is
counted under; scraped around a run, the errors the server saw (any outcome but gRPC OK
or REST 2xx): h2load cannot see gRPC status codes at all.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import attrs
import grpc
import httpx
from prometheus_client.parser import text_string_to_metric_families

from bench.cpus import Window
from bench.load_tools import GrpcSpec, HttpSpec, ToolResult, run_h2load, run_wrk
from bench.rounds import log
from bench.servers import answer
from bench.stats import Load, Sample
from testkit.server import Server

STALL_RETRIES = 3
Counts = dict[tuple[str, str, str], float]  # by (protocol, method, outcome)
Labels = tuple[str, str]  # (protocol, method)
T = TypeVar("T")
# what a tool sends: fixed, or made afresh for every invocation (e.g. in a new thread)
Source = HttpSpec | GrpcSpec | Callable[[], Awaitable[HttpSpec]] | Callable[[], Awaitable[GrpcSpec]]


def counter(exposition: str, name: str) -> Counts:
    """The samples of counter ``name`` in a Prometheus text exposition, by (protocol, method, outcome)."""
    out: Counts = {}
    for family in text_string_to_metric_families(exposition):
        for s in family.samples:
            if s.name == name:
                key = (s.labels.get("protocol", ""), s.labels.get("method", ""), s.labels.get("outcome", ""))
                out[key] = out.get(key, 0.0) + s.value
    return out


def outcomes(before: Counts, after: Counts, labels: Labels) -> dict[str, int]:
    """How many requests of one method ended in each outcome between two scrapes."""
    deltas = {k[2]: round(v - before.get(k, 0.0)) for k, v in after.items() if k[:2] == labels}
    return {outcome: n for outcome, n in deltas.items() if n}


def failures(labels: Labels, seen: dict[str, int]) -> dict[str, int]:
    """The outcomes that are errors: any gRPC status but OK, any REST status but 2xx."""
    ok = "OK" if labels[0] == "grpc" else "2"
    return {k: v for k, v in seen.items() if not k.startswith(ok)}


async def scrape(server: Server, name: str = "threadgate_requests_total") -> Counts:
    async with httpx.AsyncClient(timeout=10) as client:
        return counter((await client.get(server.origin + "/metrics")).raise_for_status().text, name)


async def labels_of(server: Server, call: Callable[[], Awaitable[T]]) -> tuple[Labels, T]:
    """The labels threadgate counts ``call`` under (the one method whose count moves, bar the
    scrapes' own), and what ``call`` returned."""
    before = await scrape(server)
    result = await call()
    after = await scrape(server)
    moved = {(k[0], k[1]) for k, v in after.items() if v != before.get(k, 0.0) and k[1] != "metrics"}
    if len(moved) != 1:
        raise RuntimeError(f"expected one method's count to move in /metrics, saw {moved or 'none'}")
    return moved.pop(), result


async def resolve(spec: Source) -> HttpSpec | GrpcSpec:
    return spec if isinstance(spec, HttpSpec | GrpcSpec) else await spec()


async def call_once(server: Server, request: HttpSpec | GrpcSpec) -> Any:
    """The request the tool will send, once, through httpx or a grpc.aio channel: the parsed
    JSON body (REST, which must answer 200), the reply's bytes, or a stream's."""
    if isinstance(request, HttpSpec):
        body = None if request.body is None else request.body.encode()
        async with httpx.AsyncClient(base_url=server.origin, timeout=10) as client:
            return answer(
                await client.request(request.method, request.paths[0], headers=request.headers, content=body)
            )
    metadata = tuple(request.metadata.items())
    async with grpc.aio.insecure_channel(server.grpc_target) as channel:
        if request.stream:
            stream: grpc.aio.UnaryStreamMultiCallable[bytes, bytes] = channel.unary_stream(request.path)
            return [item async for item in stream(request.body, metadata=metadata, timeout=10)]
        unary: grpc.aio.UnaryUnaryMultiCallable[bytes, bytes] = channel.unary_unary(request.path)
        return await unary(request.body, metadata=metadata, timeout=10)


async def invoke(server: Server, spec: Source, concurrency: int, seconds: float) -> ToolResult:
    """One run of wrk -t1 -c<concurrency> or h2load -c1 -m<concurrency>, whichever ``spec`` is for."""
    request = await resolve(spec)
    if isinstance(request, HttpSpec):
        return await asyncio.to_thread(run_wrk, server.origin, request, concurrency, seconds)
    return await asyncio.to_thread(run_h2load, server.grpc_target, request, concurrency, seconds)


async def measured(server: Server, spec: Source, concurrency: int, duration: float) -> Sample:
    for attempt in range(STALL_RETRIES + 1):
        before = Window.now(server.pid)
        result = await invoke(server, spec, concurrency, duration)
        after = Window.now(server.pid)
        if result.completed or attempt == STALL_RETRIES:
            break
        log(f"{server.name}: no request completed in {result.seconds:.2f}s; again in 1s")
        await asyncio.sleep(1.0)
    # the load generator's CPU: the tool's, and this process's (idle but for starting the tool)
    run = Sample(concurrency, result.seconds, result.latencies, result.errors, result.error_text)
    return before.sample(after, run, result.cpu)


async def counted(server: Server, labels: Labels, run: Awaitable[Sample]) -> Sample:
    """``run``, with the errors the server counted under ``labels`` meanwhile."""
    before = await scrape(server)
    sample = await run
    seen = outcomes(before, await scrape(server), labels)
    n_failed = sum((failed := failures(labels, seen)).values())
    if n_failed > sample.errors or sum(seen.values()) - n_failed < len(sample.latencies):
        log(f"{labels}: the server counted {seen}; the tool {len(sample.latencies)} OK, {sample.errors} not")
    if n_failed <= sample.errors:
        return sample
    detail = ", ".join(f"{n} x {outcome}" for outcome, n in sorted(failed.items()))
    first = f"server metrics: {detail}" + (f"; {sample.first_error}" if sample.first_error else "")
    return attrs.evolve(sample, errors=n_failed, first_error=first)


def tool_load(server: Server, spec: Source, labels: Labels | None = None) -> Load:
    """``spec`` sent by wrk (an HttpSpec) or h2load (a GrpcSpec): a warm-up run, then the measured one."""

    async def load(concurrency: int, duration: float, warmup: float) -> Sample:
        if warmup > 0:
            await invoke(server, spec, concurrency, warmup)
        run = measured(server, spec, concurrency, duration)
        return await (run if labels is None else counted(server, labels, run))

    return load

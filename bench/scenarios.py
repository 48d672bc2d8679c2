"""What the benchmark measures.  Each scenario returns rows for the report.

``list-scaling`` (the first measurement): the REST list page
(``GET /v1/threads/{id}/messages?limit=20``) on a thread of 1,000 messages and on
one of 100,000, first page and a page from the middle (``after=<middle id>``),
newest first and oldest first, next to the no-op floors of both protocol stacks.
REST load comes from wrk (``--rest-tool wrk``, the default, as in ``ops``) and the gRPC
floor's from h2load; ``--rest-tool httpx`` measures both from this process, through httpx
and a grpc.aio channel, as the first measurement did.

A target's load is a :data:`bench.load.Load`: this process as the load generator
(:func:`bench.load.python_load`) or an external tool (``bench/loads.py``).
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import attrs
import grpc
import httpx
from attrs import field, frozen

from bench import floors
from bench.fill import Fill, create_thread, fill_api, fill_sqlite
from bench.load import Call, Close, Load, Open, Quiet, Sample, Stats, percentile, python_load, summarize
from bench.loads import h2load_load, http_client, rest_load
from bench.servers import Placement, ServerProcess, running, start_floor, start_threadgate
from bench.tools import GrpcSpec, HttpSpec

REQUEST_TIMEOUT = 10.0
FILL_CONCURRENCY = 32
# an API fill estimated to take longer than this is done straight in SQLite
API_FILL_BUDGET = 180.0
PAGE_LIMIT = 20
REST_FLOOR = "REST floor (no-op route)"
GRPC_FLOOR = "gRPC floor (no-op unary)"


@frozen
class Options:
    concurrency: tuple[int, ...]
    duration: float  # seconds measured per run
    warmup: float  # seconds of unmeasured load before each run
    rounds: int  # every operation runs once per round; rounds interleave operations
    sizes: tuple[int, ...]
    fill: str  # "auto", "api" or "sqlite"
    quick: bool
    # seconds the whole run may spend waiting for, or repeating runs disturbed by, other processes
    quiet_budget: float
    attempts: int  # runs at most per measurement when other processes disturb them
    rest_tool: str = "wrk"  # REST load generator: "wrk" or "httpx" (this process)
    backend: str = "sqlite"  # ops: "sqlite" or "postgresql"


@frozen
class Context:
    placement: Placement
    options: Options
    quiet: Quiet


@frozen
class Row:
    operation: str
    protocol: str
    stats: Stats
    floor: str | None
    # this operation's throughput over the floor's at the same concurrency
    throughput_vs_floor: float | None
    # server CPU per request over the floor's: independent of the load generator's speed
    cpu_per_request_vs_floor: float | None
    # runs made, counting the ones repeated because other processes disturbed them
    attempts: int = 1
    # medians over rounds of the per-round throughput and of the per-round ratio to the
    # floor's throughput in the same round (None with one round)
    rps_median: float | None = None
    throughput_vs_floor_median: float | None = None


@frozen
class Outcome:
    rows: list[Row]
    notes: dict[str, Any] = field(factory=dict)


@frozen
class Target:
    """One operation to measure, on one server."""

    name: str
    protocol: str
    server: ServerProcess
    load: Load  # one measured run at a concurrency
    floor: str | None  # the target whose numbers this one's are divided by


_STARTED = time.monotonic()


def log(text: str) -> None:
    print(f"[bench {time.monotonic() - _STARTED:5.1f}s] {text}", flush=True)


def open_grpc_noop(server: ServerProcess) -> Open:
    """Workers that share one channel (one HTTP/2 connection), as gRPC clients usually do."""

    async def open_(concurrency: int) -> tuple[list[Call], Close]:
        channel = grpc.aio.insecure_channel(server.grpc_target)
        # no serializers: bytes go out and come back as they are
        method: grpc.aio.UnaryUnaryMultiCallable[bytes, bytes] = channel.unary_unary(floors.GRPC_METHOD)

        async def call() -> None:
            await method(b"", timeout=REQUEST_TIMEOUT)

        async def close() -> None:
            await channel.close()

        await channel.channel_ready()
        return [call] * concurrency, close

    return open_


async def run_once(ctx: Context, target: Target, concurrency: int) -> tuple[Sample, int]:
    """One run, repeated (within the quiet budget) while other processes disturb it."""
    options, quiet = ctx.options, ctx.quiet
    best: Sample | None = None
    attempt = 0
    while True:
        attempt += 1
        await quiet.wait()
        sample = await target.load(concurrency, options.duration, options.warmup)
        if best is None or sample.other_cpu < best.other_cpu:
            best = sample
        if not quiet.noisy(sample) or attempt >= options.attempts:
            return best, attempt
        if not quiet.retry(options.warmup + options.duration):
            return best, attempt
        log(f"{target.name} c={concurrency}: other processes used {sample.other_cpu:.0%} of a core; again")


async def measure(ctx: Context, targets: list[Target]) -> list[Row]:
    """Every target at every concurrency, once per round, interleaved, so slow drifts in the
    machine's speed fall on every operation alike rather than on whichever ran last."""
    samples: dict[tuple[str, int], list[Sample]] = {}
    attempts: dict[tuple[str, int], int] = {}
    rounds = ctx.options.rounds
    for round_ in range(1, rounds + 1):
        for target in targets:
            for concurrency in ctx.options.concurrency:
                sample, tries = await run_once(ctx, target, concurrency)
                key = (target.name, concurrency)
                samples.setdefault(key, []).append(sample)
                attempts[key] = attempts.get(key, 0) + tries
                p50 = percentile(sorted(sample.latencies), 50) * 1000
                server_share, client_share = (
                    sample.server_cpu / sample.seconds,
                    sample.client_cpu / sample.seconds,
                )
                log(
                    f"[{round_}/{rounds}] {target.name:<28} c={concurrency:<3} {sample.rps:7.0f} req/s  "
                    f"p50 {p50:6.2f} ms  CPU: server {server_share:4.0%} client {client_share:4.0%} "
                    f"others {sample.other_cpu:4.0%}  errors {sample.errors}"
                )
                if not sample.latencies:
                    raise RuntimeError(
                        f"{target.name}: no request succeeded; first error: {sample.first_error}"
                    )
    stats = {key: summarize(value) for key, value in samples.items()}
    rows = []
    for target in targets:
        for concurrency in ctx.options.concurrency:
            key = (target.name, concurrency)
            base = stats.get((target.floor, concurrency)) if target.floor else None
            s = stats[key]
            mine = samples[key]
            floor_runs = samples.get((target.floor, concurrency), []) if target.floor else []
            ratios = [a.rps / b.rps for a, b in zip(mine, floor_runs, strict=False) if b.rps]
            rows.append(
                Row(
                    target.name,
                    target.protocol,
                    s,
                    target.floor,
                    s.rps / base.rps if base else None,
                    s.server_cpu_us_per_request / base.server_cpu_us_per_request if base else None,
                    attempts[key],
                    statistics.median(x.rps for x in mine) if rounds > 1 else None,
                    statistics.median(ratios) if rounds > 1 and ratios else None,
                )
            )
    return rows


def size_label(size: int) -> str:
    return f"{size // 1000}k" if size % 1000 == 0 else str(size)


async def fill_threads(
    server: ServerProcess, data_dir: Path, options: Options
) -> tuple[ServerProcess, list[Fill]]:
    """Create one thread per size and fill it, smallest first, through the API when that is
    quick enough; larger ones go straight into SQLite, which restarts the server."""
    fills: list[Fill] = []
    direct: list[tuple[str, int]] = []
    async with http_client(server, FILL_CONCURRENCY) as client:
        thread_ids = [await create_thread(client) for _ in options.sizes]
        rate: float | None = None
        for thread_id, size in sorted(zip(thread_ids, options.sizes, strict=True), key=lambda p: p[1]):
            if options.fill == "sqlite":
                use_api = False
            elif options.fill == "api":
                use_api = True
            elif rate is None:
                use_api = size <= 10_000  # no rate measured yet: do not gamble minutes on it
            else:
                use_api = size / rate <= API_FILL_BUDGET
            if not use_api:
                direct.append((thread_id, size))
                continue
            cpu0 = server.cpu_seconds()
            fill = await fill_api(
                client, thread_id, size, concurrency=FILL_CONCURRENCY, time_limit=2 * API_FILL_BUDGET
            )
            fill = attrs.evolve(fill, server_cpu=(server.cpu_seconds() - cpu0) / fill.seconds)
            rate = fill.per_second
            log(
                f"filled {size:,} messages through the API in {fill.seconds:.1f}s: {rate:.0f} messages/s "
                f"at concurrency {FILL_CONCURRENCY}, server CPU {fill.server_cpu:.0%} "
                f"(100,000 would take {100_000 / rate:.0f}s)"
            )
            fills.append(fill)
    if direct:
        # the direct fill needs the file to itself: stop, write, start again
        cpu, api_key = server.cpu, server.api_key
        server.stop()
        for thread_id, size in direct:
            fill = fill_sqlite(data_dir / "threadgate.db", thread_id, size)
            log(f"filled {size:,} messages straight into SQLite in {fill.seconds:.1f}s (server stopped)")
            fills.append(fill)
        server = start_threadgate(data_dir, cpu, api_key)
    return server, sorted(fills, key=lambda f: f.messages)


def page_params(fill: Fill) -> dict[str, dict[str, str]]:
    limit = str(PAGE_LIMIT)
    middle = fill.middle_id()
    return {
        "first page desc": {"limit": limit, "order": "desc"},
        "first page asc": {"limit": limit, "order": "asc"},
        "middle page desc": {"limit": limit, "order": "desc", "after": middle},
        "middle page asc": {"limit": limit, "order": "asc", "after": middle},
    }


async def check_pages(server: ServerProcess, fills: list[Fill]) -> None:
    """Every measured request must return a full page; check once before timing anything."""
    async with http_client(server, 1) as client:
        for fill in fills:
            path = f"/v1/threads/{fill.thread_id}/messages"
            for params in page_params(fill).values():
                r = await client.get(path, params=params)
                r.raise_for_status()
                body = r.json()
                if len(body["data"]) != PAGE_LIMIT or not body["has_more"]:
                    raise RuntimeError(f"{path} {params}: expected a full page with more after it")


def fill_note(fill: Fill) -> dict[str, Any]:
    return {
        "thread_id": fill.thread_id,
        "messages": fill.messages,
        "method": fill.method,
        "seconds": round(fill.seconds, 3),
        "messages_per_second": round(fill.per_second, 1),
        "concurrency": FILL_CONCURRENCY if fill.method == "api" else None,
        "server_cpu": None if fill.server_cpu is None else round(fill.server_cpu, 3),
        "middle_id": fill.middle_id(),
    }


def get_load(server: ServerProcess, path: str, params: dict[str, str] | None, tool: str) -> Load:
    """A GET repeated on one path, by ``tool`` (wrk or httpx)."""
    query = "" if not params else "?" + str(httpx.QueryParams(params))
    return rest_load(server, HttpSpec("GET", (path + query,), server.headers()), tool)


def grpc_floor_load(server: ServerProcess, tool: str) -> Load:
    """The gRPC floor's no-op: h2load, or a grpc.aio channel in this process (``httpx``: the
    all-Python measurement)."""
    if tool == "httpx":
        return python_load(open_grpc_noop(server), server.pid)
    return h2load_load(server, GrpcSpec(floors.GRPC_METHOD, b"", {}))


async def list_scaling(ctx: Context) -> Outcome:
    cpu = ctx.placement.server_cpu
    notes: dict[str, Any] = {}
    # all three servers stay up, idle but for the one being measured, so rounds can interleave
    with (
        tempfile.TemporaryDirectory(prefix="threadgate-bench-") as tmp,
        running(start_floor("rest", cpu)) as rest_floor,
        running(start_floor("grpc", cpu)) as grpc_floor,
    ):
        data_dir = Path(tmp)
        began = time.perf_counter()
        server = start_threadgate(data_dir, cpu)
        notes["api_key"] = "used" if server.api_key else "none (anonymous REST)"
        try:
            server, fills = await fill_threads(server, data_dir, ctx.options)
            notes["fills"] = [fill_note(f) for f in fills]
            notes["fill_seconds_total"] = round(time.perf_counter() - began, 1)
            await check_pages(server, fills)
            tool = ctx.options.rest_tool
            notes["load_generator"] = (
                "wrk (REST), h2load (gRPC)"
                if tool == "wrk"
                else "this process: httpx (REST), grpc.aio (gRPC)"
            )
            targets = [
                Target(
                    REST_FLOOR,
                    "rest",
                    rest_floor,
                    get_load(rest_floor, floors.REST_PATH, None, tool),
                    REST_FLOOR,
                ),
                Target(GRPC_FLOOR, "grpc", grpc_floor, grpc_floor_load(grpc_floor, tool), GRPC_FLOOR),
            ]
            for fill in fills:
                path = f"/v1/threads/{fill.thread_id}/messages"
                for page, params in page_params(fill).items():
                    name = f"list {size_label(fill.messages)} {page}"
                    load = get_load(server, path, params, tool)
                    targets.append(Target(name, "rest", server, load, REST_FLOOR))
            rows = await measure(ctx, targets)
            notes["db_bytes"] = sum(p.stat().st_size for p in data_dir.glob("threadgate.db*"))
        finally:
            server.stop()
    notes["largest_vs_smallest"] = size_ratios(rows, ctx.options.sizes)
    notes["quiet_seconds_spent"] = round(ctx.quiet.spent, 1)
    return Outcome(rows, notes)


def size_ratios(rows: list[Row], sizes: tuple[int, ...]) -> list[dict[str, Any]]:
    """List-page p50, p99 and throughput on the largest thread over the smallest, per page kind."""
    small, large = size_label(min(sizes)), size_label(max(sizes))
    if small == large:
        return []
    by_key = {(r.operation, r.stats.concurrency): r.stats for r in rows}
    out = []
    for (operation, concurrency), stats in by_key.items():
        if not operation.startswith(f"list {large} "):
            continue
        page = operation.removeprefix(f"list {large} ")
        base = by_key.get((f"list {small} {page}", concurrency))
        if base is None:
            continue
        out.append(
            {
                "page": page,
                "concurrency": concurrency,
                "small": small,
                "large": large,
                "p50_ratio": stats.p50_ms / base.p50_ms,
                "p99_ratio": stats.p99_ms / base.p99_ms,
                "rps_ratio": stats.rps / base.rps,
                "cpu_per_request_ratio": stats.server_cpu_us_per_request / base.server_cpu_us_per_request,
            }
        )
    return out


Scenario = Callable[[Context], Coroutine[Any, Any, Outcome]]
# keep the names in step with bench/__main__.py's SCENARIO_NAMES
SCENARIOS: dict[str, Scenario] = {"list-scaling": list_scaling}

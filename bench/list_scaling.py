"""``list-scaling``: the REST list page (``GET /v1/threads/{id}/messages?limit=20``) on a
thread of 1,000 messages and on one of 100,000 (``--sizes``), first page and a page from
the middle (``after=<middle id>``), newest and oldest first, next to the REST floor.

Threads are filled through the API when that is quick enough (``--fill auto``), else
straight into SQLite with the server stopped (``bench.fill``); every page is checked to
be full, with more after it, before any timing.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import attrs
import httpx

from bench import floors
from bench.cpus import tree_cpu_seconds
from bench.fill import Fill, create_thread, fill_api, fill_sqlite
from bench.load_tools import HttpSpec
from bench.report import Outcome, ratio_table, ratios, stats_table
from bench.rounds import Context, Options, Target, log, measure, runs_line
from bench.servers import start_floor, start_threadgate
from bench.tool_runs import wrk_load
from testkit.server import Server, serving

FILL_CONCURRENCY = 32
API_FILL_BUDGET = 180.0  # seconds: an API fill estimated to take longer goes straight into SQLite
PAGE = 20
REST_FLOOR = "REST floor (no-op route)"


def size_label(size: int) -> str:
    return f"{size // 1000}k" if size % 1000 == 0 else str(size)


async def fill_threads(
    server: Server, data_dir: Path, cpu: int | None, options: Options
) -> tuple[Server, list[Fill]]:
    """One thread per size, filled smallest first: through the API while its measured rate
    allows, else straight into SQLite, which restarts the server (the one returned)."""
    fills, direct = [], []
    rate: float | None = None
    async with httpx.AsyncClient(base_url=server.origin, headers=server.auth_headers, timeout=10) as client:
        for size in sorted(options.sizes):
            thread_id = await create_thread(client)
            by_api = {"api": True, "sqlite": False}.get(options.fill)
            if by_api is None:  # auto; with no rate measured yet, do not gamble minutes on one
                by_api = size <= 10_000 if rate is None else size / rate <= API_FILL_BUDGET
            if not by_api:
                direct.append((thread_id, size))
                continue
            cpu0 = tree_cpu_seconds(server.pid)
            fill = await fill_api(client, thread_id, size, FILL_CONCURRENCY, limit=2 * API_FILL_BUDGET)
            fill = attrs.evolve(fill, server_cpu=(tree_cpu_seconds(server.pid) - cpu0) / fill.seconds)
            rate = fill.per_second
            log(f"filled {size:,} messages through the API in {fill.seconds:.1f}s: {rate:.0f}/s at c=32")
            fills.append(fill)
    if direct:
        api_key = server.api_key
        server.stop()
        for thread_id, size in direct:
            fills.append(fill_sqlite(data_dir / "threadgate.db", thread_id, size))
            log(f"filled {size:,} messages straight into SQLite in {fills[-1].seconds:.1f}s (server stopped)")
        server = start_threadgate(data_dir, cpu, api_key=api_key)
    return server, sorted(fills, key=lambda f: f.messages)


def pages(fill: Fill) -> dict[str, str]:
    middle = fill.middle_id()
    return {
        "first page desc": f"?limit={PAGE}&order=desc",
        "first page asc": f"?limit={PAGE}&order=asc",
        "middle page desc": f"?limit={PAGE}&order=desc&after={middle}",
        "middle page asc": f"?limit={PAGE}&order=asc&after={middle}",
    }


async def check_pages(server: Server, fills: list[Fill]) -> None:
    async with httpx.AsyncClient(base_url=server.origin, headers=server.auth_headers, timeout=10) as client:
        for fill in fills:
            for query in pages(fill).values():
                path = f"/v1/threads/{fill.thread_id}/messages{query}"
                body = (await client.get(path)).raise_for_status().json()
                if len(body["data"]) != PAGE or not body["has_more"]:
                    raise RuntimeError(f"{path}: expected a full page with more after it")


def fill_note(fill: Fill) -> dict[str, Any]:
    keys = ("thread_id", "messages", "method", "seconds", "per_second", "server_cpu")
    return {**{k: getattr(fill, k) for k in keys}, "middle_id": fill.middle_id()}


async def run(ctx: Context) -> Outcome:
    cpu, options = ctx.placement.server_cpu, ctx.options
    notes: dict[str, Any] = {}
    with (
        tempfile.TemporaryDirectory(prefix="threadgate-bench-") as tmp,
        serving(start_floor("rest", cpu)) as floor,
    ):
        data_dir = Path(tmp)
        began = time.perf_counter()
        server = start_threadgate(data_dir, cpu)
        try:
            server, fills = await fill_threads(server, data_dir, cpu, options)
            notes["fills"] = [fill_note(f) for f in fills]
            notes["fill_seconds_total"] = round(time.perf_counter() - began, 1)
            await check_pages(server, fills)
            floor_load = wrk_load(floor, HttpSpec("GET", (floors.REST_PATH,), {}))
            targets = [Target(REST_FLOOR, "rest", floor, floor_load, REST_FLOOR)]
            for fill in fills:
                for page, query in pages(fill).items():
                    spec = HttpSpec(
                        "GET", (f"/v1/threads/{fill.thread_id}/messages{query}",), server.auth_headers
                    )
                    name = f"list {size_label(fill.messages)} {page}"
                    targets.append(Target(name, "rest", server, wrk_load(server, spec), REST_FLOOR))
            rows = await measure(ctx, targets)
            notes["db_bytes"] = sum(p.stat().st_size for p in data_dir.glob("threadgate.db*"))
        finally:
            server.stop()
    small, large = size_label(min(options.sizes)), size_label(max(options.sizes))
    page_names = pages(fills[0]).keys()
    pairs = (
        [(page, f"list {large} {page}", f"list {small} {page}") for page in page_names]
        if small != large
        else []
    )
    notes["ratios"] = ratios(rows, pairs)
    notes["quiet_seconds_spent"] = round(ctx.quiet.spent, 1)
    lines = [runs_line(options), "load: wrk -t1 -c<conc>; vs floor: over the REST floor"]
    lines += [
        f"fill: {f.messages:,} messages via {f.method} in {f.seconds:.1f}s ({f.per_second:,.0f}/s)"
        for f in fills
    ]
    tables = [stats_table(rows), ratio_table(notes["ratios"], f"list page, {large} messages over {small}:")]
    return Outcome(rows, notes, lines, tables)

"""``list-scaling``: the REST list page (``GET /v1/threads/{id}/messages?limit=20``) on a
thread of 1,000 messages and on one of 100,000 (``--sizes``), first page and a page from
the middle (``after=<middle id>``), newest and oldest first, next to the REST floor.

Threads of up to 10,000 messages are filled through the API, larger ones straight into
SQLite with the server stopped (``bench.fill``); every page is checked to be full, with
more after it, before any timing.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import attrs

from bench import floors
from bench.cpus import tree_cpu_seconds
from bench.fill import Fill, create_thread, fill_api, fill_sqlite, store_bytes
from bench.load_tools import HttpSpec
from bench.report import Outcome, count_label, ratio_table, ratios, stats_table
from bench.rounds import Context, Target, log, measure, runs_line
from bench.servers import client, start_floor, start_threadgate
from bench.tool_runs import tool_load
from testkit.server import Server, serving

FILL_CONCURRENCY = 32
API_FILL_LIMIT = 10_000  # messages: larger threads are filled straight into SQLite
PAGE = 20
REST_FLOOR = "REST floor (no-op route)"


async def fill_threads(
    server: Server, data_dir: Path, cpu: int | None, sizes: tuple[int, ...]
) -> tuple[Server, list[Fill]]:
    """One thread per size, filled through the API up to API_FILL_LIMIT messages, beyond that
    straight into SQLite, which restarts the server (the one returned)."""
    fills, direct = [], []
    async with client(server) as c:
        for size in sorted(sizes):
            thread_id = await create_thread(c)
            if size > API_FILL_LIMIT:
                direct.append((thread_id, size))
                continue
            cpu0 = tree_cpu_seconds(server.pid)
            fill = await fill_api(c, thread_id, size, FILL_CONCURRENCY, limit=300)
            fills.append(attrs.evolve(fill, server_cpu=(tree_cpu_seconds(server.pid) - cpu0) / fill.seconds))
    if direct:  # the server is stopped while they are written
        server.stop()
        fills += [fill_sqlite(data_dir / "threadgate.db", thread_id, size) for thread_id, size in direct]
        server = start_threadgate(data_dir, cpu, api_key=server.api_key)
    for fill in fills:
        log(f"filled {described(fill)}")
    return server, sorted(fills, key=lambda f: f.messages)


def described(f: Fill) -> str:
    return f"{f.messages:,} messages via {f.method} in {f.seconds:.1f}s ({f.per_second:,.0f}/s)"


def pages(fill: Fill) -> dict[str, str]:
    middle = fill.middle_id()
    return {
        "first page desc": f"?limit={PAGE}&order=desc",
        "first page asc": f"?limit={PAGE}&order=asc",
        "middle page desc": f"?limit={PAGE}&order=desc&after={middle}",
        "middle page asc": f"?limit={PAGE}&order=asc&after={middle}",
    }


async def check_pages(server: Server, fills: list[Fill]) -> None:
    async with client(server) as c:
        for fill in fills:
            for query in pages(fill).values():
                path = f"/v1/threads/{fill.thread_id}/messages{query}"
                body = (await c.get(path)).raise_for_status().json()
                if len(body["data"]) != PAGE or not body["has_more"]:
                    raise RuntimeError(f"{path}: expected a full page with more after it")


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
            server, fills = await fill_threads(server, data_dir, cpu, options.sizes)
            no_ids = attrs.filters.exclude(attrs.fields(Fill).ids)
            notes["fills"] = [attrs.asdict(f, filter=no_ids) | {"middle_id": f.middle_id()} for f in fills]
            notes["fill_seconds_total"] = round(time.perf_counter() - began, 1)
            await check_pages(server, fills)
            floor_load = tool_load(floor, HttpSpec("GET", (floors.REST_PATH,), {}))
            targets = [Target(REST_FLOOR, floor, floor_load, REST_FLOOR)]
            for fill in fills:
                for page, query in pages(fill).items():
                    path = f"/v1/threads/{fill.thread_id}/messages{query}"
                    load = tool_load(server, HttpSpec("GET", (path,), server.auth_headers))
                    targets.append(
                        Target(f"list {count_label(fill.messages)} {page}", server, load, REST_FLOOR)
                    )
            rows = await measure(ctx, targets)
            notes["db_bytes"] = store_bytes(data_dir)
        finally:
            server.stop()
    small, large = count_label(min(options.sizes)), count_label(max(options.sizes))
    pairs = [(page, f"list {large} {page}", f"list {small} {page}") for page in pages(fills[0])]
    notes["ratios"] = ratios(rows, pairs)
    lines = [runs_line(options), "load: wrk -t1 -c<conc>; vs floor: over the REST floor"]
    lines += [f"fill: {described(f)}" for f in fills]
    tables = [stats_table(rows), ratio_table(notes["ratios"], f"list page, {large} messages over {small}:")]
    return Outcome(rows, notes, lines, tables)

"""``sweep-under-load``: 100,000 expired threads are swept while 16 httpx clients (half
``GET /v1/threads/{live id}``, half ``POST /v1/threads``) load the server; latency during
the sweep is compared with the same server's before it and with a sweeper-off baseline.
The threads (expiring 20 s after being written, and 1,000 live ones) go straight into
SQLite (``bench.fill.write_threads``); the sweep runs from the last poll of
``threadgate_sweeper_threads_deleted_total`` (every 50 ms) that read 0 to the first that
read 100,000.  The baseline serves a copy with ``--sweep-interval 0``, for as long.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import sqlite3
import tempfile
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from attrs import frozen

from bench.cpus import Window
from bench.fill import new_thread, write_threads
from bench.report import Outcome, Row, stats_table
from bench.rounds import Context, log, versus
from bench.servers import client, start_threadgate
from bench.stats import Sample, summarize
from bench.tool_runs import scrape
from core.model import ExpirationConfig, ExpirationPolicy
from testkit.server import Server, serving

STATIC = ExpirationPolicy.STATIC
EXPIRED, LIVE = 100_000, 1_000
EXPIRY_DELAY = 20.0  # seconds: the server is up and under load before the rows expire
CONCURRENCY = 16
TIME_LIMIT = 150.0
DELETED = "threadgate_sweeper_threads_deleted_total"
GET, POST = "GET /v1/threads/{id}", "POST /v1/threads"


@frozen
class Request:
    op: str
    t0: float
    t1: float
    error: str | None


@frozen
class Tick:
    """One poll of the server's sweep counter, with the CPU counters at that moment."""

    at: float
    deleted: int
    cpu: Window


async def mixed_load(
    server: Server, live: list[str], until: Callable[[list[Tick]], bool]
) -> tuple[list[Request], list[Tick]]:
    """GET live threads and POST new ones until ``until(ticks)`` (or TIME_LIMIT)."""
    requests: list[Request] = []
    ticks: list[Tick] = []
    began = time.perf_counter()
    done = asyncio.Event()

    async def worker(index: int) -> None:
        op = GET if index % 2 == 0 else POST
        async with client(server) as c:
            get = c.build_request("GET", f"/v1/threads/{live[index % len(live)]}")
            while not done.is_set():
                t0 = time.perf_counter()
                try:
                    r = await (c.send(get) if op == GET else c.post("/v1/threads", json={}))
                    error = None if r.is_success else f"HTTP {r.status_code} {r.text[:200]}"
                except httpx.HTTPError as exc:
                    error = f"{type(exc).__name__}: {exc}"
                requests.append(Request(op, t0, time.perf_counter(), error))

    async def poll() -> None:
        while not done.is_set():
            deleted = int(sum((await scrape(server, DELETED)).values()))
            ticks.append(Tick(time.perf_counter(), deleted, Window.now(server.pid)))
            if until(ticks) or time.perf_counter() - began > TIME_LIMIT:
                done.set()
            await asyncio.sleep(0.05)

    await asyncio.gather(poll(), *(worker(i) for i in range(CONCURRENCY)))
    return requests, ticks


def window(requests: list[Request], a: Tick, b: Tick) -> dict[str, Sample]:
    """Per operation, the requests that started and ended between two ticks."""
    out = {}
    for op in (GET, POST):
        inside = [r for r in requests if r.op == op and a.at <= r.t0 and r.t1 <= b.at]
        failed = [r.error for r in inside if r.error]
        latencies = [r.t1 - r.t0 for r in inside if not r.error]
        run = Sample(CONCURRENCY // 2, b.at - a.at, latencies, len(failed), failed[0] if failed else None)
        out[op] = a.cpu.sample(b.cpu, run)
    return out


async def run(ctx: Context) -> Outcome:
    cpu, warmup = ctx.placement.server_cpu, ctx.options.warmup
    with tempfile.TemporaryDirectory(prefix="threadgate-bench-sweep-") as tmp:
        data_dir, base_dir = Path(tmp) / "sweep", Path(tmp) / "baseline"
        data_dir.mkdir()
        with serving(start_threadgate(data_dir, cpu, "--sweep-interval", "0")) as first:
            template = await new_thread(first)

        def serve(data: Path, interval: str) -> AbstractContextManager[Server]:
            return serving(start_threadgate(data, cpu, "--sweep-interval", interval, api_key=first.api_key))

        began, db = time.perf_counter(), data_dir / "threadgate.db"
        expire_at = datetime.now(UTC) + timedelta(seconds=EXPIRY_DELAY)
        write_threads(db, template, EXPIRED, expire_at - timedelta(days=1), ExpirationConfig(STATIC, 1))
        live = write_threads(db, template, LIVE, datetime.now(UTC), ExpirationConfig(STATIC, 7))
        log(f"wrote {EXPIRED:,} expiring + {LIVE:,} live threads in {time.perf_counter() - began:.1f}s")
        shutil.copytree(data_dir, base_dir)  # expired rows stay there, hidden: its sweeper is off

        # 1. sweeper on: load from start-up until the counter reaches EXPIRED, plus 1 s
        def swept(ticks: list[Tick]) -> bool:
            done = [t.at for t in ticks if t.deleted >= EXPIRED]
            return bool(done) and ticks[-1].at - done[0] >= 1.0

        with serve(data_dir, "0.5") as server:
            requests, ticks = await mixed_load(server, live, swept)
        if not swept(ticks):
            raise RuntimeError(f"the sweep did not finish within {TIME_LIMIT}s: {ticks[-1].deleted} deleted")
        with contextlib.closing(sqlite3.connect(db)) as conn:
            query = "SELECT count(*) FROM threads WHERE expires_us <= ?"
            left = conn.execute(query, (int(expire_at.timestamp() * 1e6),)).fetchone()[0]
        start = max(i for i, t in enumerate(ticks) if t.deleted == 0)  # the last poll before it began
        end = min(i for i, t in enumerate(ticks) if t.deleted >= EXPIRED)
        load_start = min(r.t0 for r in requests)
        warm = min(i for i, t in enumerate(ticks) if t.at >= load_start + warmup)
        during = window(requests, ticks[start], ticks[end])
        before = window(requests, ticks[warm], ticks[start]) if warm < start else {}
        sweep_seconds = round(ticks[end].at - ticks[start].at, 3)
        log(f"sweep of {EXPIRED:,} took {sweep_seconds}s")

        # 2. sweeper off, same data, same load, for as long as the sweep took (at least 3 s)
        span = max(3.0, sweep_seconds) + warmup
        with serve(base_dir, "0") as server:
            base_requests, base_ticks = await mixed_load(server, live, lambda t: t[-1].at - t[0].at >= span)
        warm = min(i for i, t in enumerate(base_ticks) if t.at >= base_ticks[0].at + warmup)
        baseline = window(base_requests, base_ticks[warm], base_ticks[-1])

    rows: list[Row] = []
    for op in (GET, POST):
        base = summarize([baseline[op]])
        rows.append(versus(f"{op}, sweeper off (baseline)", base, None))
        if op in before:
            rows.append(versus(f"{op}, sweeper on, before the sweep", summarize([before[op]]), base))
        rows.append(versus(f"{op}, during the sweep", summarize([during[op]]), base))
    runs = {"sweep_run": requests, "baseline": base_requests}
    failed = {n: sum(1 for r in rs if r.error) for n, rs in runs.items()}
    made = {n: len(rs) for n, rs in runs.items()}
    began_after = round(ticks[start].at - load_start, 3)
    notes: dict[str, Any] = {"expired_threads": EXPIRED, "live_threads": LIVE, "concurrency": CONCURRENCY}
    notes |= {"sweep_seconds": sweep_seconds, "sweep_began_after_load_start_s": began_after}
    notes |= {"expired_rows_left": left, "failed_requests": failed, "requests": made}
    lines = [
        f"load: {CONCURRENCY} httpx clients in this process, half {GET}, half {POST}; one run each",
        "vs floor: over the sweeper-off baseline; CPU is the server's for both operations together",
        f"sweep of {EXPIRED:,} expired threads: {sweep_seconds}s (±0.05 s per end: the counter is polled "
        f"every 50 ms); began {began_after}s after the load started; expired rows left: {left}",
        f"failed or non-2xx requests: {failed} of {made}",
    ]
    return Outcome(rows, notes, lines, [stats_table(rows)])
